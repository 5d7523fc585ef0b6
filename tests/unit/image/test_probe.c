/* Unit tests for src/image/probe.c: images made with libvips itself are probed, cross-checked
 * against libvips' own header reading, truncated, padded, patched and timed. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <vips/vips.h>
#include "image/probe.h"
#include "core/kho.h"
#include "t.h"

struct blob {
    uint8_t *p;
    size_t len;
};

static const struct probe_limits lim = {50000000, 30000, 256};

static VipsImage *noise(int w, int h, int bands)
{
    VipsImage *b[4], *out;
    if (probe_init())
        abort();
    for (int i = 0; i < bands; i++) {
        VipsImage *n;
        if (vips_gaussnoise(&n, w, h, "sigma", 60.0, NULL) || vips_cast_uchar(n, &b[i], NULL))
            abort();
        g_object_unref(n);
    }
    if (vips_bandjoin(b, &out, bands, NULL))
        abort();
    for (int i = 0; i < bands; i++)
        g_object_unref(b[i]);
    return out;
}

/* frames pages of w x h stacked vertically, marked as an animation */
static VipsImage *animation(int w, int h, int bands, int frames)
{
    VipsImage *tall = noise(w, h * frames, bands), *out;
    if (vips_copy(tall, &out, NULL))
        abort();
    g_object_unref(tall);
    vips_image_set_int(out, "page-height", h);
    return out;
}

/* Save img with one of libvips' *save_buffer operations; drops img. */
static struct blob save(VipsImage *img, const char *saver, const char *opt, int val)
{
    void *buf = NULL;
    size_t len = 0;
    int r;
    if (!strcmp(saver, "jpeg"))
        r = vips_jpegsave_buffer(img, &buf, &len, opt ? opt : "Q", opt ? val : 85, NULL);
    else if (!strcmp(saver, "png"))
        r = opt ? vips_pngsave_buffer(img, &buf, &len, opt, val, NULL)
                : vips_pngsave_buffer(img, &buf, &len, NULL);
    else if (!strcmp(saver, "webp"))
        r = opt ? vips_webpsave_buffer(img, &buf, &len, opt, val, NULL)
                : vips_webpsave_buffer(img, &buf, &len, NULL);
    else if (!strcmp(saver, "gif"))
        r = vips_gifsave_buffer(img, &buf, &len, NULL);
    else if (!strcmp(saver, "tiff"))
        r = vips_tiffsave_buffer(img, &buf, &len, NULL);
    else
        r = opt ? vips_heifsave_buffer(img, &buf, &len, opt, val, NULL)
                : vips_heifsave_buffer(img, &buf, &len, NULL);
    g_object_unref(img);
    if (r) {
        fprintf(stderr, "  %s save failed: %s\n", saver, vips_error_buffer());
        vips_error_clear();
        return (struct blob){NULL, 0};
    }
    return (struct blob){buf, len};
}

/* libvips' view of the same bytes must agree with ours. */
static bool agrees_with_vips(struct blob b, const struct probe_result *r)
{
    VipsImage *img = vips_image_new_from_buffer(b.p, b.len, "", NULL);
    if (!img)
        return false;
    bool same = vips_image_get_width(img) == r->width && vips_image_get_height(img) == r->height &&
                vips_image_get_n_pages(img) == r->frames;
    if (!same)
        fprintf(stderr, "  libvips says %dx%d, %d frames; probe %dx%d, %d frames\n",
                vips_image_get_width(img), vips_image_get_height(img), vips_image_get_n_pages(img),
                r->width, r->height, r->frames);
    g_object_unref(img);
    return same;
}

static bool vips_alpha(struct blob b)
{
    VipsImage *img = vips_image_new_from_buffer(b.p, b.len, "", NULL);
    bool a = img && vips_image_hasalpha(img);
    if (img)
        g_object_unref(img);
    return a;
}

static double cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void test_init(void)
{
    CHECK_EQ(probe_init(), KHO_OK);
    CHECK_EQ(probe_init(), KHO_OK);
    /* loaders outside the allow-list are blocked process-wide (a PPM here) */
    static const char ppm[] = "P6\n2 2\n255\n\0\0\0\0\0\0\0\0\0\0\0\0";
    VipsImage *img = vips_image_new_from_buffer(ppm, sizeof(ppm) - 1, "", NULL);
    vips_error_clear();
    CHECK(img == NULL);
}

static void test_jpeg(void)
{
    struct probe_result r;
    const char *why = "unset";
    struct blob b = save(noise(320, 200, 3), "jpeg", NULL, 0);
    CHECK(b.p);
    CHECK_EQ(probe_image(b.p, b.len, &lim, &r, &why), KHO_OK);
    CHECK(why == NULL);
    CHECK_STR(r.format, "jpeg");
    CHECK_STR(r.mime, "image/jpeg");
    CHECK_EQ(r.width, 320);
    CHECK_EQ(r.height, 200);
    CHECK_EQ(r.frames, 1);
    CHECK(!r.alpha);
    CHECK(agrees_with_vips(b, &r));
    g_free(b.p);

    b = save(noise(33, 65, 1), "jpeg", "interlace", 1); /* grey, progressive */
    CHECK(b.p);
    CHECK_EQ(probe_image(b.p, b.len, &lim, &r, &why), KHO_OK);
    CHECK_EQ(r.width, 33);
    CHECK_EQ(r.height, 65);
    CHECK(agrees_with_vips(b, &r));
    g_free(b.p);
}

static void test_png(void)
{
    struct probe_result r;
    const char *why;
    VipsImage *grey8 = noise(70, 40, 2), *grey16; /* grey and alpha, 16 bits */
    if (vips_cast_ushort(grey8, &grey16, NULL))
        abort();
    g_object_unref(grey8);
    struct {
        VipsImage *img;
        const char *opt;
        int val;
        bool alpha;
    } cases[] = {
        {noise(70, 40, 3), NULL, 0, false},
        {noise(70, 40, 4), NULL, 0, true},
        {grey16, NULL, 0, true},
        {noise(70, 40, 4), "palette", 1, true},
        {noise(70, 40, 3), "palette", 1, false},
        {noise(70, 40, 1), "bitdepth", 1, false},
        {noise(70, 40, 3), "interlace", 1, false},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct blob b = save(cases[i].img, "png", cases[i].opt, cases[i].val);
        CHECK(b.p);
        CHECK_EQ(probe_image(b.p, b.len, &lim, &r, &why), KHO_OK);
        CHECK_STR(r.format, "png");
        CHECK_STR(r.mime, "image/png");
        CHECK_EQ(r.width, 70);
        CHECK_EQ(r.height, 40);
        CHECK_EQ(r.alpha, cases[i].alpha);
        CHECK_EQ(r.alpha, vips_alpha(b));
        CHECK(agrees_with_vips(b, &r));
        g_free(b.p);
    }
}

static void test_webp(void)
{
    struct probe_result r;
    const char *why;
    struct {
        VipsImage *img;
        const char *opt;
        int val;
        int frames;
        bool alpha;
    } cases[] = {
        {noise(50, 30, 3), NULL, 0, 1, false},        /* VP8 */
        {noise(50, 30, 4), "lossless", 1, 1, true},   /* VP8L with alpha */
        {noise(50, 30, 3), "lossless", 1, 1, false},  /* VP8L */
        {noise(50, 30, 4), NULL, 0, 1, true},         /* VP8X + ALPH + VP8 */
        {animation(50, 30, 3, 3), NULL, 0, 3, false}, /* VP8X + ANMF */
        {animation(50, 30, 4, 2), "lossless", 1, 2, true},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct blob b = save(cases[i].img, "webp", cases[i].opt, cases[i].val);
        CHECK(b.p);
        CHECK_EQ(probe_image(b.p, b.len, &lim, &r, &why), KHO_OK);
        CHECK_STR(r.format, "webp");
        CHECK_STR(r.mime, "image/webp");
        CHECK_EQ(r.width, 50);
        CHECK_EQ(r.height, 30);
        CHECK_EQ(r.frames, cases[i].frames);
        CHECK_EQ(r.alpha, cases[i].alpha);
        CHECK_EQ(r.alpha, vips_alpha(b));
        CHECK(agrees_with_vips(b, &r));
        g_free(b.p);
    }
}

static void test_gif(void)
{
    struct probe_result r;
    const char *why;
    struct blob b = save(noise(40, 20, 3), "gif", NULL, 0);
    CHECK(b.p);
    CHECK_EQ(probe_image(b.p, b.len, &lim, &r, &why), KHO_OK);
    CHECK_STR(r.format, "gif");
    CHECK_STR(r.mime, "image/gif");
    CHECK_EQ(r.width, 40);
    CHECK_EQ(r.height, 20);
    CHECK_EQ(r.frames, 1);
    CHECK(!r.alpha);
    CHECK(agrees_with_vips(b, &r));

    /* libnsgif distrusts some screen sizes and takes the first frame's instead */
    b.p[6] = 640 & 0xff, b.p[7] = 640 >> 8, b.p[8] = 480 & 0xff, b.p[9] = 480 >> 8;
    CHECK_EQ(probe_image(b.p, b.len, &lim, &r, &why), KHO_OK);
    CHECK_EQ(r.width, 40);
    CHECK(agrees_with_vips(b, &r));
    b.p[6] = 10, b.p[7] = 0, b.p[8] = 10, b.p[9] = 0; /* a first frame grows the screen */
    CHECK_EQ(probe_image(b.p, b.len, &lim, &r, &why), KHO_OK);
    CHECK_EQ(r.width, 40);
    CHECK_EQ(r.height, 20);
    CHECK(agrees_with_vips(b, &r));
    b.p[6] = 100, b.p[7] = 0, b.p[8] = 90, b.p[9] = 0;
    CHECK_EQ(probe_image(b.p, b.len, &lim, &r, &why), KHO_OK);
    CHECK_EQ(r.width, 100);
    CHECK_EQ(r.height, 90);
    CHECK(agrees_with_vips(b, &r));
    g_free(b.p);

    b = save(animation(24, 16, 4, 5), "gif", NULL, 0); /* transparent pixels */
    CHECK(b.p);
    CHECK_EQ(probe_image(b.p, b.len, &lim, &r, &why), KHO_OK);
    CHECK_EQ(r.width, 24);
    CHECK_EQ(r.height, 16);
    CHECK_EQ(r.frames, 5);
    CHECK(r.alpha);
    CHECK(agrees_with_vips(b, &r));
    g_free(b.p);
}

static void test_heif(void)
{
    struct probe_result r;
    const char *why;
    struct {
        int compression;
        const char *format, *mime;
    } cases[] = {
        {VIPS_FOREIGN_HEIF_COMPRESSION_HEVC, "heif", "image/heif"},
        {VIPS_FOREIGN_HEIF_COMPRESSION_AV1, "avif", "image/avif"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct blob b = save(noise(64, 48, 4), "heif", "compression", cases[i].compression);
        if (!b.p) {
            printf("  no %s encoder in this libvips: skipped\n", cases[i].format);
            continue;
        }
        CHECK_EQ(probe_image(b.p, b.len, &lim, &r, &why), KHO_OK);
        CHECK_STR(r.format, cases[i].format);
        CHECK_STR(r.mime, cases[i].mime);
        CHECK_EQ(r.width, 64);
        CHECK_EQ(r.height, 48);
        CHECK_EQ(r.frames, 1);
        CHECK(r.alpha);
        CHECK(agrees_with_vips(b, &r));
        g_free(b.p);
    }
}

/* Every prefix from the signature on must be refused as invalid. */
static bool all_prefixes_refused(struct blob b, size_t from)
{
    struct probe_result r;
    const char *why;
    for (size_t n = from; n < b.len; n++) {
        enum kho_err rc = probe_image(b.p, n, &lim, &r, &why);
        if (rc != KHO_E_INVALID || !why) {
            fprintf(stderr, "  prefix of %zu/%zu bytes: %s (%s)\n", n, b.len, kho_err_name(rc),
                    why ? why : "no reason");
            return false;
        }
    }
    return true;
}

static void test_truncated(void)
{
    struct probe_result r;
    const char *why;
    struct blob b = save(noise(48, 40, 3), "jpeg", NULL, 0);
    CHECK(all_prefixes_refused(b, 2));
    CHECK_EQ(probe_image(b.p, b.len - 1, &lim, &r, &why), KHO_E_INVALID);
    CHECK_STR(why, "truncated jpeg");
    g_free(b.p);
    b = save(noise(48, 40, 3), "jpeg", "interlace", 1);
    CHECK(all_prefixes_refused(b, 2));
    g_free(b.p);
    b = save(noise(48, 40, 4), "png", NULL, 0);
    CHECK(all_prefixes_refused(b, 8));
    CHECK_EQ(probe_image(b.p, b.len / 2, &lim, &r, &why), KHO_E_INVALID);
    CHECK_STR(why, "truncated png");
    g_free(b.p);
    b = save(animation(20, 10, 4, 3), "gif", NULL, 0);
    CHECK(all_prefixes_refused(b, 6));
    CHECK_EQ(probe_image(b.p, b.len - 1, &lim, &r, &why), KHO_E_INVALID);
    CHECK_STR(why, "truncated gif");
    g_free(b.p);
    b = save(animation(20, 10, 4, 3), "webp", NULL, 0);
    CHECK(all_prefixes_refused(b, 12));
    CHECK_EQ(probe_image(b.p, b.len - 1, &lim, &r, &why), KHO_E_INVALID);
    CHECK_STR(why, "truncated webp");
    g_free(b.p);
    b = save(noise(32, 32, 3), "heif", NULL, 0);
    if (b.p) {
        size_t cuts[] = {b.len - 1, b.len - 100, b.len / 2, 40};
        for (size_t i = 0; i < ARRAY_LEN(cuts); i++) {
            CHECK_EQ(probe_image(b.p, cuts[i], &lim, &r, &why), KHO_E_INVALID);
            CHECK_STR(why, "truncated heif");
        }
        g_free(b.p);
    }
}

static void test_trailing_bytes(void)
{
    struct probe_result r;
    const char *why;
    const char *formats[] = {"jpeg", "png", "gif", "webp"};
    for (size_t i = 0; i < ARRAY_LEN(formats); i++) {
        struct blob b = save(noise(30, 20, 3), formats[i], NULL, 0);
        CHECK(b.p);
        uint8_t *padded = xmalloc(b.len + 1000);
        memcpy(padded, b.p, b.len);
        for (size_t k = 0; k < 1000; k++)
            padded[b.len + k] = (uint8_t)(k * 7 + 1); /* never ends in FF D9 */
        enum kho_err rc = probe_image(padded, b.len + 1000, &lim, &r, &why);
        free(padded);
        g_free(b.p);
        if (i == 0) {
            /* phones append Motion Photo videos after the EOI */
            CHECK_EQ(rc, KHO_OK);
            CHECK_EQ(r.width, 30);
        } else {
            CHECK_EQ(rc, KHO_E_INVALID);
        }
    }
}

static void test_garbage(void)
{
    struct probe_result r;
    const char *why;
    uint8_t junk[4096];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 2654435761u >> 7);
    junk[0] = 0;
    const char *text = "hello, this is certainly not an image";
    CHECK_EQ(probe_image(junk, sizeof(junk), &lim, &r, &why), KHO_E_INVALID);
    CHECK_STR(why, "not a recognised image");
    CHECK_EQ(probe_image(text, strlen(text), &lim, &r, &why), KHO_E_INVALID);
    CHECK_STR(why, "not a recognised image");
    CHECK_EQ(probe_image(text, 0, &lim, &r, &why), KHO_E_INVALID);
    CHECK_EQ(probe_image(NULL, 0, &lim, &r, &why), KHO_E_INVALID);
    /* right signatures, wrong insides */
    uint8_t bad_jpeg[64] = {0xff, 0xd8, 0x00, 0x10};
    CHECK_EQ(probe_image(bad_jpeg, sizeof(bad_jpeg), &lim, &r, &why), KHO_E_INVALID);
    CHECK_STR(why, "malformed jpeg");
    uint8_t bad_png[64] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D'};
    CHECK_EQ(probe_image(bad_png, sizeof(bad_png), &lim, &r, &why), KHO_E_INVALID);
    CHECK_STR(why, "malformed png");
    uint8_t bad_gif[64] = "GIF89a\x0a\x00\x0a\x00\x00\x00\x00\x99";
    CHECK_EQ(probe_image(bad_gif, 15, &lim, &r, &why), KHO_E_INVALID);
    CHECK_STR(why, "malformed gif");
    uint8_t bad_webp[24] = "RIFF\x10\x00\x00\x00WEBPJUNK\x04\x00\x00\x00"
                           "abcd";
    CHECK_EQ(probe_image(bad_webp, sizeof(bad_webp), &lim, &r, &why), KHO_E_INVALID);
    CHECK_STR(why, "malformed webp");
    CHECK_EQ(probe_image(bad_webp, 12, &lim, &r, &why), KHO_E_INVALID); /* RIFF size 16 */
    bad_webp[4] = 4; /* a consistent RIFF with no chunk at all */
    CHECK_EQ(probe_image(bad_webp, 12, &lim, &r, &why), KHO_E_INVALID);
    CHECK_STR(why, "malformed webp");
}

static size_t put_chunk(uint8_t *p, const char *type, const uint8_t *data, uint32_t len)
{
    p[0] = (uint8_t)(len >> 24), p[1] = (uint8_t)(len >> 16), p[2] = (uint8_t)(len >> 8);
    p[3] = (uint8_t)len;
    memcpy(p + 4, type, 4);
    if (len)
        memcpy(p + 8, data, len);
    memset(p + 8 + len, 0, 4); /* CRC: the probe does not decode, so it is not read */
    return 12 + len;
}

static void test_too_large(void)
{
    struct probe_result r;
    const char *why;
    uint8_t png[128] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const uint8_t ihdr[13] = {0, 0, 0xc3, 0x50, 0, 0, 0xc3, 0x50, 8, 6, 0, 0, 0}; /* 50000^2 */
    size_t n = 8;
    n += put_chunk(png + n, "IHDR", ihdr, sizeof(ihdr));
    n += put_chunk(png + n, "IDAT", NULL, 0);
    n += put_chunk(png + n, "IEND", NULL, 0);
    double t0 = cpu_us();
    CHECK_EQ(probe_image(png, n, &lim, &r, &why), KHO_E_TOO_LARGE);
    CHECK(cpu_us() - t0 < 1000);
    CHECK_STR(why, "image is 50000x50000 pixels, over the limit of 30000 per side");
    struct probe_limits wide = {50000000, 100000, 256};
    CHECK_EQ(probe_image(png, n, &wide, &r, &why), KHO_E_TOO_LARGE);
    CHECK_STR(why, "image is 50000x50000 pixels, over the limit of 50000000");
    struct probe_limits huge = {INT64_MAX, INT64_MAX, INT64_MAX};
    CHECK_EQ(probe_image(png, n, &huge, &r, &why), KHO_OK);
    CHECK_EQ(r.width, 50000);

    struct blob b = save(animation(64, 64, 3, 3), "gif", NULL, 0);
    CHECK(b.p);
    struct probe_limits few = {50000000, 30000, 2};
    CHECK_EQ(probe_image(b.p, b.len, &few, &r, &why), KHO_E_TOO_LARGE);
    CHECK_STR(why, "image has 3 frames, over the limit of 2");
    struct probe_limits exact = {64 * 64 * 3, 64, 3};
    CHECK_EQ(probe_image(b.p, b.len, &exact, &r, &why), KHO_OK);
    exact.max_pixels--;
    CHECK_EQ(probe_image(b.p, b.len, &exact, &r, &why), KHO_E_TOO_LARGE);
    CHECK_STR(why, "image is 64x64 pixels in 3 frames, over the limit of 12287");
    exact.max_dimension = 63;
    CHECK_EQ(probe_image(b.p, b.len, &exact, &r, &why), KHO_E_TOO_LARGE);
    g_free(b.p);
}

static void test_tiff(void)
{
    struct probe_result r;
    const char *why;
    struct blob b = save(noise(40, 30, 3), "tiff", NULL, 0);
    CHECK(b.p);
    CHECK_EQ(probe_image(b.p, b.len, &lim, &r, &why), KHO_OK);
    CHECK_STR(r.format, "tiff");
    CHECK(r.width == 40 && r.height == 30);
    /* truncated pixel data is found by the decode check */
    CHECK_EQ(probe_image(b.p, b.len - 1000, &lim, &r, &why), KHO_E_INVALID);
    g_free(b.p);
}

static void test_unsupported(void)
{
    struct probe_result r;
    const char *why;
    struct blob b;

    /* 2x2 24-bit BMP */
    uint8_t bmp[70] = {'B', 'M', 70, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0,  0,
                       2,   0,   0,  0, 2, 0, 0, 0, 1, 0, 24, 0, 0, 0, 0,  0, 16, 0};
    CHECK_EQ(probe_image(bmp, sizeof(bmp), &lim, &r, &why), KHO_E_UNSUPPORTED);
    CHECK(strncmp(why, "unsupported image format '", 26) == 0);

    /* a 12-bit and a lossless jpeg: libjpeg-turbo 2 cannot decode them */
    b = save(noise(16, 16, 3), "jpeg", NULL, 0);
    CHECK(b.p);
    uint8_t *sof = NULL;
    for (size_t i = 2; i + 1 < b.len && !sof; i++)
        if (b.p[i] == 0xff && b.p[i + 1] == 0xc0)
            sof = b.p + i;
    CHECK(sof);
    sof[4] = 12;
    CHECK_EQ(probe_image(b.p, b.len, &lim, &r, &why), KHO_E_UNSUPPORTED);
    CHECK_STR(why, "unsupported jpeg variant");
    sof[4] = 8;
    sof[1] = 0xc3;
    CHECK_EQ(probe_image(b.p, b.len, &lim, &r, &why), KHO_E_UNSUPPORTED);
    sof[1] = 0xc0;
    CHECK_EQ(probe_image(b.p, b.len, &lim, &r, &why), KHO_OK);
    g_free(b.p);
}

static void test_speed(void)
{
    struct probe_result r;
    const char *why;
    struct blob b = save(noise(576, 432, 3), "jpeg", NULL, 0);
    CHECK(b.p);
    int rounds = 2000;
    double t0 = cpu_us();
    for (int i = 0; i < rounds; i++)
        CHECK_EQ(probe_image(b.p, b.len, &lim, &r, &why), KHO_OK);
    double ours = (cpu_us() - t0) / rounds;

    uint8_t *padded = xmalloc(b.len + 2);
    memcpy(padded, b.p, b.len);
    padded[b.len] = padded[b.len + 1] = 0; /* forces the walk over the scan */
    t0 = cpu_us();
    for (int i = 0; i < 200; i++)
        CHECK_EQ(probe_image(padded, b.len + 2, &lim, &r, &why), KHO_OK);
    double walked = (cpu_us() - t0) / 200;
    free(padded);

    t0 = cpu_us();
    for (int i = 0; i < 50; i++) {
        VipsImage *img =
            vips_image_new_from_buffer(b.p, b.len, "", "access", VIPS_ACCESS_SEQUENTIAL, NULL);
        CHECK(img);
        g_object_unref(img);
    }
    double vips = (cpu_us() - t0) / 50;
    printf("  %zu-byte jpeg: probe %.2f us, with trailing bytes %.1f us, libvips header %.0f us\n",
           b.len, ours, walked, vips);
    g_free(b.p);
    CHECK(ours < 20);
    CHECK(walked < 500);
}

struct worker {
    struct blob *samples;
    struct probe_result *expect;
    size_t n;
    int bad;
};

static void *probe_thread(void *arg)
{
    struct worker *w = arg;
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < w->n; i++) {
            struct probe_result r;
            const char *why;
            if (probe_image(w->samples[i].p, w->samples[i].len, &lim, &r, &why) != KHO_OK ||
                strcmp(r.format, w->expect[i].format) != 0 || r.width != w->expect[i].width ||
                r.height != w->expect[i].height || r.frames != w->expect[i].frames)
                w->bad++;
        }
    }
    return NULL;
}

static void test_threads(void)
{
    struct blob samples[] = {
        save(noise(100, 80, 3), "jpeg", NULL, 0),      save(noise(90, 70, 4), "png", NULL, 0),
        save(animation(30, 20, 3, 4), "gif", NULL, 0), save(noise(60, 50, 4), "webp", NULL, 0),
        save(noise(40, 30, 3), "heif", NULL, 0),
    };
    size_t n = ARRAY_LEN(samples);
    if (!samples[n - 1].p)
        n--; /* no heif encoder */
    struct probe_result expect[ARRAY_LEN(samples)];
    for (size_t i = 0; i < n; i++) {
        const char *why;
        CHECK(samples[i].p);
        CHECK_EQ(probe_image(samples[i].p, samples[i].len, &lim, &expect[i], &why), KHO_OK);
    }
    struct worker w[8];
    pthread_t th[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (struct worker){samples, expect, n, 0};
        pthread_create(&th[i], NULL, probe_thread, &w[i]);
    }
    int bad = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        bad += w[i].bad;
    }
    for (size_t i = 0; i < ARRAY_LEN(samples); i++)
        g_free(samples[i].p);
    CHECK_EQ(bad, 0);
}

T_MAIN("image", T(test_init), T(test_jpeg), T(test_png), T(test_webp), T(test_gif), T(test_heif),
       T(test_truncated), T(test_trailing_bytes), T(test_garbage), T(test_too_large),
       T(test_tiff), T(test_unsupported), T(test_speed), T(test_threads))
