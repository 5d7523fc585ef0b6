/* One JSON line per request (the access log), to stderr, a file, or nowhere. */
#ifndef KHO_ACCESSLOG_H
#define KHO_ACCESSLOG_H
#include <stdint.h>
#include "core/err.h"
#include "http/request.h"

/* "-" for stderr, "off", or a path opened for appending. */
enum kho_err accesslog_open(const char *where);
void accesslog_write(struct req *r, uint64_t bytes_in, uint64_t bytes_out, uint64_t dur_ns);
void accesslog_close(void);

#endif
