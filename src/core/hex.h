/* Hex digits, read the one way the parsers, caches and the S3 client share: either case
 * (a caller that wants one canonical spelling checks that itself). */
#ifndef KHO_HEX_H
#define KHO_HEX_H

/* The value of hex digit c (0-15), or -1 when c is not one. */
static inline int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
