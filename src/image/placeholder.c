/* ThumbHash, written from Evan Wallace's description and reference: the image (at most
 * 100x100) becomes luminance, two chroma channels and alpha, composited over its own average
 * colour; each channel keeps a triangle of low-frequency DCT coefficients, quantised to 4 bits
 * after scaling by the channel's largest one. Layout: a 24-bit and a 16-bit header (DC terms,
 * scales, shape), an alpha byte when there is alpha, then the AC terms two per byte, low nibble
 * first. */
#include <math.h>
#include <string.h>
#include <vips/vips.h>
#include "image/placeholder.h"
#include "image/probe.h"
#include "image/process.h"
#include "core/kho.h"

#define SIDE 100     /* largest input side */
#define MAX_HASH 25  /* bytes: alpha byte + 14 + 5 + 5 + 14 AC terms */
#define MAX_AC 27    /* AC terms of the largest channel, luminance at 7x7 */
#define MIN_BASE64 8 /* the 5 header bytes */

struct channel {
    double dc, scale;
    double ac[MAX_AC];
    int n;
};

/* JavaScript's Math.round, which the reference quantises with: halves go up. */
static unsigned quant(double x)
{
    return (unsigned)floor(x + 0.5);
}

/* DCT terms (cx, cy) with cx * ny < nx * (ny - cy) of v (w x h); the AC terms end up in [0, 1]
 * after division by the largest magnitude, kept in scale. */
static void encode_channel(const double *v, int w, int h, int nx, int ny, struct channel *c)
{
    double fx[SIDE], fy[SIDE];
    c->n = 0;
    c->dc = c->scale = 0.0;
    for (int cy = 0; cy < ny; cy++) {
        for (int y = 0; y < h; y++)
            fy[y] = cos(M_PI / h * cy * (y + 0.5));
        for (int cx = 0; cx * ny < nx * (ny - cy); cx++) {
            double f = 0.0;
            for (int x = 0; x < w; x++)
                fx[x] = cos(M_PI / w * cx * (x + 0.5));
            /* the reference's order of operations: terms that are zero in exact arithmetic
             * then come out the same, and quantise to the same nibble */
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    f += v[x + y * w] * fx[x] * fy[y];
            f /= w * h;
            if (cx || cy) {
                c->ac[c->n++] = f;
                c->scale = fmax(c->scale, fabs(f));
            } else {
                c->dc = f;
            }
        }
    }
    if (c->scale > 0.0)
        for (int i = 0; i < c->n; i++)
            c->ac[i] = 0.5 + 0.5 / c->scale * c->ac[i];
}

/* Append c's AC terms as nibbles from nibble index *at. */
static void put_ac(uint8_t *hash, size_t start, int *at, const struct channel *c)
{
    for (int i = 0; i < c->n; i++, (*at)++)
        hash[start + (size_t)(*at >> 1)] |= (uint8_t)(quant(15.0 * c->ac[i]) << ((*at & 1) * 4));
}

/* ThumbHash of w x h RGBA pixels (w, h <= SIDE) into hash; returns its length. */
static size_t thumbhash(const uint8_t *rgba, int w, int h, uint8_t hash[MAX_HASH])
{
    size_t n = (size_t)w * h;
    double avg_r = 0, avg_g = 0, avg_b = 0, avg_a = 0;
    double *l = xmalloc(4 * n * sizeof(double)), *p = l + n, *q = p + n, *a = q + n;
    struct channel lc, pc, qc, ac = {0}; /* ac is only encoded with alpha */

    for (size_t i = 0; i < n; i++) {
        double alpha = rgba[4 * i + 3] / 255.0;
        avg_r += alpha / 255.0 * rgba[4 * i];
        avg_g += alpha / 255.0 * rgba[4 * i + 1];
        avg_b += alpha / 255.0 * rgba[4 * i + 2];
        avg_a += alpha;
    }
    if (avg_a > 0) {
        avg_r /= avg_a;
        avg_g /= avg_a;
        avg_b /= avg_a;
    }
    bool has_alpha = avg_a < (double)n;
    int l_limit = has_alpha ? 5 : 7; /* fewer luminance terms leave room for alpha's */
    int longest = w > h ? w : h;
    int lx = (int)quant((double)l_limit * w / longest),
        ly = (int)quant((double)l_limit * h / longest);
    lx = lx < 1 ? 1 : lx;
    ly = ly < 1 ? 1 : ly;

    /* transparent pixels take the average colour, so they do not drag the colours to black */
    for (size_t i = 0; i < n; i++) {
        double alpha = rgba[4 * i + 3] / 255.0;
        double r = avg_r * (1 - alpha) + alpha / 255.0 * rgba[4 * i];
        double g = avg_g * (1 - alpha) + alpha / 255.0 * rgba[4 * i + 1];
        double b = avg_b * (1 - alpha) + alpha / 255.0 * rgba[4 * i + 2];
        l[i] = (r + g + b) / 3;
        p[i] = (r + g) / 2 - b;
        q[i] = r - g;
        a[i] = alpha;
    }
    encode_channel(l, w, h, lx > 3 ? lx : 3, ly > 3 ? ly : 3, &lc);
    encode_channel(p, w, h, 3, 3, &pc);
    encode_channel(q, w, h, 3, 3, &qc);
    if (has_alpha)
        encode_channel(a, w, h, 5, 5, &ac);
    free(l);

    bool landscape = w > h;
    uint32_t h24 = quant(63 * lc.dc) | quant(31.5 + 31.5 * pc.dc) << 6 |
                   quant(31.5 + 31.5 * qc.dc) << 12 | quant(31 * lc.scale) << 18 |
                   (uint32_t)has_alpha << 23;
    uint32_t h16 = (uint32_t)(landscape ? ly : lx) | quant(63 * pc.scale) << 3 |
                   quant(63 * qc.scale) << 9 | (uint32_t)landscape << 15;
    size_t start = has_alpha ? 6 : 5;
    int nibbles = lc.n + pc.n + qc.n + (has_alpha ? ac.n : 0), at = 0;
    size_t len = start + (size_t)(nibbles + 1) / 2;

    memset(hash, 0, MAX_HASH);
    hash[0] = (uint8_t)h24;
    hash[1] = (uint8_t)(h24 >> 8);
    hash[2] = (uint8_t)(h24 >> 16);
    hash[3] = (uint8_t)h16;
    hash[4] = (uint8_t)(h16 >> 8);
    if (has_alpha)
        hash[5] = (uint8_t)(quant(15 * ac.dc) | quant(15 * ac.scale) << 4);
    put_ac(hash, start, &at, &lc);
    put_ac(hash, start, &at, &pc);
    put_ac(hash, start, &at, &qc);
    if (has_alpha)
        put_ac(hash, start, &at, &ac);
    return len;
}

enum kho_err placeholder_thumbhash(const void *in, size_t len, char *out, size_t cap)
{
    struct process_params p = {.width = SIDE, .height = SIDE};
    uint8_t hash[MAX_HASH];
    VipsImage *img, *t;
    enum kho_err rc;
    uint8_t *px = NULL;
    size_t n;

    if (cap < PLACEHOLDER_MAX_LEN + 1)
        return KHO_E_INVALID;
    rc = process_decode(in, len, &p, 0, &img);
    if (rc)
        return rc;
    if (!vips_image_hasalpha(img)) {
        if (vips_bandjoin_const1(img, &t, 255.0, NULL)) {
            probe_vips_log(LOG_WARN, "cannot add alpha");
            g_object_unref(img);
            return KHO_E_INVALID;
        }
        g_object_unref(img);
        img = t;
    }
    if (vips_image_get_bands(img) == 4)
        px = vips_image_write_to_memory(img, &n);
    if (!px) {
        probe_vips_log(LOG_WARN, "cannot decode image for its placeholder");
        g_object_unref(img);
        return KHO_E_INVALID;
    }
    size_t hlen = thumbhash(px, vips_image_get_width(img), vips_image_get_height(img), hash);
    g_free(px);
    g_object_unref(img);

    gchar *b64 = g_base64_encode(hash, hlen);
    size_t blen = strlen(b64);
    memcpy(out, b64, blen + 1);
    g_free(b64);
    return KHO_OK;
}

static bool base64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* glib's decoder skips what it does not know; only well-formed padded base64 gets to it. */
static bool base64_valid(const char *s, size_t n)
{
    size_t pad = 0;
    if (n % 4 != 0)
        return false;
    while (pad < 2 && pad < n && s[n - 1 - pad] == '=')
        pad++;
    for (size_t i = 0; i < n - pad; i++)
        if (!base64_char(s[i]))
            return false;
    return true;
}

enum kho_err placeholder_decode_average(const char *hash, uint8_t rgba[4])
{
    size_t n = strnlen(hash, PLACEHOLDER_MAX_LEN + 1), len;
    if (n < MIN_BASE64 || n > PLACEHOLDER_MAX_LEN || !base64_valid(hash, n))
        return KHO_E_INVALID;
    guchar *h = g_base64_decode(hash, &len);
    bool has_alpha = len >= 3 && (h[2] & 0x80);
    if (len < 5 || (has_alpha && len < 6)) {
        g_free(h);
        return KHO_E_INVALID;
    }
    uint32_t h24 = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16;
    double l = (h24 & 63) / 63.0;
    double p = ((h24 >> 6) & 63) / 31.5 - 1;
    double q = ((h24 >> 12) & 63) / 31.5 - 1;
    double a = has_alpha ? (h[5] & 15) / 15.0 : 1.0;
    g_free(h);
    /* back from l, p, q: l = (r + g + b) / 3, p = (r + g) / 2 - b, q = r - g */
    double b = l - 2.0 / 3.0 * p;
    double r = (3 * l - b + q) / 2;
    double g = r - q;
    double c[4] = {r, g, b, a};
    for (int i = 0; i < 4; i++)
        rgba[i] = (uint8_t)quant(255 * fmax(0.0, fmin(1.0, c[i])));
    return KHO_OK;
}
