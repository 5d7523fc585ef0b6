/* Blur placeholders: a ThumbHash (Evan Wallace's algorithm) of an upload, about 25 bytes that
 * a client expands into a blurred preview with the image's colours, shape and alpha. */
#ifndef KHO_IMAGE_PLACEHOLDER_H
#define KHO_IMAGE_PLACEHOLDER_H
#include <stddef.h>
#include <stdint.h>
#include "core/err.h"

/* Longest placeholder text: a hash is at most 25 bytes, 36 characters of base64. */
#define PLACEHOLDER_MAX_LEN 36

/* The ThumbHash of the image in in[0..len) as standard base64 (RFC 4648 alphabet with + and /,
 * padded with = to a multiple of 4 characters, so any base64 decoder takes it) into out, which
 * must hold cap >= PLACEHOLDER_MAX_LEN + 1 bytes; always NUL-terminated on KHO_OK. The image is
 * decoded shrunk to fit 100x100 (shrink-on-load), upright, in sRGB; it is not checked against
 * pixel limits, so pass only images probe_image has accepted. Errors: KHO_E_INVALID (not a
 * decodable image, or cap too small), KHO_E_BACKEND (libvips cannot start). Thread-safe. */
enum kho_err placeholder_thumbhash(const void *in, size_t len, char *out, size_t cap);

/* The average colour a placeholder encodes, as 8-bit sRGB and alpha. KHO_E_INVALID when hash
 * is not padded base64 of a ThumbHash. */
enum kho_err placeholder_decode_average(const char *hash, uint8_t rgba[4]);

#endif
