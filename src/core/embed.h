/* Files compiled into the binary by tools/embed.c: a table ending with a NULL name. */
#ifndef KHO_EMBED_H
#define KHO_EMBED_H
#include <stddef.h>

struct embedded_file {
    const char *name;
    const unsigned char *data; /* NUL-terminated */
    size_t len;
};

#endif
