/* UTF-8 validation for text that clients send (titles, tags). */
#ifndef KHO_UTF8_H
#define KHO_UTF8_H
#include <stdbool.h>
#include <stddef.h>

/* True when s[0..n) is well-formed UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF) and has no control characters (C0, DEL, C1). */
bool utf8_valid_text(const char *s, size_t n);

#endif
