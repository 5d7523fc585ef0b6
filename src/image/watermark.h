/* Variant watermarks (image module internal): a line of text or a logo, scaled to a fraction
 * of the variant's width and blended in at a corner or the centre. struct watermark, the
 * caller-facing description, lives in image/process.h. */
#ifndef KHO_IMAGE_WATERMARK_H
#define KHO_IMAGE_WATERMARK_H
#include "image/process.h"

/* Largest logo accepted, in pixels. */
#define WATERMARK_MAX_LOGO_PIXELS (4096 * 4096)

/* Check wm's fields without touching libvips: exactly one of text (1..WATERMARK_MAX_TEXT bytes
 * of UTF-8 without control characters) and logo (logo_len > 0), a known position, opacity in
 * [0, 1], scale in (0, 1]. KHO_E_INVALID otherwise. */
enum kho_err watermark_check(const struct watermark *wm);

/* Blend wm (already checked) onto in, an 8-bit sRGB image of 3 or 4 bands, into *out, a new
 * reference of the same size, bands and format. Text is white with a dark halo, so that it shows
 * on any background; a logo keeps its colours. Either is scaled to wm->scale times in's width
 * (less when that would be taller than in), its alpha multiplied by wm->opacity, and placed 2%
 * of in's width from the edges of its corner, or in the centre; a watermark larger than a tiny
 * image is clipped. Errors: KHO_E_INVALID (the logo is not a decodable image, or the text
 * has nothing to draw, like only spaces), KHO_E_TOO_LARGE
 * (the logo is over WATERMARK_MAX_LOGO_PIXELS and over the area it is scaled to),
 * KHO_E_BACKEND (text cannot be rendered). in
 * stays the caller's. */
enum kho_err watermark_apply(struct _VipsImage *in, const struct watermark *wm,
                             struct _VipsImage **out);

#endif
