/* Image probing: own header and structure parsers for jpeg, png, gif and webp (libvips takes
 * 80-400 us to open a header, these take well under one), libvips for heif/avif and for
 * naming formats we refuse. */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <vips/vips.h>
#include "image/probe.h"
#include "core/kho.h"

enum format { F_UNKNOWN, F_JPEG, F_PNG, F_GIF, F_WEBP, F_HEIF, F_TIFF };

/* What a parser learns; frames and sizes are 64-bit so that no file can overflow them. */
struct shape {
    int64_t width, height, frames;
    bool alpha;
    bool avif; /* heif family only: AV1 rather than HEVC brand */
};

static pthread_once_t vips_once = PTHREAD_ONCE_INIT;
static enum kho_err vips_state = KHO_E_BACKEND;
static bool heif_available;

static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

static uint32_t be16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le16(const uint8_t *p)
{
    return (uint32_t)p[1] << 8 | p[0];
}

static uint32_t le24(const uint8_t *p)
{
    return (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | le24(p);
}

/* libvips logs warnings about bad input files from any thread; they belong with our logs. */
static void forward_vips_log(const gchar *domain, GLogLevelFlags level, const gchar *message,
                             gpointer user)
{
    (void)domain;
    (void)level;
    (void)user;
    log_debug("libvips: %s", message);
}

/* libvips' error buffer is process-wide: take its text (the copy also clears it) into the
 * debug log, never towards a client. */
void probe_vips_log(enum log_level level, const char *what)
{
    char *msg = vips_error_buffer_copy();
    log_msg(level, "%s: %s", what, msg);
    g_free(msg);
}

static void vips_start(void)
{
    static const char *const allowed[] = {"VipsForeignLoadJpeg", "VipsForeignLoadPng",
                                          "VipsForeignLoadWebp", "VipsForeignLoadNsgif",
                                          "VipsForeignLoadHeif", "VipsForeignLoadTiff"};
    if (VIPS_INIT("kho") != 0) {
        probe_vips_log(LOG_DEBUG, "cannot start libvips");
        return;
    }
    g_log_set_handler("VIPS", G_LOG_LEVEL_MASK, forward_vips_log, NULL);
    vips_block_untrusted_set(TRUE);
    /* loaders outside the allow-list stay blocked even if some later code sniffs with libvips */
    vips_operation_block_set("VipsForeignLoad", TRUE);
    for (size_t i = 0; i < ARRAY_LEN(allowed); i++)
        vips_operation_block_set(allowed[i], FALSE);
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
    vips_cache_set_max_files(0);
    vips_concurrency_set(1);
    heif_available = vips_type_find("VipsOperation", "heifload_buffer") != 0;
    vips_state = KHO_OK;
}

enum kho_err probe_init(void)
{
    pthread_once(&vips_once, vips_start);
    return vips_state;
}

/* ---- jpeg ---- */

static bool jpeg_is_sof(unsigned m)
{
    return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
}

/* Baseline, extended and progressive, Huffman or arithmetic: what libjpeg-turbo 2 decodes. */
static bool jpeg_sof_decodable(unsigned m)
{
    return m == 0xc0 || m == 0xc1 || m == 0xc2 || m == 0xc9 || m == 0xca;
}

/* Position of the marker that ends the entropy-coded data starting at p, or len. Inside it,
 * 0xff is followed by 0x00 (a stuffed byte) or a restart marker. */
static size_t jpeg_skip_scan(const uint8_t *d, size_t len, size_t p)
{
    while (p < len) {
        const uint8_t *q = memchr(d + p, 0xff, len - p);
        if (!q)
            return len;
        size_t i = (size_t)(q - d);
        if (i + 1 >= len)
            return len;
        if (d[i + 1] != 0x00 && (d[i + 1] < 0xd0 || d[i + 1] > 0xd7))
            return i;
        p = i + 2;
    }
    return len;
}

static enum kho_err jpeg_sof(const uint8_t *seg, size_t seglen, unsigned marker, struct shape *s,
                             const char **why)
{
    if (seglen < 8) {
        *why = "malformed jpeg";
        return KHO_E_INVALID;
    }
    unsigned components = seg[7];
    if (!jpeg_sof_decodable(marker) || seg[2] != 8 ||
        (components != 1 && components != 3 && components != 4)) {
        *why = "unsupported jpeg variant";
        return KHO_E_UNSUPPORTED;
    }
    s->height = be16(seg + 3);
    s->width = be16(seg + 5);
    if (s->width == 0 || s->height == 0) {
        *why = "malformed jpeg"; /* a zero height means a DNL marker, which libjpeg refuses */
        return KHO_E_INVALID;
    }
    s->frames = 1;
    return KHO_OK;
}

/* Walk the marker segments to the frame header and the first scan; then the file is complete
 * if it ends with EOI (the common case, O(1)), or else if an EOI follows the remaining scans
 * (trailing data, O(n)). */
static enum kho_err probe_jpeg(const uint8_t *d, size_t len, struct shape *s, const char **why)
{
    size_t p = 2;
    bool have_sof = false, in_scan = false;
    enum kho_err rc;
    for (;;) {
        if (in_scan)
            p = jpeg_skip_scan(d, len, p);
        if (p >= len)
            goto truncated;
        if (d[p] != 0xff)
            goto malformed;
        while (p < len && d[p] == 0xff) /* fill bytes */
            p++;
        if (p >= len)
            goto truncated;
        unsigned m = d[p++];
        if (m == 0xd9) {
            if (have_sof && in_scan)
                return KHO_OK;
            goto malformed;
        }
        if (m == 0x01)
            continue;
        if (m == 0x00 || m == 0xd8 || (m >= 0xd0 && m <= 0xd7))
            goto malformed;
        if (len - p < 2)
            goto truncated;
        size_t seglen = be16(d + p);
        if (seglen < 2)
            goto malformed;
        if (seglen > len - p)
            goto truncated;
        if (jpeg_is_sof(m) && !have_sof) {
            rc = jpeg_sof(d + p, seglen, m, s, why);
            if (rc)
                return rc;
            have_sof = true;
        }
        p += seglen;
        if (m == 0xda) {
            if (!have_sof)
                goto malformed;
            if (!in_scan && len - p >= 2 && d[len - 2] == 0xff && d[len - 1] == 0xd9)
                return KHO_OK;
            in_scan = true;
        }
    }
truncated:
    *why = "truncated jpeg";
    return KHO_E_INVALID;
malformed:
    *why = "malformed jpeg";
    return KHO_E_INVALID;
}

/* ---- png ---- */

static bool png_type_is(const uint8_t *chunk, const char *type)
{
    return memcmp(chunk + 4, type, 4) == 0;
}

/* The bit depths the PNG specification allows for each colour type. */
static bool png_depth_valid(unsigned type, unsigned depth)
{
    switch (type) {
    case 0:
        return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
    case 3:
        return depth == 1 || depth == 2 || depth == 4 || depth == 8;
    case 2:
    case 4:
    case 6:
        return depth == 8 || depth == 16;
    default:
        return false;
    }
}

/* Walk every chunk (lengths only, so O(chunks)): IHDR first, IDAT present, IEND last and
 * ending the file. */
static enum kho_err probe_png(const uint8_t *d, size_t len, struct shape *s, const char **why)
{
    if (len < 8 + 25)
        goto truncated;
    const uint8_t *ihdr = d + 8;
    if (be32(ihdr) != 13 || !png_type_is(ihdr, "IHDR"))
        goto malformed;
    s->width = be32(ihdr + 8);
    s->height = be32(ihdr + 12);
    unsigned depth = ihdr[16], type = ihdr[17];
    if (s->width == 0 || s->height == 0 || s->width > INT32_MAX || s->height > INT32_MAX ||
        !png_depth_valid(type, depth) || ihdr[18] != 0 || ihdr[19] != 0 || ihdr[20] > 1)
        goto malformed;
    s->frames = 1;
    s->alpha = type == 4 || type == 6;
    bool idat = false;
    size_t p = 8 + 25;
    while (len - p >= 12) {
        const uint8_t *c = d + p;
        size_t clen = be32(c);
        if (clen > INT32_MAX)
            goto malformed;
        if (clen > len - p - 12)
            goto truncated;
        p += 12 + clen;
        if (png_type_is(c, "IDAT")) {
            idat = true;
        } else if (png_type_is(c, "tRNS")) {
            s->alpha = true;
        } else if (png_type_is(c, "IEND")) {
            if (!idat || p != len)
                goto malformed;
            return KHO_OK;
        }
    }
truncated:
    *why = "truncated png";
    return KHO_E_INVALID;
malformed:
    *why = "malformed png";
    return KHO_E_INVALID;
}

/* ---- gif ---- */

/* Skip a chain of data sub-blocks at *p up to and including its terminator. */
static bool gif_skip_blocks(const uint8_t *d, size_t len, size_t *p)
{
    size_t q = *p;
    for (;;) {
        if (q >= len)
            return false;
        size_t n = d[q++];
        if (n == 0)
            break;
        if (n > len - q)
            return false;
        q += n;
    }
    *p = q;
    return true;
}

/* libnsgif (libvips' decoder) treats these screen sizes as bogus, shrinks the screen to 1x1
 * and lets the first frame grow it: copy it so the size we report is the size decoded. */
static bool gif_bogus_screen(int64_t w, int64_t h)
{
    static const uint16_t common[][2] = {{640, 480},  {640, 512},   {800, 600},
                                         {1024, 768}, {1280, 1024}, {1600, 1200}};
    for (size_t i = 0; i < ARRAY_LEN(common); i++)
        if (w == common[i][0] && h == common[i][1])
            return true;
    return w == 0 || h == 0 || w > 2048 || h > 2048;
}

/* Walk every block to the trailer, counting frames: O(size / 255). */
static enum kho_err probe_gif(const uint8_t *d, size_t len, struct shape *s, const char **why)
{
    if (len < 13)
        goto truncated;
    s->width = le16(d + 6);
    s->height = le16(d + 8);
    if (gif_bogus_screen(s->width, s->height))
        s->width = s->height = 1;
    size_t p = 13;
    if (d[10] & 0x80) {
        size_t table = (size_t)3 << ((d[10] & 7) + 1);
        if (table > len - p)
            goto truncated;
        p += table;
    }
    s->frames = 0;
    while (p < len) {
        uint8_t block = d[p++];
        if (block == 0x3b) {
            if (s->frames == 0 || p != len)
                goto malformed;
            return KHO_OK;
        }
        if (block == 0x21) {
            if (p >= len)
                goto truncated;
            uint8_t label = d[p++];
            /* graphic control: size byte 4, then packed fields whose bit 0 is transparency */
            if (label == 0xf9 && len - p >= 2 && d[p] == 4 && (d[p + 1] & 1))
                s->alpha = true;
            if (!gif_skip_blocks(d, len, &p))
                goto truncated;
        } else if (block == 0x2c) {
            if (len - p < 9)
                goto truncated;
            int64_t right = (int64_t)le16(d + p) + le16(d + p + 4);
            int64_t bottom = (int64_t)le16(d + p + 2) + le16(d + p + 6);
            uint8_t flags = d[p + 8];
            p += 9;
            if (s->frames == 0) {
                s->width = right > s->width ? right : s->width;
                s->height = bottom > s->height ? bottom : s->height;
            }
            if (flags & 0x80) {
                size_t table = (size_t)3 << ((flags & 7) + 1);
                if (table > len - p)
                    goto truncated;
                p += table;
            }
            if (p >= len)
                goto truncated;
            p++; /* LZW minimum code size */
            if (!gif_skip_blocks(d, len, &p))
                goto truncated;
            s->frames++;
        } else {
            goto malformed;
        }
    }
truncated:
    *why = "truncated gif";
    return KHO_E_INVALID;
malformed:
    *why = "malformed gif";
    return KHO_E_INVALID;
}

/* ---- webp ---- */

static bool fourcc_is(const uint8_t *p, const char *cc)
{
    return memcmp(p, cc, 4) == 0;
}

/* Size and alpha from a bare VP8 (lossy) or VP8L (lossless) bitstream header. */
static bool webp_bitstream(const uint8_t *chunk, size_t size, struct shape *s)
{
    const uint8_t *b = chunk + 8;
    if (fourcc_is(chunk, "VP8 ")) {
        /* frame tag (key frame: bit 0 clear), start code, 14-bit width and height */
        if (size < 10 || (b[0] & 1) || b[3] != 0x9d || b[4] != 0x01 || b[5] != 0x2a)
            return false;
        s->width = le16(b + 6) & 0x3fff;
        s->height = le16(b + 8) & 0x3fff;
        return s->width > 0 && s->height > 0;
    }
    if (size < 5 || b[0] != 0x2f)
        return false;
    uint32_t bits = le32(b + 1);
    s->width = (bits & 0x3fff) + 1;
    s->height = (bits >> 14 & 0x3fff) + 1;
    s->alpha = bits >> 28 & 1;
    return bits >> 29 == 0;
}

/* The RIFF size must match the file; then walk the chunks (O(chunks)). */
static enum kho_err probe_webp(const uint8_t *d, size_t len, struct shape *s, const char **why)
{
    uint64_t riff_end = (uint64_t)le32(d + 4) + 8;
    if (riff_end > len) {
        *why = "truncated webp";
        return KHO_E_INVALID;
    }
    if (riff_end < len)
        goto malformed;
    bool animated = false, image = false;
    int64_t anim_frames = 0;
    size_t p = 12;
    while (p < len) {
        if (len - p < 8)
            goto malformed;
        const uint8_t *c = d + p;
        size_t size = le32(c + 4);
        if (size > len - p - 8)
            goto malformed;
        bool bitstream = fourcc_is(c, "VP8 ") || fourcc_is(c, "VP8L");
        if (p == 12) {
            if (fourcc_is(c, "VP8X")) {
                if (size < 10)
                    goto malformed;
                animated = c[8] & 0x02;
                s->alpha = c[8] & 0x10;
                s->width = (int64_t)le24(c + 12) + 1;
                s->height = (int64_t)le24(c + 15) + 1;
            } else if (!bitstream || !webp_bitstream(c, size, s)) {
                goto malformed;
            }
        } else if (fourcc_is(c, "ANMF")) {
            anim_frames++;
        }
        image |= bitstream;
        p += 8 + size + (size & 1);
    }
    /* a still image needs its bitstream (a simple file starts with it), an animation a frame */
    if (animated ? anim_frames == 0 : !image)
        goto malformed;
    s->frames = animated ? anim_frames : 1;
    return KHO_OK;
malformed:
    *why = "malformed webp";
    return KHO_E_INVALID;
}

/* ---- heif / avif ---- */

/* ISO-BMFF file type box: true when a brand names an HEIF image; *avif when one names AV1. */
static bool heif_brands(const uint8_t *d, size_t len, bool *avif)
{
    static const char *const brands[] = {"mif1", "msf1", "mif2", "heic", "heix", "heim", "heis",
                                         "hevc", "hevx", "hevm", "hevs", "avif", "avis"};
    if (len < 16 || !fourcc_is(d + 4, "ftyp"))
        return false;
    size_t size = be32(d);
    if (size < 16 || size > len)
        return false;
    bool heif = false;
    *avif = false;
    for (size_t p = 8; p + 4 <= size; p += p == 8 ? 8 : 4) { /* major brand, minor version */
        for (size_t i = 0; i < ARRAY_LEN(brands); i++) {
            if (fourcc_is(d + p, brands[i])) {
                heif = true;
                *avif |= brands[i][0] == 'a';
            }
        }
    }
    return heif;
}

/* Top-level boxes must tile the file exactly. */
static enum kho_err heif_boxes(const uint8_t *d, size_t len, const char **why)
{
    size_t p = 0;
    while (p < len) {
        if (len - p < 8)
            goto truncated;
        uint64_t size = be32(d + p), header = 8;
        if (size == 1) {
            if (len - p < 16)
                goto truncated;
            size = (uint64_t)be32(d + p + 8) << 32 | be32(d + p + 12);
            header = 16;
        } else if (size == 0) {
            size = len - p; /* the last box runs to the end of the file */
        }
        if (size < header) {
            *why = "malformed heif";
            return KHO_E_INVALID;
        }
        if (size > len - p)
            goto truncated;
        p += size;
    }
    return KHO_OK;
truncated:
    *why = "truncated heif";
    return KHO_E_INVALID;
}

static enum kho_err probe_heif(const uint8_t *d, size_t len, struct shape *s, const char **why)
{
    enum kho_err rc = probe_init();
    if (rc) {
        *why = "image decoder unavailable";
        return rc;
    }
    if (!heif_available) {
        *why = s->avif ? "unsupported image format 'avif'" : "unsupported image format 'heif'";
        return KHO_E_UNSUPPORTED;
    }
    rc = heif_boxes(d, len, why);
    if (rc)
        return rc;
    VipsImage *img = NULL;
    /* heifload reads the buffer and never writes it */
    if (vips_heifload_buffer((void *)d, len, &img, "access", VIPS_ACCESS_SEQUENTIAL, NULL)) {
        probe_vips_log(LOG_DEBUG, "heif header");
        *why = "malformed heif";
        return KHO_E_INVALID;
    }
    s->width = vips_image_get_width(img);
    s->height = vips_image_get_height(img);
    s->frames = vips_image_get_n_pages(img);
    s->alpha = vips_image_hasalpha(img);
    g_object_unref(img);
    return KHO_OK;
}

/* ---- tiff ---- */

/* TIFF has no end marker to check cheaply, and its strips may lie anywhere: the header comes
 * from libvips, then (within the pixel limit, checked first) every pixel of the first page is
 * decoded once with errors fatal, so a truncated or damaged TIFF is refused at upload. */
static enum kho_err probe_tiff(const uint8_t *d, size_t len, struct shape *s,
                               const struct probe_limits *lim, const char **why)
{
    enum kho_err rc = probe_init();
    if (rc) {
        *why = "image decoder unavailable";
        return rc;
    }
    VipsImage *img = NULL;
    if (vips_tiffload_buffer((void *)d, len, &img, "access", VIPS_ACCESS_SEQUENTIAL, "fail_on",
                             VIPS_FAIL_ON_ERROR, NULL)) {
        probe_vips_log(LOG_DEBUG, "tiff header");
        *why = "malformed tiff";
        return KHO_E_INVALID;
    }
    s->width = vips_image_get_width(img);
    s->height = vips_image_get_height(img);
    s->frames = 1; /* variants use the first page */
    s->alpha = vips_image_hasalpha(img);
    double avg;
    if (s->width <= lim->max_dimension && s->height <= lim->max_dimension &&
        s->width * s->height <= lim->max_pixels && vips_avg(img, &avg, NULL)) {
        probe_vips_log(LOG_DEBUG, "tiff pixels");
        *why = "truncated or damaged tiff";
        rc = KHO_E_INVALID;
    }
    g_object_unref(img);
    return rc;
}

/* ---- everything else ---- */

/* Name an upload we do not parse, from the libvips loader that would claim it
 * ("VipsForeignLoadTiffBuffer" -> "tiff"). */
static enum kho_err probe_other(const uint8_t *d, size_t len, struct probe_result *out,
                                const char **why)
{
    static const char prefix[] = "VipsForeignLoad";
    static const char *const ours[] = {"jpeg", "png", "webp", "nsgif", "heif", "tiff"};
    enum kho_err rc = probe_init();
    if (rc) {
        *why = "image decoder unavailable";
        return rc;
    }
    const char *loader = vips_foreign_find_load_buffer(d, len);
    if (!loader || strncmp(loader, prefix, sizeof(prefix) - 1) != 0) {
        probe_vips_log(LOG_DEBUG, "no image loader");
        *why = "not a recognised image";
        return KHO_E_INVALID;
    }
    char name[16];
    size_t n = 0;
    for (const char *c = loader + sizeof(prefix) - 1; *c && n + 1 < sizeof(name); c++) {
        if (strcmp(c, "Buffer") == 0)
            break;
        name[n++] = (char)tolower((unsigned char)*c);
    }
    name[n] = '\0';
    /* one of our formats that our own parser did not recognise is just broken */
    for (size_t i = 0; i < ARRAY_LEN(ours); i++) {
        if (strcmp(name, ours[i]) == 0) {
            *why = "not a recognised image";
            return KHO_E_INVALID;
        }
    }
    snprintf(out->why, sizeof(out->why), "unsupported image format '%s'", name);
    *why = out->why;
    return KHO_E_UNSUPPORTED;
}

static enum format sniff(const uint8_t *d, size_t len, bool *avif)
{
    if (len >= 2 && d[0] == 0xff && d[1] == 0xd8)
        return F_JPEG;
    if (len >= 8 && memcmp(d, png_sig, 8) == 0)
        return F_PNG;
    if (len >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0))
        return F_GIF;
    if (len >= 12 && fourcc_is(d, "RIFF") && fourcc_is(d + 8, "WEBP"))
        return F_WEBP;
    if (heif_brands(d, len, avif))
        return F_HEIF;
    if (len >= 8 && (memcmp(d, "II*\0", 4) == 0 || memcmp(d, "MM\0*", 4) == 0))
        return F_TIFF;
    return F_UNKNOWN;
}

static enum kho_err check_limits(const struct shape *s, const struct probe_limits *lim,
                                 struct probe_result *out, const char **why)
{
    if (s->width > lim->max_dimension || s->height > lim->max_dimension) {
        snprintf(out->why, sizeof(out->why),
                 "image is %lldx%lld pixels, over the limit of %lld per side", (long long)s->width,
                 (long long)s->height, (long long)lim->max_dimension);
    } else if (s->frames > lim->max_frames) {
        snprintf(out->why, sizeof(out->why), "image has %lld frames, over the limit of %lld",
                 (long long)s->frames, (long long)lim->max_frames);
    } else if (s->width * s->height > lim->max_pixels / s->frames) {
        /* integer division: w*h*f > max exactly when w*h > floor(max/f), without overflow */
        if (s->frames == 1)
            snprintf(out->why, sizeof(out->why),
                     "image is %lldx%lld pixels, over the limit of %lld", (long long)s->width,
                     (long long)s->height, (long long)lim->max_pixels);
        else
            snprintf(out->why, sizeof(out->why),
                     "image is %lldx%lld pixels in %lld frames, over the limit of %lld",
                     (long long)s->width, (long long)s->height, (long long)s->frames,
                     (long long)lim->max_pixels);
    } else {
        return KHO_OK;
    }
    *why = out->why;
    return KHO_E_TOO_LARGE;
}

enum kho_err probe_image(const void *data, size_t len, const struct probe_limits *lim,
                         struct probe_result *out, const char **why)
{
    static const char *const names[] = {
        [F_JPEG] = "jpeg", [F_PNG] = "png", [F_GIF] = "gif", [F_WEBP] = "webp", [F_TIFF] = "tiff"};
    static const char *const mimes[] = {[F_JPEG] = "image/jpeg", [F_PNG] = "image/png",
                                        [F_GIF] = "image/gif",   [F_WEBP] = "image/webp",
                                        [F_TIFF] = "image/tiff"};
    const uint8_t *d = data;
    struct shape s = {0};
    enum kho_err rc;
    memset(out, 0, sizeof(*out));
    *why = NULL;
    if (!d || len == 0) {
        *why = "not a recognised image";
        return KHO_E_INVALID;
    }
    enum format f = sniff(d, len, &s.avif);
    switch (f) {
    case F_JPEG:
        rc = probe_jpeg(d, len, &s, why);
        break;
    case F_PNG:
        rc = probe_png(d, len, &s, why);
        break;
    case F_GIF:
        rc = probe_gif(d, len, &s, why);
        break;
    case F_WEBP:
        rc = probe_webp(d, len, &s, why);
        break;
    case F_HEIF:
        rc = probe_heif(d, len, &s, why);
        break;
    case F_TIFF:
        rc = probe_tiff(d, len, &s, lim, why);
        break;
    default:
        return probe_other(d, len, out, why);
    }
    if (rc)
        return rc;
    rc = check_limits(&s, lim, out, why);
    if (rc)
        return rc;
    if (f == F_HEIF) {
        snprintf(out->format, sizeof(out->format), "%s", s.avif ? "avif" : "heif");
        out->mime = s.avif ? "image/avif" : "image/heif";
    } else {
        snprintf(out->format, sizeof(out->format), "%s", names[f]);
        out->mime = mimes[f];
    }
    out->width = (int)s.width;
    out->height = (int)s.height;
    out->frames = (int)s.frames;
    out->alpha = s.alpha;
    return KHO_OK;
}

void probe_formats(char *out, size_t cap)
{
    probe_init();
    snprintf(out, cap, "jpeg png webp gif tiff%s", heif_available ? " heif avif" : "");
}
