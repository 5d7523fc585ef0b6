/* Image variants: the stored photo resized, cropped, converted to 8-bit sRGB, optionally
 * watermarked and re-encoded as jpeg, png, webp or avif, with all metadata stripped. */
#ifndef KHO_IMAGE_PROCESS_H
#define KHO_IMAGE_PROCESS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/err.h"

enum process_fit {
    PROCESS_CONTAIN, /* inside width x height, aspect kept */
    PROCESS_COVER,   /* exactly width x height, aspect kept, cropped; without enlarge a smaller
                      * source gives the largest box of that shape it can fill */
    PROCESS_FILL     /* exactly width x height, stretched */
};
enum process_format { PROCESS_JPEG, PROCESS_PNG, PROCESS_WEBP, PROCESS_AVIF };
enum process_crop { PROCESS_CROP_ATTENTION, PROCESS_CROP_CENTRE };

/* Largest width or height a variant may ask for. */
#define PROCESS_MAX_DIMENSION 16384

struct process_params {
    /* Target box, each 0..PROCESS_MAX_DIMENSION; 0 leaves that side unconstrained (not both).
     * Cover and fill need both sides: with one of them 0 they behave as contain. */
    int width, height;
    enum process_fit fit;
    enum process_crop crop; /* which part cover keeps: the most interesting one, or the centre */
    /* Never enlarge unless set: without it a small image gives a smaller variant than the box
     * (contain and cover scale by at most 1, fill scales each side by at most 1). */
    bool enlarge;
    enum process_format format;
    int quality; /* 1..100, 0 = the format's default (jpeg 82, webp 80, avif 55; png ignores it) */
};

enum watermark_position { WM_SE, WM_SW, WM_NE, WM_NW, WM_CENTER };

/* Exactly one of text and logo is set. */
struct watermark {
    const char *text; /* UTF-8, at most WATERMARK_MAX_TEXT bytes, no control characters */
    const void *logo; /* an image (png with alpha, usually) of logo_len bytes */
    size_t logo_len;
    enum watermark_position position; /* corner or centre, 2% of the width from the edges */
    double opacity;                   /* 0..1 */
    double scale; /* watermark width as a fraction of the variant's width, (0, 1] */
};
#define WATERMARK_MAX_TEXT 256

/* max_pixels bounds the input (width x height of its first frame) and any enlarged
 * intermediate; timeout_ms bounds the processing time. 0 means no limit. */
struct process_limits {
    int64_t max_pixels;
    int64_t timeout_ms;
};

struct process_result {
    void *data; /* the encoded variant, len bytes; freed by process_result_free */
    size_t len;
    int width, height;
    const char *mime; /* "image/jpeg"...; static */
};

/* Render the variant of the image in in[0..len) (jpeg, png, webp, gif: first frame, heif/avif
 * when the build has heifload) described by p, watermarked with wm when wm is not NULL.
 *
 * Shrink-on-load decoding; EXIF orientation applied (the result is upright); colours converted
 * to sRGB through the embedded ICC profile; 8-bit output; alpha kept for png, webp and avif and
 * flattened onto white for jpeg; no metadata in the result.
 *
 * On KHO_OK *out holds the variant, to be released with process_result_free. Errors (*out is
 * then zeroed, nothing to free):
 *   KHO_E_INVALID      bad p or wm, or the input is not a decodable image (details in the log);
 *   KHO_E_UNSUPPORTED  p->format is not available in this build (see process_format_available);
 *   KHO_E_TOO_LARGE    the input or an enlarged intermediate is over lim->max_pixels, or the
 *                      work took longer than lim->timeout_ms and was abandoned. The deadline is
 *                      checked while pixels stream through the pipeline; the parts libvips runs
 *                      in one go (rotating or smart-cropping the shrunk image, rendering text,
 *                      the avif encoder's final pass) finish before it is noticed;
 *   KHO_E_BACKEND      libvips cannot start, or cannot render the watermark's text.
 * Thread-safe: call it from any number of threads; the caller keeps ownership of in, p, wm and
 * lim. */
enum kho_err process_variant(const void *in, size_t len, const struct process_params *p,
                             const struct watermark *wm, const struct process_limits *lim,
                             struct process_result *out);

/* Free r's data and zero it; a zeroed result may be freed again. */
void process_result_free(struct process_result *r);

/* "jpeg", "png", "webp" or "avif"; "unknown" for a value outside the enum. */
const char *process_format_name(enum process_format f);

/* Whether this build can write f: jpeg, png and webp always; avif needs libvips' heifsave with
 * an AV1 encoder, which the first call finds out by encoding a tiny image. Thread-safe. */
bool process_format_available(enum process_format f);

/* ---- for the image module's own files (placeholder.c, exif.c, watermark.c) ---- */

struct _VipsImage;

/* Decode in[0..len) as process_variant does (same size rules for p's width, height, fit, crop
 * and enlarge; p's format and quality are ignored) into an upright 8-bit sRGB image of 3 bands,
 * or 4 with alpha. The pixels are computed lazily when *out is read. Errors as process_variant's
 * (except the timeout); on KHO_OK *out is a new reference the caller unrefs. */
enum kho_err process_decode(const void *in, size_t len, const struct process_params *p,
                            int64_t max_pixels, struct _VipsImage **out);

/* The output formats this build can write, space-separated ("jpeg png webp avif"), into out. */
void process_formats(char *out, size_t cap);

#endif
