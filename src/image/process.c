/* Variant rendering with libvips: shrink-on-load thumbnail, 8-bit sRGB, watermark, flatten for
 * jpeg, metadata-free encode, all under a deadline. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <vips/vips.h>
#include "image/process.h"
#include "image/probe.h"
#include "image/watermark.h"
#include "core/kho.h"

/* libaom's speed comes from libvips' effort (speed = 9 - effort): effort 0 encodes a 1600 px
 * variant about 40 times faster than the default 4, for slightly larger files. */
#define AVIF_EFFORT 0

struct format_info {
    const char *name, *mime;
    int default_quality;
};

static const struct format_info formats[] = {
    [PROCESS_JPEG] = {"jpeg", "image/jpeg", 82},
    [PROCESS_PNG] = {"png", "image/png", 0},
    [PROCESS_WEBP] = {"webp", "image/webp", 80},
    [PROCESS_AVIF] = {"avif", "image/avif", 55},
};

/* What the header tells before any pixel is decoded. */
struct header {
    int width, height; /* as stored: the first frame, before orientation */
    bool swap;         /* the orientation turns it by 90 degrees */
    bool icc;          /* an embedded colour profile */
};

/* Arguments for vips_thumbnail_buffer. */
struct box {
    int width, height;
    VipsSize size;
    VipsInteresting crop;
    double work_pixels; /* largest image the resize makes (before a cover crop) */
};

struct deadline {
    uint64_t at_ns; /* mono_ns() after which work stops; 0 = none */
    atomic_bool expired;
};

static pthread_once_t avif_once = PTHREAD_ONCE_INIT;
static bool avif_ok;

/* Replace *img by next, made from it: next holds the references it needs. */
static void advance(VipsImage **img, VipsImage *next)
{
    g_object_unref(*img);
    *img = next;
}

static enum kho_err read_header(const void *in, size_t len, struct header *h)
{
    VipsImage *img =
        vips_image_new_from_buffer((void *)in, len, "", "access", VIPS_ACCESS_SEQUENTIAL, NULL);
    if (!img) {
        probe_vips_log(LOG_WARN, "cannot read image header");
        return KHO_E_INVALID;
    }
    h->width = vips_image_get_width(img);
    h->height = vips_image_get_height(img);
    h->swap = vips_image_get_orientation_swap(img);
    h->icc = vips_image_get_typeof(img, VIPS_META_ICC_NAME) != 0;
    g_object_unref(img);
    return KHO_OK;
}

/* Scale factor of one side: target / source, unbounded when the side is unconstrained, at most
 * 1 unless enlarging. */
static double side_scale(int target, int source, bool enlarge)
{
    double s = target ? (double)target / source : INFINITY;
    return enlarge ? s : fmin(s, 1.0);
}

static void box_for(const struct process_params *p, const struct header *h, struct box *b)
{
    int w = h->swap ? h->height : h->width, hh = h->swap ? h->width : h->height;
    bool both = p->width && p->height;
    double sx = side_scale(p->width, w, p->enlarge), sy = side_scale(p->height, hh, p->enlarge);

    b->width = p->width ? p->width : VIPS_MAX_COORD;
    b->height = p->height ? p->height : VIPS_MAX_COORD;
    b->size = p->enlarge ? VIPS_SIZE_BOTH : VIPS_SIZE_DOWN;
    b->crop = VIPS_INTERESTING_NONE;
    if (both && p->fit == PROCESS_FILL) {
        /* force stretches both ways, so "never enlarge" has to be applied per side here */
        b->size = VIPS_SIZE_FORCE;
        b->width = (int)lround(w * sx);
        b->height = (int)lround(hh * sy);
    } else if (both && p->fit == PROCESS_COVER) {
        b->crop =
            p->crop == PROCESS_CROP_CENTRE ? VIPS_INTERESTING_CENTRE : VIPS_INTERESTING_ATTENTION;
        if (!p->enlarge) {
            /* a source smaller than the box still gets the box's shape (a square thumbnail of
             * a small photo), at the largest size that needs no enlarging */
            double f = fmin(1.0, fmin((double)w / p->width, (double)hh / p->height));
            b->width = (int)fmax(1.0, floor(p->width * f));
            b->height = (int)fmax(1.0, floor(p->height * f));
            sx = side_scale(b->width, w, false);
            sy = side_scale(b->height, hh, false);
        }
        sx = sy = fmax(sx, sy);
    } else {
        sx = sy = fmin(sx, sy);
    }
    b->work_pixels = w * sx * hh * sy;
}

/* thumbnail outputs 8-bit sRGB or 8-bit grey (with alpha, if any): grey becomes sRGB, which the
 * watermark and the callers expect */
static enum kho_err to_srgb(VipsImage **img)
{
    VipsImage *t;
    if (vips_image_guess_interpretation(*img) == VIPS_INTERPRETATION_sRGB)
        return KHO_OK;
    if (vips_colourspace(*img, &t, VIPS_INTERPRETATION_sRGB, NULL)) {
        probe_vips_log(LOG_WARN, "cannot convert to srgb");
        return KHO_E_INVALID;
    }
    advance(img, t);
    return KHO_OK;
}

enum kho_err process_decode(const void *in, size_t len, const struct process_params *p,
                            int64_t max_pixels, VipsImage **out)
{
    struct header h;
    struct box b;
    VipsImage *img;
    enum kho_err rc;

    *out = NULL;
    if (!in || len == 0)
        return KHO_E_INVALID;
    rc = probe_init();
    if (rc)
        return rc;
    rc = read_header(in, len, &h);
    if (rc)
        return rc;
    if (max_pixels > 0 && (int64_t)h.width * h.height > max_pixels) {
        log_warn("image of %dx%d pixels is over the limit of %lld", h.width, h.height,
                 (long long)max_pixels);
        return KHO_E_TOO_LARGE;
    }
    box_for(p, &h, &b);
    if (max_pixels > 0 && b.work_pixels > (double)max_pixels) {
        log_warn("enlarging %dx%d to %dx%d is over the limit of %lld pixels", h.width, h.height,
                 p->width, p->height, (long long)max_pixels);
        return KHO_E_TOO_LARGE;
    }
    /* Only images with a profile get one applied: asking for srgb on the others would send
     * every plain image through an lcms transform for nothing. thumbnail_buffer does not pass
     * its own fail_on to the loader in 8.14 (truncated pngs decode as grey): the option string
     * does. */
    if (vips_thumbnail_buffer((void *)in, len, &img, b.width, "height", b.height, "size", b.size,
                              "crop", b.crop, "option_string", "fail_on=error", "export_profile",
                              h.icc ? "srgb" : NULL, NULL)) {
        probe_vips_log(LOG_WARN, "cannot decode image");
        return KHO_E_INVALID;
    }
    rc = to_srgb(&img);
    if (rc) {
        g_object_unref(img);
        return rc;
    }
    *out = img;
    return KHO_OK;
}

static enum kho_err check_params(const struct process_params *p)
{
    if (p->width < 0 || p->height < 0 || (p->width == 0 && p->height == 0))
        return KHO_E_INVALID;
    if (p->width > PROCESS_MAX_DIMENSION || p->height > PROCESS_MAX_DIMENSION)
        return KHO_E_INVALID;
    if ((unsigned)p->fit > PROCESS_FILL || (unsigned)p->crop > PROCESS_CROP_CENTRE ||
        (unsigned)p->format > PROCESS_AVIF)
        return KHO_E_INVALID;
    if (p->quality < 0 || p->quality > 100)
        return KHO_E_INVALID;
    return KHO_OK;
}

/* Runs on libvips' worker thread as strips are computed; killing the image makes the next
 * region request anywhere upstream fail, which ends the save. */
static void on_eval(VipsImage *image, VipsProgress *progress, void *user)
{
    struct deadline *d = user;
    (void)progress;
    if (mono_ns() > d->at_ns) {
        atomic_store(&d->expired, true);
        vips_image_set_kill(image, TRUE);
    }
}

static bool past(const struct deadline *d)
{
    return d->at_ns && mono_ns() > d->at_ns;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Even without metadata on the image, 8.14's webpsave adds an EXIF chunk it generates
 * (resolution, size: some 200 bytes, a tenth of a small thumbnail): drop EXIF and XMP chunks and
 * their VP8X flags, in place (the file only shrinks). A container that does not parse is left as
 * it is. */
static void webp_drop_metadata(uint8_t *d, size_t *len)
{
    size_t in, out = 12;
    if (*len < 30 || memcmp(d, "RIFF", 4) != 0 || memcmp(d + 8, "WEBPVP8X", 8) != 0)
        return; /* the simple format has no room for metadata */
    for (in = 12; in < *len;) {
        if (*len - in < 8 || le32(d + in + 4) > *len - in - 8)
            return;
        in += 8 + le32(d + in + 4) + (le32(d + in + 4) & 1);
    }
    if (in != *len)
        return;
    for (in = 12; in < *len;) {
        size_t chunk = 8 + le32(d + in + 4) + (le32(d + in + 4) & 1);
        if (memcmp(d + in, "EXIF", 4) != 0 && memcmp(d + in, "XMP ", 4) != 0) {
            memmove(d + out, d + in, chunk);
            out += chunk;
        }
        in += chunk;
    }
    d[20] &= (uint8_t)~0x0c; /* VP8X flags: EXIF 0x08, XMP 0x04 */
    d[4] = (uint8_t)(out - 8);
    d[5] = (uint8_t)((out - 8) >> 8);
    d[6] = (uint8_t)((out - 8) >> 16);
    d[7] = (uint8_t)((out - 8) >> 24);
    *len = out;
}

static int encode(VipsImage *img, const struct process_params *p, void **buf, size_t *len)
{
    int q = p->quality ? p->quality : formats[p->format].default_quality;
    switch (p->format) {
    case PROCESS_JPEG:
        return vips_jpegsave_buffer(img, buf, len, "Q", q, "strip", TRUE, "optimize_coding", TRUE,
                                    "interlace", FALSE, NULL);
    case PROCESS_PNG:
        return vips_pngsave_buffer(img, buf, len, "compression", 6, "strip", TRUE, NULL);
    case PROCESS_WEBP:
        return vips_webpsave_buffer(img, buf, len, "Q", q, "strip", TRUE, "effort", 4, NULL);
    case PROCESS_AVIF:
        return vips_heifsave_buffer(img, buf, len, "Q", q, "strip", TRUE, "compression",
                                    VIPS_FOREIGN_HEIF_COMPRESSION_AV1, "effort", AVIF_EFFORT, NULL);
    }
    return -1;
}

static enum kho_err flatten_white(VipsImage **img)
{
    VipsArrayDouble *white = vips_array_double_newv(3, 255.0, 255.0, 255.0);
    VipsImage *t;
    int r = vips_flatten(*img, &t, "background", white, NULL);
    vips_area_unref(VIPS_AREA(white));
    if (r) {
        probe_vips_log(LOG_WARN, "cannot flatten alpha");
        return KHO_E_INVALID;
    }
    advance(img, t);
    return KHO_OK;
}

/* The savers are asked to strip, but 8.14's webpsave ignores it (libvips#3340) and writes the
 * EXIF, XMP and ICC the image carries: so the image carries none. Header fields (width...) are
 * not removable and stay. */
static enum kho_err strip_metadata(VipsImage **img)
{
    VipsImage *t;
    if (vips_copy(*img, &t, NULL)) {
        probe_vips_log(LOG_WARN, "cannot copy image");
        return KHO_E_INVALID;
    }
    gchar **fields = vips_image_get_fields(t);
    for (gchar **f = fields; *f; f++)
        vips_image_remove(t, *f);
    g_strfreev(fields);
    advance(img, t);
    return KHO_OK;
}

/* The deadline is attached to the last image of the pipeline: the savers pull every pixel
 * through it, and its progress signal reports each computed strip. */
static enum kho_err save(VipsImage *img, const struct process_params *p, struct deadline *dl,
                         struct process_result *out)
{
    gulong handler = 0;
    int r;
    if (dl->at_ns) {
        vips_image_set_progress(img, TRUE);
        handler = g_signal_connect(img, "eval", G_CALLBACK(on_eval), dl);
    }
    r = encode(img, p, &out->data, &out->len);
    if (handler)
        g_signal_handler_disconnect(img, handler);
    if (r) {
        out->data = NULL;
        if (atomic_load(&dl->expired)) {
            vips_error_clear();
            return KHO_E_TOO_LARGE;
        }
        probe_vips_log(LOG_WARN, "cannot encode variant");
        return KHO_E_INVALID;
    }
    /* decoders report damage they recovered from in the error buffer, and succeed */
    if (vips_error_buffer()[0])
        probe_vips_log(LOG_WARN, "variant made despite decoder errors");
    if (p->format == PROCESS_WEBP)
        webp_drop_metadata(out->data, &out->len);
    out->width = vips_image_get_width(img);
    out->height = vips_image_get_height(img);
    out->mime = formats[p->format].mime;
    return KHO_OK;
}

enum kho_err process_variant(const void *in, size_t len, const struct process_params *p,
                             const struct watermark *wm, const struct process_limits *lim,
                             struct process_result *out)
{
    struct deadline dl = {0};
    VipsImage *img, *t;
    enum kho_err rc;

    memset(out, 0, sizeof(*out));
    if (lim->timeout_ms > 0) /* capped at about 11 days, which keeps the sum from overflowing */
        dl.at_ns =
            mono_ns() +
            (uint64_t)(lim->timeout_ms < 1000000000 ? lim->timeout_ms : 1000000000) * 1000000u;
    rc = check_params(p);
    if (rc)
        return rc;
    if (wm) {
        rc = watermark_check(wm);
        if (rc)
            return rc;
    }
    if (!process_format_available(p->format))
        return KHO_E_UNSUPPORTED;
    rc = process_decode(in, len, p, lim->max_pixels, &img);
    if (rc)
        return rc;
    if (past(&dl))
        goto timeout;
    if (wm) {
        rc = watermark_apply(img, wm, &t);
        if (rc)
            goto done;
        advance(&img, t);
        if (past(&dl))
            goto timeout;
    }
    if (p->format == PROCESS_JPEG && vips_image_hasalpha(img)) {
        rc = flatten_white(&img);
        if (rc)
            goto done;
    }
    rc = strip_metadata(&img);
    if (rc)
        goto done;
    rc = save(img, p, &dl, out);
    if (rc == KHO_E_TOO_LARGE)
        goto timeout;
done:
    g_object_unref(img);
    return rc;
timeout:
    log_warn("variant took over %lld ms, abandoned", (long long)lim->timeout_ms);
    g_object_unref(img);
    return KHO_E_TOO_LARGE;
}

void process_result_free(struct process_result *r)
{
    g_free(r->data);
    memset(r, 0, sizeof(*r));
}

const char *process_format_name(enum process_format f)
{
    return (unsigned)f < ARRAY_LEN(formats) ? formats[f].name : "unknown";
}

/* heifsave exists whenever libheif does, but libheif may have been built without an AV1
 * encoder: only an actual encode tells. */
static void avif_probe(void)
{
    VipsImage *img;
    void *buf = NULL;
    size_t len = 0;
    if (probe_init() || vips_type_find("VipsOperation", "heifsave_buffer") == 0)
        return;
    if (vips_black(&img, 16, 16, "bands", 3, NULL)) {
        probe_vips_log(LOG_WARN, "cannot make avif probe image");
        return;
    }
    avif_ok =
        vips_heifsave_buffer(img, &buf, &len, "compression", VIPS_FOREIGN_HEIF_COMPRESSION_AV1,
                             "effort", AVIF_EFFORT, NULL) == 0;
    if (!avif_ok)
        probe_vips_log(LOG_WARN, "avif output disabled");
    g_free(buf);
    g_object_unref(img);
}

bool process_format_available(enum process_format f)
{
    if (f == PROCESS_AVIF) {
        pthread_once(&avif_once, avif_probe);
        return avif_ok;
    }
    return (unsigned)f < ARRAY_LEN(formats);
}

void process_formats(char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (int f = PROCESS_JPEG; f <= PROCESS_AVIF; f++)
        if (process_format_available((enum process_format)f) && used < cap)
            used += (size_t)snprintf(out + used, cap - used, "%s%s", used ? " " : "",
                                     process_format_name((enum process_format)f));
}
