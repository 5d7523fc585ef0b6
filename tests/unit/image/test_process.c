/* Unit tests for src/image/process.c, watermark.c, exif.c and placeholder.c: images made with
 * libvips are turned into variants whose sizes, pixels, formats and metadata are checked. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <vips/vips.h>
#include "image/exif.h"
#include "image/placeholder.h"
#include "image/probe.h"
#include "image/process.h"
#include "core/kho.h"
#include "t.h"

struct blob {
    uint8_t *p;
    size_t len;
};

static const struct process_limits nolimit = {50000000, 0};

/* An image of w x h pixels with the given bands, filled by fn(x, y, px). */
static VipsImage *paint(int w, int h, int bands, void (*fn)(int x, int y, int w, int h, uint8_t *))
{
    uint8_t *px = g_malloc((size_t)w * h * bands);
    VipsImage *mem, *out;
    if (probe_init())
        abort();
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            fn(x, y, w, h, px + ((size_t)y * w + x) * bands);
    mem =
        vips_image_new_from_memory_copy(px, (size_t)w * h * bands, w, h, bands, VIPS_FORMAT_UCHAR);
    g_free(px);
    if (!mem || vips_copy(mem, &out, "interpretation",
                          bands >= 3 ? VIPS_INTERPRETATION_sRGB : VIPS_INTERPRETATION_B_W, NULL))
        abort();
    g_object_unref(mem);
    return out;
}

/* Upright pattern: red top left, green top right, blue bottom left, white bottom right. */
static void quadrants(int x, int y, int w, int h, uint8_t *px)
{
    static const uint8_t c[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}};
    memcpy(px, c[(y >= h / 2) * 2 + (x >= w / 2)], 3);
}

static void grey(int x, int y, int w, int h, uint8_t *px)
{
    (void)x, (void)y, (void)w, (void)h;
    memset(px, 128, 3);
}

static void red(int x, int y, int w, int h, uint8_t *px)
{
    (void)x, (void)y, (void)w, (void)h;
    px[0] = 255;
    px[1] = px[2] = 0;
}

/* Opaque red on the right half, transparent left half. */
static void half_alpha(int x, int y, int w, int h, uint8_t *px)
{
    (void)y, (void)h;
    px[0] = 255;
    px[1] = px[2] = 0;
    px[3] = x >= w / 2 ? 255 : 0;
}

/* The synthetic images the ThumbHash reference vectors were computed from. */
static void gradient(int x, int y, int w, int h, uint8_t *px)
{
    px[0] = (uint8_t)(x * 255 / (w - 1));
    px[1] = (uint8_t)(y * 255 / (h - 1));
    px[2] = 128;
}

static void gradient_alpha(int x, int y, int w, int h, uint8_t *px)
{
    gradient(x, y, w, h, px);
    px[3] = (uint8_t)((x + y) % 50 * 255 / 49);
}

/* Save img (dropped) with a libvips saver. */
static struct blob save(VipsImage *img, const char *fmt)
{
    void *buf = NULL;
    size_t len = 0;
    int r;
    if (!strcmp(fmt, "jpeg"))
        r = vips_jpegsave_buffer(img, &buf, &len, "Q", 95, NULL);
    else if (!strcmp(fmt, "png"))
        r = vips_pngsave_buffer(img, &buf, &len, "compression", 1, NULL);
    else if (!strcmp(fmt, "gif"))
        r = vips_gifsave_buffer(img, &buf, &len, NULL);
    else if (!strcmp(fmt, "tiff"))
        r = vips_tiffsave_buffer(img, &buf, &len, NULL);
    else
        r = vips_webpsave_buffer(img, &buf, &len, "lossless", TRUE, NULL);
    g_object_unref(img);
    if (r) {
        fprintf(stderr, "  %s save failed: %s\n", fmt, vips_error_buffer());
        abort();
    }
    return (struct blob){buf, len};
}

/* Decode p[0..len) into memory, so that p can be freed right after. */
static VipsImage *load(const void *p, size_t len)
{
    VipsImage *lazy = vips_image_new_from_buffer((void *)p, len, "", NULL), *img = NULL;
    if (lazy)
        img = vips_image_copy_memory(lazy);
    if (!img) {
        fprintf(stderr, "  cannot load result: %s\n", vips_error_buffer());
        vips_error_clear();
    }
    if (lazy)
        g_object_unref(lazy);
    return img;
}

/* Pixel (x, y) of img into v (up to 4 bands). */
static void at(VipsImage *img, int x, int y, double v[4])
{
    double *p = NULL;
    int n = 0;
    memset(v, 0, 4 * sizeof(double));
    if (vips_getpoint(img, &p, &n, x, y, NULL))
        abort();
    for (int i = 0; i < n && i < 4; i++)
        v[i] = p[i];
    g_free(p);
}

static bool near(const double v[4], double r, double g, double b, double tol)
{
    bool ok = fabs(v[0] - r) <= tol && fabs(v[1] - g) <= tol && fabs(v[2] - b) <= tol;
    if (!ok)
        fprintf(stderr, "  pixel %.0f %.0f %.0f, wanted %.0f %.0f %.0f\n", v[0], v[1], v[2], r, g,
                b);
    return ok;
}

static struct process_params params(int w, int h, enum process_fit fit, enum process_format f)
{
    return (struct process_params){.width = w, .height = h, .fit = fit, .format = f};
}

/* Run process_variant and return the result's size (0 x 0 on error, with rc). */
static enum kho_err variant(struct blob in, struct process_params p, int *w, int *h)
{
    struct process_result r;
    enum kho_err rc = process_variant(in.p, in.len, &p, NULL, &nolimit, &r);
    *w = r.width;
    *h = r.height;
    process_result_free(&r);
    return rc;
}

static void test_contain(void)
{
    struct blob wide = save(paint(1000, 500, 3, quadrants), "jpeg");
    struct blob small = save(paint(100, 100, 3, quadrants), "jpeg");
    int w, h;
    struct process_params p = params(256, 0, PROCESS_CONTAIN, PROCESS_JPEG);
    CHECK_EQ(variant(wide, p, &w, &h), KHO_OK);
    CHECK(w == 256 && h == 128);
    p = params(0, 100, PROCESS_CONTAIN, PROCESS_JPEG);
    CHECK_EQ(variant(wide, p, &w, &h), KHO_OK);
    CHECK(w == 200 && h == 100);
    p = params(300, 300, PROCESS_CONTAIN, PROCESS_JPEG);
    CHECK_EQ(variant(wide, p, &w, &h), KHO_OK);
    CHECK(w == 300 && h == 150);
    p = params(256, 0, PROCESS_CONTAIN, PROCESS_JPEG);
    CHECK_EQ(variant(small, p, &w, &h), KHO_OK);
    CHECK(w == 100 && h == 100);
    p.enlarge = true;
    CHECK_EQ(variant(small, p, &w, &h), KHO_OK);
    CHECK(w == 256 && h == 256);
    g_free(wide.p);
    g_free(small.p);
}

static void test_cover(void)
{
    struct blob wide = save(paint(1000, 500, 3, quadrants), "jpeg");
    struct blob small = save(paint(100, 100, 3, quadrants), "jpeg");
    int w, h;
    struct process_params p = params(256, 256, PROCESS_COVER, PROCESS_JPEG);
    CHECK_EQ(variant(wide, p, &w, &h), KHO_OK);
    CHECK(w == 256 && h == 256);
    p.crop = PROCESS_CROP_CENTRE;
    p.width = 100;
    p.height = 300;
    CHECK_EQ(variant(wide, p, &w, &h), KHO_OK);
    CHECK(w == 100 && h == 300);
    p = params(256, 256, PROCESS_COVER, PROCESS_JPEG);
    CHECK_EQ(variant(small, p, &w, &h), KHO_OK);
    CHECK(w == 100 && h == 100);
    p.enlarge = true;
    CHECK_EQ(variant(small, p, &w, &h), KHO_OK);
    CHECK(w == 256 && h == 256);
    /* a source smaller than the box on one side keeps the box's shape without enlarging */
    struct blob mid = save(paint(320, 240, 3, quadrants), "jpeg");
    p = params(256, 256, PROCESS_COVER, PROCESS_JPEG);
    CHECK_EQ(variant(mid, p, &w, &h), KHO_OK);
    CHECK(w == 240 && h == 240);
    p = params(400, 200, PROCESS_COVER, PROCESS_JPEG);
    CHECK_EQ(variant(mid, p, &w, &h), KHO_OK);
    CHECK(w == 320 && h == 160);
    g_free(mid.p);
    /* with one side unconstrained, cover is contain */
    p = params(250, 0, PROCESS_COVER, PROCESS_JPEG);
    CHECK_EQ(variant(wide, p, &w, &h), KHO_OK);
    CHECK(w == 250 && h == 125);
    g_free(wide.p);
    g_free(small.p);
}

/* A centre crop of the quadrants keeps all four colours around the middle. */
static void test_cover_centre_pixels(void)
{
    struct blob wide = save(paint(1000, 500, 3, quadrants), "png");
    struct process_params p = params(100, 100, PROCESS_COVER, PROCESS_PNG);
    struct process_result r;
    double v[4];
    p.crop = PROCESS_CROP_CENTRE;
    CHECK_EQ(process_variant(wide.p, wide.len, &p, NULL, &nolimit, &r), KHO_OK);
    g_free(wide.p);
    VipsImage *img = load(r.data, r.len);
    process_result_free(&r);
    CHECK(img);
    at(img, 25, 25, v);
    bool tl = near(v, 255, 0, 0, 8);
    at(img, 75, 75, v);
    bool br = near(v, 255, 255, 255, 8);
    g_object_unref(img);
    CHECK(tl && br);
}

static void test_fill(void)
{
    struct blob wide = save(paint(1000, 500, 3, quadrants), "jpeg");
    struct blob small = save(paint(100, 100, 3, quadrants), "jpeg");
    int w, h;
    struct process_params p = params(300, 300, PROCESS_FILL, PROCESS_JPEG);
    CHECK_EQ(variant(wide, p, &w, &h), KHO_OK);
    CHECK(w == 300 && h == 300);
    p = params(256, 50, PROCESS_FILL, PROCESS_JPEG);
    CHECK_EQ(variant(small, p, &w, &h), KHO_OK);
    CHECK(w == 100 && h == 50);
    p.enlarge = true;
    CHECK_EQ(variant(small, p, &w, &h), KHO_OK);
    CHECK(w == 256 && h == 50);
    g_free(wide.p);
    g_free(small.p);
}

static void test_formats(void)
{
    static const char *const loaders[] = {"VipsForeignLoadJpegBuffer", "VipsForeignLoadPngBuffer",
                                          "VipsForeignLoadWebpBuffer", "VipsForeignLoadHeifBuffer"};
    static const char *const mimes[] = {"image/jpeg", "image/png", "image/webp", "image/avif"};
    struct blob in = save(paint(640, 480, 3, quadrants), "jpeg");
    CHECK(process_format_available(PROCESS_JPEG) && process_format_available(PROCESS_PNG) &&
          process_format_available(PROCESS_WEBP));
    CHECK(!process_format_available((enum process_format)9));
    CHECK_STR(process_format_name(PROCESS_WEBP), "webp");
    CHECK_STR(process_format_name((enum process_format)9), "unknown");
    for (int f = PROCESS_JPEG; f <= PROCESS_AVIF; f++) {
        struct process_params p = params(320, 0, PROCESS_CONTAIN, (enum process_format)f);
        struct process_result r;
        if (!process_format_available((enum process_format)f)) {
            fprintf(stderr, "  %s not available in this build\n", process_format_name(f));
            CHECK_EQ(process_variant(in.p, in.len, &p, NULL, &nolimit, &r), KHO_E_UNSUPPORTED);
            continue;
        }
        CHECK_EQ(process_variant(in.p, in.len, &p, NULL, &nolimit, &r), KHO_OK);
        CHECK_STR(r.mime, mimes[f]);
        CHECK_STR(vips_foreign_find_load_buffer(r.data, r.len), loaders[f]);
        VipsImage *img = load(r.data, r.len);
        process_result_free(&r);
        CHECK(img);
        bool ok = vips_image_get_width(img) == 320 && vips_image_get_height(img) == 240 &&
                  vips_image_get_bands(img) == 3 && vips_image_get_format(img) == VIPS_FORMAT_UCHAR;
        double v[4];
        at(img, 40, 40, v);
        ok = ok && near(v, 255, 0, 0, 24);
        g_object_unref(img);
        CHECK(ok);
    }
    g_free(in.p);
}

static void test_quality(void)
{
    struct blob in = save(paint(640, 480, 3, gradient), "png");
    for (int f = PROCESS_JPEG; f <= PROCESS_AVIF; f++) {
        if (f == PROCESS_PNG || !process_format_available((enum process_format)f))
            continue;
        struct process_params p = params(320, 0, PROCESS_CONTAIN, (enum process_format)f);
        struct process_result lo, hi, def;
        p.quality = 20;
        CHECK_EQ(process_variant(in.p, in.len, &p, NULL, &nolimit, &lo), KHO_OK);
        p.quality = 95;
        CHECK_EQ(process_variant(in.p, in.len, &p, NULL, &nolimit, &hi), KHO_OK);
        p.quality = 0;
        CHECK_EQ(process_variant(in.p, in.len, &p, NULL, &nolimit, &def), KHO_OK);
        bool ok = lo.len < def.len && def.len < hi.len;
        if (!ok)
            fprintf(stderr, "  %s: q20 %zu, default %zu, q95 %zu bytes\n", process_format_name(f),
                    lo.len, def.len, hi.len);
        process_result_free(&lo);
        process_result_free(&hi);
        process_result_free(&def);
        CHECK(ok);
    }
    g_free(in.p);
}

/* The stored pixels for each EXIF orientation, so that applying the orientation gives back
 * the upright image: the inverse of each orientation's transform. */
static VipsImage *stored_for(VipsImage *up, int o)
{
    VipsImage *a = NULL, *b = NULL;
    int r = 0;
    switch (o) {
    case 1:
        r = vips_copy(up, &b, NULL);
        break;
    case 2:
        r = vips_flip(up, &b, VIPS_DIRECTION_HORIZONTAL, NULL);
        break;
    case 3:
        r = vips_rot(up, &b, VIPS_ANGLE_D180, NULL);
        break;
    case 4:
        r = vips_flip(up, &b, VIPS_DIRECTION_VERTICAL, NULL);
        break;
    case 5: /* transpose */
        r = vips_rot(up, &a, VIPS_ANGLE_D90, NULL) ||
            vips_flip(a, &b, VIPS_DIRECTION_HORIZONTAL, NULL);
        break;
    case 6: /* displayed turned 90 degrees clockwise */
        r = vips_rot(up, &b, VIPS_ANGLE_D270, NULL);
        break;
    case 7: /* transverse */
        r = vips_rot(up, &a, VIPS_ANGLE_D270, NULL) ||
            vips_flip(a, &b, VIPS_DIRECTION_HORIZONTAL, NULL);
        break;
    case 8:
        r = vips_rot(up, &b, VIPS_ANGLE_D90, NULL);
        break;
    }
    if (a)
        g_object_unref(a);
    if (r)
        abort();
    vips_image_set_int(b, VIPS_META_ORIENTATION, o);
    return b;
}

static void test_orientation(void)
{
    VipsImage *up = paint(120, 80, 3, quadrants);
    for (int o = 1; o <= 8; o++) {
        struct blob in = save(stored_for(up, o), "jpeg");
        struct process_params p = params(60, 60, PROCESS_CONTAIN, PROCESS_PNG);
        struct process_result r;
        double tl[4], tr[4], bl[4], br[4];
        CHECK_EQ(process_variant(in.p, in.len, &p, NULL, &nolimit, &r), KHO_OK);
        g_free(in.p);
        VipsImage *img = load(r.data, r.len);
        process_result_free(&r);
        CHECK(img);
        bool size = vips_image_get_width(img) == 60 && vips_image_get_height(img) == 40;
        at(img, 10, 8, tl);
        at(img, 50, 8, tr);
        at(img, 10, 32, bl);
        at(img, 50, 32, br);
        g_object_unref(img);
        if (!size || !near(tl, 255, 0, 0, 40) || !near(tr, 0, 255, 0, 40) ||
            !near(bl, 0, 0, 255, 40) || !near(br, 255, 255, 255, 40)) {
            fprintf(stderr, "  orientation %d is not upright\n", o);
            g_object_unref(up);
            CHECK(false);
        }
    }
    g_object_unref(up);
}

/* A JPEG with camera, date and GPS entries. */
static struct blob tagged_jpeg(const char *lat, const char *lat_ref, const char *lon,
                               const char *lon_ref)
{
    VipsImage *img = paint(64, 48, 3, quadrants);
    vips_image_set_string(img, "exif-ifd0-Make", "Canon");
    vips_image_set_string(img, "exif-ifd0-Model", "EOS 5D");
    vips_image_set_string(img, "exif-ifd2-DateTimeOriginal", "2021:07:04 12:34:56");
    vips_image_set_string(img, "exif-ifd0-DateTime", "2020:01:01 00:00:00");
    vips_image_set_string(img, "exif-ifd3-GPSLatitude", lat);
    vips_image_set_string(img, "exif-ifd3-GPSLatitudeRef", lat_ref);
    vips_image_set_string(img, "exif-ifd3-GPSLongitude", lon);
    vips_image_set_string(img, "exif-ifd3-GPSLongitudeRef", lon_ref);
    return save(img, "jpeg");
}

static void test_strip(void)
{
    struct blob in = tagged_jpeg("35/1 39/1 2911/100", "N", "139/1 44/1 3576/100", "E");
    VipsImage *src = load(in.p, in.len);
    CHECK(src && vips_image_get_typeof(src, VIPS_META_EXIF_NAME));
    g_object_unref(src);
    for (int f = PROCESS_JPEG; f <= PROCESS_AVIF; f++) {
        if (!process_format_available((enum process_format)f))
            continue;
        struct process_params p = params(32, 0, PROCESS_CONTAIN, (enum process_format)f);
        struct process_result r;
        struct exif_info e;
        CHECK_EQ(process_variant(in.p, in.len, &p, NULL, &nolimit, &r), KHO_OK);
        VipsImage *img = load(r.data, r.len);
        CHECK(img);
        bool clean = !vips_image_get_typeof(img, VIPS_META_EXIF_NAME) &&
                     !vips_image_get_typeof(img, "exif-ifd3-GPSLatitude") &&
                     !vips_image_get_typeof(img, VIPS_META_XMP_NAME) &&
                     !vips_image_get_typeof(img, VIPS_META_ICC_NAME);
        g_object_unref(img);
        CHECK_EQ(exif_read(r.data, r.len, &e), KHO_OK);
        process_result_free(&r);
        if (!clean || e.has_gps || e.make[0])
            fprintf(stderr, "  %s variant keeps metadata\n", process_format_name(f));
        CHECK(clean && !e.has_gps && !e.make[0]);
    }
    g_free(in.p);
}

/* Red converted to Display P3 with the profile embedded: its numbers are not red in sRGB, so
 * only a variant that goes through the profile comes out red. */
static void test_icc_profile(void)
{
    VipsImage *p3;
    double v[4];
    struct process_result r;
    struct process_params p = params(32, 0, PROCESS_CONTAIN, PROCESS_PNG);
    VipsImage *rgb = paint(64, 64, 3, red);
    CHECK_EQ(vips_icc_transform(rgb, &p3, "p3", "input_profile", "srgb", "embedded", FALSE, NULL),
             0);
    g_object_unref(rgb);
    CHECK(vips_image_get_typeof(p3, VIPS_META_ICC_NAME));
    at(p3, 5, 5, v);
    CHECK(v[1] > 30); /* the raw P3 numbers are visibly not sRGB red */
    struct blob in = save(p3, "jpeg");
    CHECK_EQ(process_variant(in.p, in.len, &p, NULL, &nolimit, &r), KHO_OK);
    g_free(in.p);
    VipsImage *img = load(r.data, r.len);
    process_result_free(&r);
    CHECK(img);
    at(img, 5, 5, v);
    g_object_unref(img);
    CHECK(near(v, 255, 0, 0, 12));
}

/* CMYK without a profile: libvips' built-in CMYK profile brings it to sRGB. */
static void test_cmyk(void)
{
    VipsImage *cmyk, *rgb = paint(64, 64, 3, red);
    double v[4];
    struct process_result r;
    struct process_params p = params(32, 0, PROCESS_CONTAIN, PROCESS_JPEG);
    CHECK_EQ(vips_icc_transform(rgb, &cmyk, "cmyk", "input_profile", "srgb", NULL), 0);
    g_object_unref(rgb);
    CHECK_EQ(vips_image_get_bands(cmyk), 4);
    void *buf;
    size_t len;
    CHECK_EQ(vips_jpegsave_buffer(cmyk, &buf, &len, "strip", TRUE, NULL), 0);
    g_object_unref(cmyk);
    VipsImage *check = load(buf, len);
    CHECK(check);
    bool is_cmyk = vips_image_get_interpretation(check) == VIPS_INTERPRETATION_CMYK &&
                   !vips_image_get_typeof(check, VIPS_META_ICC_NAME);
    g_object_unref(check);
    CHECK(is_cmyk);
    CHECK_EQ(process_variant(buf, len, &p, NULL, &nolimit, &r), KHO_OK);
    g_free(buf);
    VipsImage *img = load(r.data, r.len);
    process_result_free(&r);
    CHECK(img);
    bool three = vips_image_get_bands(img) == 3;
    at(img, 5, 5, v);
    g_object_unref(img);
    CHECK(three);
    CHECK(v[0] > 200 && v[1] < 80 && v[2] < 80);
}

/* 16-bit grey and RGB, with and without alpha, come out as 8-bit sRGB */
static void test_deep(void)
{
    for (int bands = 1; bands <= 4; bands++) {
        VipsImage *src = paint(64, 64, 4, half_alpha), *some, *deep, *tagged;
        VipsInterpretation interp =
            bands < 3 ? VIPS_INTERPRETATION_GREY16 : VIPS_INTERPRETATION_RGB16;
        CHECK_EQ(vips_extract_band(src, &some, bands < 3 ? 2 : 0, "n", bands, NULL), 0);
        g_object_unref(src);
        CHECK_EQ(vips_cast_ushort(some, &deep, NULL), 0);
        g_object_unref(some);
        CHECK_EQ(vips_copy(deep, &tagged, "interpretation", interp, NULL), 0);
        g_object_unref(deep);
        struct blob in = save(tagged, "png");
        for (int f = PROCESS_JPEG; f <= PROCESS_WEBP; f++) {
            struct process_params p = params(32, 0, PROCESS_CONTAIN, (enum process_format)f);
            struct process_result r;
            CHECK_EQ(process_variant(in.p, in.len, &p, NULL, &nolimit, &r), KHO_OK);
            VipsImage *img = load(r.data, r.len);
            process_result_free(&r);
            CHECK(img);
            int want = f == PROCESS_JPEG ? 3 : 3 + (bands % 2 == 0);
            bool ok = vips_image_get_format(img) == VIPS_FORMAT_UCHAR &&
                      vips_image_get_bands(img) == want;
            if (!ok)
                fprintf(stderr, "  %d bands to %s: %d bands, format %d\n", bands,
                        process_format_name(f), vips_image_get_bands(img),
                        vips_image_get_format(img));
            g_object_unref(img);
            CHECK(ok);
        }
        g_free(in.p);
    }
}

static void test_alpha(void)
{
    struct blob in = save(paint(200, 100, 4, half_alpha), "png");
    for (int f = PROCESS_JPEG; f <= PROCESS_AVIF; f++) {
        if (!process_format_available((enum process_format)f))
            continue;
        struct process_params p = params(100, 0, PROCESS_CONTAIN, (enum process_format)f);
        struct process_result r;
        double left[4], right[4];
        CHECK_EQ(process_variant(in.p, in.len, &p, NULL, &nolimit, &r), KHO_OK);
        VipsImage *img = load(r.data, r.len);
        process_result_free(&r);
        CHECK(img);
        int bands = vips_image_get_bands(img);
        at(img, 10, 25, left);
        at(img, 90, 25, right);
        g_object_unref(img);
        if (f == PROCESS_JPEG) {
            CHECK_EQ(bands, 3);
            CHECK(near(left, 255, 255, 255, 6)); /* flattened onto white */
            CHECK(near(right, 255, 0, 0, 30));
        } else {
            CHECK_EQ(bands, 4);
            CHECK(left[3] < 8 && right[3] > 247);
            CHECK(near(right, 255, 0, 0, 30));
        }
    }
    g_free(in.p);
}

static void test_gif_first_frame(void)
{
    VipsImage *frames = paint(40, 60, 3, quadrants), *tall;
    /* frame 0: the quadrants' top half (red, green); frame 1: bottom half (blue, white) */
    CHECK_EQ(vips_copy(frames, &tall, NULL), 0);
    g_object_unref(frames);
    vips_image_set_int(tall, VIPS_META_PAGE_HEIGHT, 30);
    struct blob in = save(tall, "gif");
    struct process_params p = params(40, 0, PROCESS_CONTAIN, PROCESS_PNG);
    struct process_result r;
    double v[4];
    CHECK_EQ(process_variant(in.p, in.len, &p, NULL, &nolimit, &r), KHO_OK);
    g_free(in.p);
    CHECK(r.width == 40 && r.height == 30);
    VipsImage *img = load(r.data, r.len);
    process_result_free(&r);
    CHECK(img);
    at(img, 5, 25, v);
    g_object_unref(img);
    CHECK(near(v, 255, 0, 0, 40));
}

static void test_heif_input(void)
{
    struct process_params p = params(100, 0, PROCESS_CONTAIN, PROCESS_JPEG);
    struct process_result r;
    void *buf;
    size_t len;
    double v[4];
    VipsImage *img = paint(200, 100, 3, quadrants);
    if (!process_format_available(PROCESS_AVIF)) {
        g_object_unref(img);
        fprintf(stderr, "  no heif/avif in this build\n");
        return;
    }
    CHECK_EQ(vips_heifsave_buffer(img, &buf, &len, "compression", VIPS_FOREIGN_HEIF_COMPRESSION_AV1,
                                  "effort", 0, NULL),
             0);
    g_object_unref(img);
    CHECK_EQ(process_variant(buf, len, &p, NULL, &nolimit, &r), KHO_OK);
    g_free(buf);
    CHECK(r.width == 100 && r.height == 50);
    img = load(r.data, r.len);
    process_result_free(&r);
    CHECK(img);
    at(img, 10, 10, v);
    g_object_unref(img);
    CHECK(near(v, 255, 0, 0, 40));
}

/* Mean absolute difference of two same-sized decoded variants over a rectangle. */
static double diff(VipsImage *a, VipsImage *b, int left, int top, int w, int h)
{
    VipsImage *ca, *cb, *d, *ad;
    double mean;
    if (vips_crop(a, &ca, left, top, w, h, NULL) || vips_crop(b, &cb, left, top, w, h, NULL) ||
        vips_subtract(ca, cb, &d, NULL) || vips_abs(d, &ad, NULL) || vips_avg(ad, &mean, NULL))
        abort();
    g_object_unref(ca);
    g_object_unref(cb);
    g_object_unref(d);
    g_object_unref(ad);
    return mean;
}

/* Variants of in with and without wm; *plain and *marked are the decoded results. */
static enum kho_err marked(struct blob in, const struct watermark *wm, VipsImage **plain,
                           VipsImage **mark)
{
    struct process_params p = params(400, 300, PROCESS_CONTAIN, PROCESS_PNG);
    struct process_result a, b;
    enum kho_err rc = process_variant(in.p, in.len, &p, NULL, &nolimit, &a);
    if (rc)
        return rc;
    rc = process_variant(in.p, in.len, &p, wm, &nolimit, &b);
    if (rc) {
        process_result_free(&a);
        return rc;
    }
    *plain = load(a.data, a.len);
    *mark = load(b.data, b.len);
    process_result_free(&a);
    process_result_free(&b);
    return *plain && *mark ? KHO_OK : KHO_E_INVALID;
}

static void test_watermark_text(void)
{
    struct blob in = save(paint(800, 600, 3, grey), "jpeg");
    /* markup characters must be drawn, not interpreted */
    struct watermark wm = {
        .text = "<b>kho</b> & co", .position = WM_SE, .opacity = 1.0, .scale = 0.3};
    VipsImage *plain, *mark;
    CHECK_EQ(marked(in, &wm, &plain, &mark), KHO_OK);
    g_free(in.p);
    bool shape = vips_image_get_bands(mark) == 3 && vips_image_get_width(mark) == 400 &&
                 vips_image_get_format(mark) == VIPS_FORMAT_UCHAR;
    /* 400x300 variant: the text is about 120 px wide, 8 px from the bottom right corner */
    double se = diff(plain, mark, 272, 262, 120, 30), nw = diff(plain, mark, 0, 0, 200, 150);
    double white = 0, dark = 0, v[4];
    for (int y = 262; y < 292; y += 2)
        for (int x = 272; x < 392; x += 2) {
            at(mark, x, y, v);
            white += v[0] > 200;
            dark += v[0] < 80;
        }
    g_object_unref(plain);
    g_object_unref(mark);
    if (se < 10 || nw != 0)
        fprintf(stderr, "  watermark: corner differs by %.1f, opposite corner by %.1f\n", se, nw);
    CHECK(shape);
    CHECK(se >= 10 && nw == 0);
    CHECK(white > 20 && dark > 20); /* white glyphs and a dark halo */
}

static void test_watermark_logo(void)
{
    struct blob in = save(paint(800, 600, 3, grey), "jpeg");
    struct blob logo = save(paint(64, 32, 4, half_alpha), "png");
    struct watermark wm = {
        .logo = logo.p, .logo_len = logo.len, .position = WM_NW, .opacity = 1.0, .scale = 0.25};
    VipsImage *plain, *mark;
    double v[4];
    CHECK_EQ(marked(in, &wm, &plain, &mark), KHO_OK);
    /* 400 px wide variant: a 100x50 logo 8 px from the top left corner, red on its right half */
    at(mark, 8 + 75, 8 + 25, v);
    bool logo_red = near(v, 255, 0, 0, 12);
    at(mark, 8 + 25, 8 + 25, v);
    bool see_through = near(v, 128, 128, 128, 12);
    double se = diff(plain, mark, 200, 150, 200, 150);
    g_object_unref(plain);
    g_object_unref(mark);
    CHECK(logo_red && see_through && se == 0);

    wm.opacity = 0.5;
    CHECK_EQ(marked(in, &wm, &plain, &mark), KHO_OK);
    at(mark, 8 + 75, 8 + 25, v);
    g_object_unref(plain);
    g_object_unref(mark);
    CHECK(near(v, 191, 64, 64, 12));
    g_free(in.p);
    g_free(logo.p);
}

static void test_watermark_invalid(void)
{
    struct blob in = save(paint(100, 100, 3, grey), "jpeg");
    struct process_params p = params(50, 0, PROCESS_CONTAIN, PROCESS_JPEG);
    struct process_result r;
    static const char junk[] = "not an image at all";
    const struct watermark bad[] = {
        {.text = "a", .logo = junk, .logo_len = 5, .opacity = 1, .scale = 0.5},
        {.opacity = 1, .scale = 0.5},
        {.text = "", .opacity = 1, .scale = 0.5},
        {.text = "   ", .opacity = 1, .scale = 0.5},
        {.text = "tab\there", .opacity = 1, .scale = 0.5},
        {.text = "\xff\xfe", .opacity = 1, .scale = 0.5},
        {.text = "a", .opacity = 1.5, .scale = 0.5},
        {.text = "a", .opacity = NAN, .scale = 0.5},
        {.text = "a", .opacity = 1, .scale = 0},
        {.text = "a", .opacity = 1, .scale = 2},
        {.text = "a", .opacity = 1, .scale = 0.5, .position = (enum watermark_position)7},
        {.logo = junk, .logo_len = sizeof(junk), .opacity = 1, .scale = 0.5},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        enum kho_err rc = process_variant(in.p, in.len, &p, &bad[i], &nolimit, &r);
        if (rc != KHO_E_INVALID)
            fprintf(stderr, "  bad watermark %zu gave %s\n", i, kho_err_name(rc));
        CHECK_EQ(rc, KHO_E_INVALID);
        CHECK(r.data == NULL);
    }
    /* tiny variants clip the watermark rather than fail */
    const struct watermark tiny = {
        .text = "a long watermark line", .position = WM_CENTER, .opacity = 1, .scale = 1};
    p.width = 4;
    CHECK_EQ(process_variant(in.p, in.len, &p, &tiny, &nolimit, &r), KHO_OK);
    CHECK(r.width == 4 && r.height == 4);
    process_result_free(&r);
    g_free(in.p);
}

static void test_params_invalid(void)
{
    struct blob in = save(paint(100, 100, 3, grey), "jpeg");
    const struct process_params bad[] = {
        params(0, 0, PROCESS_CONTAIN, PROCESS_JPEG),
        params(-1, 10, PROCESS_CONTAIN, PROCESS_JPEG),
        params(PROCESS_MAX_DIMENSION + 1, 0, PROCESS_CONTAIN, PROCESS_JPEG),
        params(10, 10, (enum process_fit)3, PROCESS_JPEG),
        params(10, 10, PROCESS_CONTAIN, (enum process_format)4),
        {.width = 10, .quality = 101},
        {.width = 10, .quality = -1},
        {.width = 10, .height = 10, .fit = PROCESS_COVER, .crop = (enum process_crop)2},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        struct process_result r;
        CHECK_EQ(process_variant(in.p, in.len, &bad[i], NULL, &nolimit, &r), KHO_E_INVALID);
        CHECK(r.data == NULL && r.len == 0);
    }
    g_free(in.p);
}

static void test_limits(void)
{
    struct blob in = save(paint(100, 100, 3, grey), "jpeg");
    struct process_params p = params(50, 0, PROCESS_CONTAIN, PROCESS_JPEG);
    struct process_limits lim = {9999, 0};
    struct process_result r;
    CHECK_EQ(process_variant(in.p, in.len, &p, NULL, &lim, &r), KHO_E_TOO_LARGE);
    lim.max_pixels = 10000;
    CHECK_EQ(process_variant(in.p, in.len, &p, NULL, &lim, &r), KHO_OK);
    process_result_free(&r);
    /* enlarging is bounded by the same limit */
    lim.max_pixels = 1000000;
    p = params(2000, 0, PROCESS_CONTAIN, PROCESS_JPEG);
    p.enlarge = true;
    CHECK_EQ(process_variant(in.p, in.len, &p, NULL, &lim, &r), KHO_E_TOO_LARGE);
    p = params(900, 900, PROCESS_COVER, PROCESS_JPEG);
    p.enlarge = true;
    CHECK_EQ(process_variant(in.p, in.len, &p, NULL, &lim, &r), KHO_OK);
    CHECK(r.width == 900 && r.height == 900);
    process_result_free(&r);
    g_free(in.p);
}

static void test_timeout(void)
{
    /* a png (no shrink-on-load) big enough to take well over a millisecond */
    struct blob in = save(paint(2400, 2400, 3, gradient), "png");
    struct process_params p = params(2000, 0, PROCESS_CONTAIN, PROCESS_WEBP);
    struct process_limits lim = {50000000, 1};
    struct process_result r;
    uint64_t t0 = mono_ns();
    CHECK_EQ(process_variant(in.p, in.len, &p, NULL, &lim, &r), KHO_E_TOO_LARGE);
    CHECK(r.data == NULL);
    uint64_t killed = mono_ns() - t0;
    /* cover crops in one go inside libvips: the deadline is noticed right after */
    p = params(300, 300, PROCESS_COVER, PROCESS_JPEG);
    CHECK_EQ(process_variant(in.p, in.len, &p, NULL, &lim, &r), KHO_E_TOO_LARGE);
    p = params(2000, 0, PROCESS_CONTAIN, PROCESS_WEBP);
    lim.timeout_ms = 60000;
    t0 = mono_ns();
    CHECK_EQ(process_variant(in.p, in.len, &p, NULL, &lim, &r), KHO_OK);
    uint64_t full = mono_ns() - t0;
    CHECK(r.width == 2000);
    process_result_free(&r);
    g_free(in.p);
    if (killed * 2 >= full)
        fprintf(stderr, "  aborted after %.0f ms, full run %.0f ms\n", killed / 1e6, full / 1e6);
    CHECK(killed * 2 < full);
}

static void test_hostile_inputs(void)
{
    struct blob jpeg = save(paint(300, 200, 3, gradient), "jpeg");
    struct blob png = save(paint(300, 200, 3, gradient), "png");
    struct blob tiff = save(paint(30, 20, 3, gradient), "tiff");
    tiff.len /= 2; /* tiff is an input format: a truncated one is what must fail */
    struct process_params p = params(100, 0, PROCESS_CONTAIN, PROCESS_JPEG);
    struct process_result r;
    static const char junk[] = "GIF89a but not really a gif at all, just text";
    char hash[PLACEHOLDER_MAX_LEN + 1];
    struct exif_info e;

    CHECK_EQ(process_variant(NULL, 0, &p, NULL, &nolimit, &r), KHO_E_INVALID);
    CHECK_EQ(process_variant(junk, sizeof(junk), &p, NULL, &nolimit, &r), KHO_E_INVALID);
    CHECK_EQ(process_variant(tiff.p, tiff.len, &p, NULL, &nolimit, &r), KHO_E_INVALID);
    CHECK_EQ(exif_read(junk, sizeof(junk), &e), KHO_E_INVALID);
    CHECK_EQ(placeholder_thumbhash(junk, sizeof(junk), hash, sizeof(hash)), KHO_E_INVALID);
    size_t cuts[] = {2, 20, 200, jpeg.len / 3, jpeg.len / 2, jpeg.len - 200};
    for (size_t i = 0; i < ARRAY_LEN(cuts); i++) {
        enum kho_err rc = process_variant(jpeg.p, cuts[i], &p, NULL, &nolimit, &r);
        if (rc != KHO_E_INVALID)
            fprintf(stderr, "  jpeg cut at %zu gave %s\n", cuts[i], kho_err_name(rc));
        CHECK_EQ(rc, KHO_E_INVALID);
        CHECK(r.data == NULL);
        CHECK_EQ(process_variant(png.p, png.len * (i + 1) / 8, &p, NULL, &nolimit, &r),
                 KHO_E_INVALID);
        CHECK_EQ(placeholder_thumbhash(jpeg.p, cuts[i], hash, sizeof(hash)), KHO_E_INVALID);
    }
    /* scrambled entropy-coded data: decoded or refused, never a crash */
    for (size_t i = jpeg.len / 2; i < jpeg.len - 2; i += 7)
        jpeg.p[i] ^= 0x5a;
    enum kho_err rc = process_variant(jpeg.p, jpeg.len, &p, NULL, &nolimit, &r);
    CHECK(rc == KHO_OK || rc == KHO_E_INVALID);
    process_result_free(&r);
    g_free(jpeg.p);
    g_free(png.p);
    g_free(tiff.p);
}

struct worker {
    struct blob in;
    int format;
    bool ok;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    w->ok = true;
    for (int i = 0; i < 6; i++) {
        struct process_params p = params(100 + i * 10, 80, PROCESS_COVER, w->format);
        struct process_result r;
        const struct watermark wm = {.text = "kho", .opacity = 0.8, .scale = 0.3};
        if (process_variant(w->in.p, w->in.len, &p, i % 2 ? &wm : NULL, &nolimit, &r) ||
            r.width != 100 + i * 10 || r.height != 80)
            w->ok = false;
        process_result_free(&r);
    }
    return NULL;
}

static void test_threads(void)
{
    struct worker w[4];
    pthread_t t[4];
    struct blob in = save(paint(640, 480, 3, quadrants), "jpeg");
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.in = in, .format = i % 3};
        CHECK_EQ(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    g_free(in.p);
    for (int i = 0; i < 4; i++)
        CHECK(w[i].ok);
}

static void test_exif(void)
{
    struct blob in = tagged_jpeg("35/1 39/1 2911/100", "N", "139/1 44/1 3576/100", "W");
    struct exif_info e;
    CHECK_EQ(exif_read(in.p, in.len, &e), KHO_OK);
    g_free(in.p);
    CHECK_STR(e.make, "Canon");
    CHECK_STR(e.model, "EOS 5D");
    CHECK_EQ(e.taken_at_ms, INT64_C(1625402096000)); /* 2021-07-04T12:34:56Z */
    CHECK(e.has_gps);
    CHECK(fabs(e.lat - (35 + 39 / 60.0 + 29.11 / 3600)) < 1e-9);
    CHECK(fabs(e.lon + (139 + 44 / 60.0 + 35.76 / 3600)) < 1e-9);

    /* no EXIF at all */
    in = save(paint(20, 20, 3, grey), "png");
    CHECK_EQ(exif_read(in.p, in.len, &e), KHO_OK);
    g_free(in.p);
    CHECK(!e.has_gps && e.taken_at_ms == 0 && !e.make[0] && !e.model[0]);
}

static void test_exif_dates(void)
{
    static const struct {
        const char *original, *plain;
        int64_t want;
    } cases[] = {
        {"2020:02:29 23:59:59", NULL, INT64_C(1583020799000)},
        {"2021:02:29 10:00:00", "2020:01:01 00:00:00", INT64_C(1577836800000)},
        {"2021:13:01 10:00:00", NULL, 0},
        {"2021:12:01 24:00:00", NULL, 0},
        {"0000:00:00 00:00:00", NULL, 0},
        {"2021-12-01 10:00:00", NULL, 0},
        {"2021:12:01 10:00", NULL, 0},
        {"1900:03:01 00:00:00", NULL, INT64_C(-2203891200000)},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        VipsImage *img = paint(16, 16, 3, grey);
        struct exif_info e;
        vips_image_set_string(img, "exif-ifd2-DateTimeOriginal", cases[i].original);
        if (cases[i].plain)
            vips_image_set_string(img, "exif-ifd0-DateTime", cases[i].plain);
        struct blob in = save(img, "jpeg");
        CHECK_EQ(exif_read(in.p, in.len, &e), KHO_OK);
        g_free(in.p);
        if (e.taken_at_ms != cases[i].want)
            fprintf(stderr, "  date '%s'\n", cases[i].original);
        CHECK_EQ(e.taken_at_ms, cases[i].want);
    }
}

static void test_exif_gps_malformed(void)
{
    static const struct {
        const char *lat, *lat_ref, *lon, *lon_ref;
        bool has;
        double lat_want, lon_want;
    } cases[] = {
        {"95/1 0/1 0/1", "S", "200/1", "E", true, -90, 180}, /* clamped */
        {"10/1 30/1", "N", "20/2", "E", true, 10.5, 10},     /* fewer components */
        {"35/0 1/1 1/1", "N", "1/1 1/1 1/1", "E", false, 0, 0},
        {"35/1 1/1 1/1", "X", "1/1 1/1 1/1", "E", false, 0, 0},
        {"35/1 1/1 1/1", "N", "1/1 1/1 1/1", "Q", false, 0, 0},
        {"4294967295/1 4294967295/1 4294967295/1", "N", "1/1", "E", true, 90, 1},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct blob in =
            tagged_jpeg(cases[i].lat, cases[i].lat_ref, cases[i].lon, cases[i].lon_ref);
        struct exif_info e;
        CHECK_EQ(exif_read(in.p, in.len, &e), KHO_OK);
        g_free(in.p);
        if (e.has_gps != cases[i].has || fabs(e.lat - cases[i].lat_want) > 1e-9 ||
            fabs(e.lon - cases[i].lon_want) > 1e-9)
            fprintf(stderr, "  gps case %zu: %d %f %f\n", i, e.has_gps, e.lat, e.lon);
        CHECK(e.has_gps == cases[i].has);
        CHECK(fabs(e.lat - cases[i].lat_want) < 1e-9 && fabs(e.lon - cases[i].lon_want) < 1e-9);
    }
}

/* A JPEG whose EXIF block is written raw, with make as IFD0's Make: libvips passes its bytes
 * through (its own writer would fold them to ASCII). */
static struct blob raw_make_jpeg(const char *make)
{
    uint8_t exif[512];
    size_t n = strlen(make) + 1;
    const uint8_t tiff[] = {
        'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x0f, 0x01, 2, 0, (uint8_t)n, (uint8_t)(n >> 8),
        0,   0,   26, 0, 0, 0, 0, 0, 0, 0};
    if (6 + sizeof(tiff) + n > sizeof(exif))
        abort();
    memcpy(exif, "Exif\0\0", 6);
    memcpy(exif + 6, tiff, sizeof(tiff));
    memcpy(exif + 6 + sizeof(tiff), make, n);
    VipsImage *img = paint(16, 16, 3, grey);
    vips_image_set_blob_copy(img, VIPS_META_EXIF_NAME, exif, 6 + sizeof(tiff) + n);
    return save(img, "jpeg");
}

static void test_exif_strings(void)
{
    struct exif_info e;
    /* control characters, a tab, DEL, a C1 control and padding go; UTF-8 stays */
    struct blob in = raw_make_jpeg("\x01 Nik\xc3\xa9on\tCorp \x7f\xc2\x85  ");
    CHECK_EQ(exif_read(in.p, in.len, &e), KHO_OK);
    g_free(in.p);
    CHECK_STR(e.make, "Nik\xc3\xa9onCorp");

    /* not UTF-8 at all: unknown, not libvips' placeholder text */
    in = raw_make_jpeg("Nikon \xff\xfe");
    CHECK_EQ(exif_read(in.p, in.len, &e), KHO_OK);
    g_free(in.p);
    CHECK_STR(e.make, "");

    /* long values are cut at a character boundary: 62 x then a 2-byte character */
    char longer[200];
    memset(longer, 'x', sizeof(longer));
    memcpy(longer + 62, "\xc3\xa9", 2);
    longer[sizeof(longer) - 1] = '\0';
    in = raw_make_jpeg(longer);
    CHECK_EQ(exif_read(in.p, in.len, &e), KHO_OK);
    g_free(in.p);
    CHECK_EQ(strlen(e.make), 62);

    /* a value holding " (" as libvips renders it: "V (V, ASCII, ...)" */
    VipsImage *img = paint(16, 16, 3, grey);
    vips_image_set_string(img, "exif-ifd0-Model", "Foo (Japan) Ltd");
    in = save(img, "jpeg");
    CHECK_EQ(exif_read(in.p, in.len, &e), KHO_OK);
    g_free(in.p);
    CHECK_STR(e.model, "Foo (Japan) Ltd");
}

/* Our hash against the reference's: same length and header, AC nibbles within one step (terms
 * that are zero in exact arithmetic quantise to 7 or 8 depending on the last bit of cos()). */
static bool close_hash(const char *got, const char *want)
{
    gsize gl, wl;
    guchar *g = g_base64_decode(got, &gl), *w = g_base64_decode(want, &wl);
    size_t start = (w[2] & 0x80) ? 6 : 5;
    int off = 0;
    bool ok = gl == wl && memcmp(g, w, start) == 0;
    for (size_t i = start; ok && i < wl; i++)
        for (int k = 0; k < 8; k += 4) {
            int d = abs((g[i] >> k & 15) - (w[i] >> k & 15));
            ok = ok && d <= 1;
            off += d;
        }
    g_free(g);
    g_free(w);
    if (!ok || off > 2)
        fprintf(stderr, "  thumbhash %s, reference %s\n", got, want);
    return ok && off <= 2;
}

static void test_thumbhash_reference(void)
{
    /* base64 of rgbaToThumbHash from the reference implementation (npm thumbhash 0.1.1) on
     * the same pixels */
    static const struct {
        int w, h, bands;
        void (*fn)(int, int, int, int, uint8_t *);
        const char *want;
    } cases[] = {
        {100, 75, 3, gradient, "3wcKNZqAh4eAiHeIeHiHiICACPh3"},
        {60, 80, 4, gradient_alpha, "3/eFHAwXgAeHeJmXCAh3cI+nM3dnWQwjCg=="},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct blob in = save(paint(cases[i].w, cases[i].h, cases[i].bands, cases[i].fn), "png");
        char hash[PLACEHOLDER_MAX_LEN + 1];
        CHECK_EQ(placeholder_thumbhash(in.p, in.len, hash, sizeof(hash)), KHO_OK);
        g_free(in.p);
        CHECK(close_hash(hash, cases[i].want));
    }
}

static void test_thumbhash_colours(void)
{
    char hash[PLACEHOLDER_MAX_LEN + 1];
    uint8_t rgba[4];
    struct blob in = save(paint(400, 300, 3, red), "jpeg");
    CHECK_EQ(placeholder_thumbhash(in.p, in.len, hash, sizeof(hash)), KHO_OK);
    CHECK_EQ(placeholder_thumbhash(in.p, in.len, hash, PLACEHOLDER_MAX_LEN), KHO_E_INVALID);
    g_free(in.p);
    CHECK(strlen(hash) % 4 == 0 && strlen(hash) <= PLACEHOLDER_MAX_LEN);
    CHECK_EQ(placeholder_decode_average(hash, rgba), KHO_OK);
    CHECK(rgba[0] > 230 && rgba[1] < 25 && rgba[2] < 25 && rgba[3] == 255);

    in = save(paint(300, 400, 3, grey), "png");
    CHECK_EQ(placeholder_thumbhash(in.p, in.len, hash, sizeof(hash)), KHO_OK);
    g_free(in.p);
    CHECK_EQ(placeholder_decode_average(hash, rgba), KHO_OK);
    CHECK(abs(rgba[0] - 128) < 6 && abs(rgba[1] - 128) < 6 && abs(rgba[2] - 128) < 6);

    /* half transparent: the average keeps the colour of the opaque half and about half alpha */
    in = save(paint(200, 100, 4, half_alpha), "png");
    CHECK_EQ(placeholder_thumbhash(in.p, in.len, hash, sizeof(hash)), KHO_OK);
    g_free(in.p);
    CHECK_EQ(placeholder_decode_average(hash, rgba), KHO_OK);
    CHECK(rgba[0] > 230 && rgba[1] < 25 && abs(rgba[3] - 128) < 20);

    /* gradients of different directions give different hashes around the same average */
    char across[PLACEHOLDER_MAX_LEN + 1];
    VipsImage *g = paint(200, 150, 3, gradient), *turned;
    CHECK_EQ(vips_rot(g, &turned, VIPS_ANGLE_D90, NULL), 0);
    in = save(g, "png");
    CHECK_EQ(placeholder_thumbhash(in.p, in.len, hash, sizeof(hash)), KHO_OK);
    g_free(in.p);
    in = save(turned, "png");
    CHECK_EQ(placeholder_thumbhash(in.p, in.len, across, sizeof(across)), KHO_OK);
    g_free(in.p);
    CHECK(strcmp(hash, across) != 0);

    static const char *const bad[] = {
        "", "abc", "AAAA", "!!!!!!!!", "AAAAAAA=A", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        CHECK_EQ(placeholder_decode_average(bad[i], rgba), KHO_E_INVALID);
}

T_MAIN("process", T(test_contain), T(test_cover), T(test_cover_centre_pixels), T(test_fill),
       T(test_formats), T(test_quality), T(test_orientation), T(test_strip), T(test_icc_profile),
       T(test_cmyk), T(test_deep), T(test_alpha), T(test_gif_first_frame), T(test_heif_input),
       T(test_watermark_text), T(test_watermark_logo), T(test_watermark_invalid),
       T(test_params_invalid), T(test_limits), T(test_timeout), T(test_hostile_inputs),
       T(test_threads), T(test_exif), T(test_exif_dates), T(test_exif_gps_malformed),
       T(test_exif_strings), T(test_thumbhash_reference), T(test_thumbhash_colours))
