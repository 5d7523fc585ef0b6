/* Watermarks: text rendered with pango through vips_text, or a logo decoded like any upload,
 * turned into an RGBA overlay and composited onto the variant. */
#include <math.h>
#include <string.h>
#include <vips/vips.h>
#include "image/probe.h"
#include "image/watermark.h"
#include "core/utf8.h"
#include "core/kho.h"

#define TEXT_PROBE_DPI 72

enum kho_err watermark_check(const struct watermark *wm)
{
    if (!wm->text == !wm->logo)
        return KHO_E_INVALID;
    if (wm->text) {
        size_t n = strlen(wm->text);
        if (n == 0 || n > WATERMARK_MAX_TEXT || !utf8_valid_text(wm->text, n))
            return KHO_E_INVALID;
    } else if (wm->logo_len == 0) {
        return KHO_E_INVALID;
    }
    if ((unsigned)wm->position > WM_CENTER)
        return KHO_E_INVALID;
    if (!(wm->opacity >= 0.0 && wm->opacity <= 1.0) || !(wm->scale > 0.0 && wm->scale <= 1.0))
        return KHO_E_INVALID;
    return KHO_OK;
}

static void unref_all(VipsImage **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i])
            g_object_unref(v[i]);
}

/* White text over a dark halo (a blurred, darkened copy of the glyphs), as sRGB with alpha,
 * fitting tw x th. */
static enum kho_err text_overlay(const char *text, int tw, int th, VipsImage **out)
{
    /* vips_text takes pango markup: the caller's text must not be able to inject any */
    char *markup = g_markup_escape_text(text, -1);
    VipsImage *t[11] = {0};
    int r = vips_text(&t[0], markup, "font", "sans", "dpi", TEXT_PROBE_DPI, NULL);
    if (r) {
        /* pango draws missing glyphs as boxes: what fails here is text with nothing to draw */
        probe_vips_log(LOG_WARN, "cannot render watermark text");
        g_free(markup);
        return KHO_E_INVALID;
    }
    /* text width grows linearly with the dpi: one measurement gives the dpi that fits */
    double fit =
        fmin((double)tw / vips_image_get_width(t[0]), (double)th / vips_image_get_height(t[0]));
    int dpi = (int)lround(TEXT_PROBE_DPI * fit);
    r = vips_text(&t[1], markup, "font", "sans", "dpi", dpi < 1 ? 1 : dpi, NULL);
    if (!r) {
        int pad = vips_image_get_height(t[1]) / 10 + 1;
        int w = vips_image_get_width(t[1]) + 2 * pad, h = vips_image_get_height(t[1]) + 2 * pad;
        /* layers: black under the blurred glyphs (their alpha doubled), white under the glyphs */
        r = vips_embed(t[1], &t[2], pad, pad, w, h, NULL) ||
            vips_gaussblur(t[2], &t[3], pad / 2.0 + 0.5, NULL) ||
            vips_linear1(t[3], &t[4], 2.0, 0.0, "uchar", TRUE, NULL) ||
            vips_black(&t[5], w, h, "bands", 3, NULL) || vips_invert(t[5], &t[6], NULL) ||
            vips_bandjoin2(t[5], t[4], &t[7], NULL) || vips_bandjoin2(t[6], t[2], &t[8], NULL) ||
            vips_copy(t[7], &t[9], "interpretation", VIPS_INTERPRETATION_sRGB, NULL) ||
            vips_copy(t[8], &t[10], "interpretation", VIPS_INTERPRETATION_sRGB, NULL) ||
            vips_composite2(t[9], t[10], out, VIPS_BLEND_MODE_OVER, NULL);
    }
    g_free(markup);
    unref_all(t, ARRAY_LEN(t));
    if (r) {
        probe_vips_log(LOG_WARN, "cannot render watermark text");
        return KHO_E_BACKEND;
    }
    return KHO_OK;
}

/* The logo goes through the same decoding as uploads (orientation, colour profile, resize with
 * premultiplied alpha), enlarged or shrunk to fit tw x th. */
static enum kho_err logo_overlay(const struct watermark *wm, int tw, int th, VipsImage **out)
{
    struct process_params p = {.width = tw, .height = th, .enlarge = true};
    int64_t limit = (int64_t)tw * th;
    VipsImage *img;
    enum kho_err rc;
    int r;

    rc =
        process_decode(wm->logo, wm->logo_len, &p,
                       limit > WATERMARK_MAX_LOGO_PIXELS ? limit : WATERMARK_MAX_LOGO_PIXELS, &img);
    if (rc)
        return rc;
    if (vips_image_hasalpha(img)) {
        *out = img;
        return KHO_OK;
    }
    r = vips_bandjoin_const1(img, out, 255.0, NULL);
    g_object_unref(img);
    if (r) {
        probe_vips_log(LOG_WARN, "cannot add alpha to logo");
        return KHO_E_INVALID;
    }
    return KHO_OK;
}

enum kho_err watermark_apply(VipsImage *in, const struct watermark *wm, VipsImage **out)
{
    int w = vips_image_get_width(in), h = vips_image_get_height(in);
    int margin = (int)lround(0.02 * w);
    int tw = (int)lround(wm->scale * w), th = h - 2 * margin;
    double mul[4] = {1.0, 1.0, 1.0, wm->opacity}, add[4] = {0.0, 0.0, 0.0, 0.0};
    VipsImage *t[4] = {0};
    enum kho_err rc;
    int x, y, ow, oh, r;

    *out = NULL;
    rc = wm->text ? text_overlay(wm->text, tw < 1 ? 1 : tw, th < 1 ? 1 : th, &t[0])
                  : logo_overlay(wm, tw < 1 ? 1 : tw, th < 1 ? 1 : th, &t[0]);
    if (rc)
        return rc;
    ow = vips_image_get_width(t[0]);
    oh = vips_image_get_height(t[0]);
    x = wm->position == WM_SW || wm->position == WM_NW ? margin : w - margin - ow;
    y = wm->position == WM_NE || wm->position == WM_NW ? margin : h - margin - oh;
    if (wm->position == WM_CENTER) {
        x = (w - ow) / 2;
        y = (h - oh) / 2;
    }
    /* composite always adds an alpha band and forgets the colour space; an opaque variant
     * stays opaque */
    r = vips_linear(t[0], &t[1], mul, add, 4, "uchar", TRUE, NULL) ||
        vips_composite2(in, t[1], &t[2], VIPS_BLEND_MODE_OVER, "x", x, "y", y, NULL);
    if (!r && !vips_image_hasalpha(in))
        r = vips_extract_band(t[2], &t[3], 0, "n", 3, NULL);
    if (!r)
        r = vips_copy(t[3] ? t[3] : t[2], out, "interpretation", VIPS_INTERPRETATION_sRGB, NULL);
    unref_all(t, ARRAY_LEN(t));
    if (r) {
        probe_vips_log(LOG_WARN, "cannot composite watermark");
        return KHO_E_BACKEND;
    }
    return KHO_OK;
}
