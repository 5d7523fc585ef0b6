/* Upload gatekeeper: tells what image an upload holds (format, size, frames, alpha) from its
 * headers alone, and refuses formats, sizes and truncated files kho will not store. */
#ifndef KHO_IMAGE_PROBE_H
#define KHO_IMAGE_PROBE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/err.h"
#include "core/log.h"

/* Start libvips once with server settings: untrusted and all loaders other than jpeg, png,
 * webp, gif and heif blocked process-wide, no operation cache, one thread per operation (the
 * worker pool gives the parallelism), libvips warnings routed to log_debug. Idempotent and
 * thread-safe; probe_image calls it itself when it needs libvips. Errors: KHO_E_BACKEND when
 * libvips cannot start. */
enum kho_err probe_init(void);

/* Each limit must be at least 1 (the server passes --max-pixels, --max-dimension and
 * --max-frames). */
struct probe_limits {
    int64_t max_pixels;    /* width x height x frames */
    int64_t max_dimension; /* width or height */
    int64_t max_frames;
};

struct probe_result {
    char format[9];   /* "jpeg", "png", "webp", "gif", "avif" or "heif" */
    const char *mime; /* "image/jpeg"...; static */
    int width, height, frames;
    bool alpha;   /* may have transparent pixels: an alpha channel, a tRNS chunk, or a gif
                   * transparent colour */
    char why[96]; /* holds the text *why points to when it is built from numbers */
};

/* Identify the image in data[0..len) and check it against lim, reading headers and walking
 * the container structure only (no pixel is decoded). jpeg, png, gif and webp are parsed here
 * (a few microseconds); heif and avif go through libvips' heifload when the build has it.
 *
 * Completeness: a jpeg must reach its EOI marker (bytes after it are allowed: phones append
 * Motion Photo videos and maker data there); a png must end exactly with its IEND chunk, a gif
 * with its trailer, a webp where its RIFF size says, a heif with its last box.
 *
 * Returns KHO_OK with *out filled and *why NULL; or an error with *out's fields unspecified
 * and *why a lower-case message safe to show the client, valid as long as *out:
 *   KHO_E_INVALID      not an image ("not a recognised image"), or a truncated or malformed
 *                      one ("truncated jpeg", "malformed png"...);
 *   KHO_E_UNSUPPORTED  a real image kho does not store ("unsupported image format 'tiff'"),
 *                      or a variant its decoders cannot read ("unsupported jpeg variant");
 *   KHO_E_TOO_LARGE    over a limit ("image is 50000x50000 pixels, over the limit of
 *                      50000000");
 *   KHO_E_BACKEND      libvips could not start.
 * Thread-safe; the caller keeps ownership of data. */
enum kho_err probe_image(const void *data, size_t len, const struct probe_limits *lim,
                         struct probe_result *out, const char **why);

/* The formats this build accepts, space-separated ("jpeg png webp gif heif avif"), into out.
 * Calls probe_init. */
void probe_formats(char *out, size_t cap);

/* Move libvips's error buffer to the log at level, prefixed by what, and clear it. Its messages
 * never reach clients. */
void probe_vips_log(enum log_level level, const char *what);

#endif
