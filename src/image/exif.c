/* EXIF facts through libvips' header fields ("exif-ifd0-Make"...), which it renders as text:
 * "VALUE (DESCRIPTION, FORMAT, N components, M bytes)". Values are hostile: every parser here
 * is bounded and rejects rather than guesses. */
#include <math.h>
#include <string.h>
#include <vips/vips.h>
#include "image/exif.h"
#include "image/probe.h"
#include "image/process.h"
#include "core/utf8.h"
#include "core/kho.h"

/* Room for an entry's value: far more than any real make, model, date or coordinate needs. */
#define ENTRY_MAX 1024

/* The VALUE part of an entry's text, as s[0..return). For ASCII entries DESCRIPTION repeats
 * VALUE, which may itself contain " (": when the text is "V (V, ASCII, ..." that V is taken;
 * otherwise the value ends at the first " (". */
static size_t entry_value_len(const char *s)
{
    const char *fmt = NULL, *p = strstr(s, ", ASCII, ");
    while (p) {
        fmt = p;
        p = strstr(p + 1, ", ASCII, ");
    }
    if (fmt && fmt - s >= 2 && (fmt - s) % 2 == 0) {
        size_t v = (size_t)(fmt - s - 2) / 2;
        if (s[v] == ' ' && s[v + 1] == '(' && memcmp(s, s + v + 2, v) == 0)
            return v;
    }
    p = strstr(s, " (");
    return p ? (size_t)(p - s) : strlen(s);
}

/* What libvips renders instead of an ASCII entry that is not valid UTF-8. */
#define INVALID_UTF8 "<invalid utf-8 string>"

/* The value of entry name into out (cap bytes, NUL-terminated), or false when the image has no
 * such entry or its text was not valid UTF-8. */
static bool entry(VipsImage *img, const char *name, char *out, size_t cap)
{
    const char *s;
    out[0] = '\0';
    if (!vips_image_get_typeof(img, name))
        return false;
    if (vips_image_get_string(img, name, &s)) {
        probe_vips_log(LOG_WARN, "cannot read exif entry");
        return false;
    }
    size_t n = entry_value_len(s);
    if (n == strlen(INVALID_UTF8) && memcmp(s, INVALID_UTF8, n) == 0)
        return false;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
    return true;
}

static size_t utf8_seq_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0)
        return 2;
    if ((c & 0xf0) == 0xe0)
        return 3;
    if ((c & 0xf8) == 0xf0)
        return 4;
    return 0;
}

/* Keep the printable characters of src in dst (cap bytes), dropping invalid bytes and control
 * characters, without leading or trailing spaces, cut at a character boundary. */
static void printable(const char *src, char *dst, size_t cap)
{
    size_t n = strlen(src), o = 0;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq_len((unsigned char)src[i]);
        if (l == 0 || l > n - i || !utf8_valid_text(src + i, l)) {
            i++;
            continue;
        }
        if (o + l >= cap)
            break;
        if (o > 0 || src[i] != ' ') {
            memcpy(dst + o, src + i, l);
            o += l;
        }
        i += l;
    }
    while (o > 0 && dst[o - 1] == ' ')
        o--;
    dst[o] = '\0';
}

static bool digits(const char *s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *v = *v * 10 + (s[i] - '0');
    }
    return true;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "YYYY:MM:DD HH:MM:SS", optionally followed by spaces, as UTC Unix ms; 0 when invalid. */
static int64_t parse_datetime(const char *s)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, se;
    if (strnlen(s, 20) < 19 || s[4] != ':' || s[7] != ':' || s[10] != ' ' || s[13] != ':' ||
        s[16] != ':')
        return 0;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &se))
        return 0;
    for (const char *p = s + 19; *p; p++)
        if (*p != ' ')
            return 0;
    if (y < 1800 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59)
        return 0;
    if (d > mdays[mo - 1] + (mo == 2 && leap(y)))
        return 0;
    return ((days_from_civil(y, mo, d) * 24 + h) * 60 * 60 + mi * 60 + se) * 1000;
}

/* An unsigned 32-bit decimal at *s, advancing *s. */
static bool parse_u32(const char **s, double *v)
{
    const char *p = *s;
    uint64_t n = 0;
    if (*p < '0' || *p > '9')
        return false;
    while (*p >= '0' && *p <= '9') {
        n = n * 10 + (uint64_t)(*p++ - '0');
        if (n > UINT32_MAX)
            return false;
    }
    *v = (double)n;
    *s = p;
    return true;
}

/* "d/1 m/1 s/100" (1 to 3 rationals) as degrees. */
static bool parse_dms(const char *s, double *deg)
{
    double scale = 1.0, sum = 0.0;
    for (int i = 0; i < 3; i++) {
        double num, den;
        if (!parse_u32(&s, &num) || *s++ != '/' || !parse_u32(&s, &den) || den == 0.0)
            return false;
        sum += num / den / scale;
        scale *= 60.0;
        if (*s == '\0')
            break;
        if (*s++ != ' ' || i == 2)
            return false;
    }
    if (!isfinite(sum))
        return false;
    *deg = sum;
    return true;
}

/* One coordinate: value entry, reference entry (pos or neg letter), clamped to +-limit. */
static bool coordinate(VipsImage *img, const char *name, const char *ref_name, char pos, char neg,
                       double limit, double *out)
{
    char v[ENTRY_MAX], ref[16];
    double deg;
    if (!entry(img, name, v, sizeof(v)) || !parse_dms(v, &deg))
        return false;
    if (entry(img, ref_name, ref, sizeof(ref))) {
        if (ref[0] == neg)
            deg = -deg;
        else if (ref[0] != pos)
            return false;
    }
    *out = fmax(-limit, fmin(limit, deg));
    return true;
}

enum kho_err exif_read(const void *in, size_t len, struct exif_info *out)
{
    char v[ENTRY_MAX];
    VipsImage *img;
    enum kho_err rc;

    memset(out, 0, sizeof(*out));
    if (!in || len == 0)
        return KHO_E_INVALID;
    rc = probe_init();
    if (rc)
        return rc;
    img = vips_image_new_from_buffer((void *)in, len, "", "access", VIPS_ACCESS_SEQUENTIAL, NULL);
    if (!img) {
        probe_vips_log(LOG_WARN, "cannot read image header");
        return KHO_E_INVALID;
    }
    if (entry(img, "exif-ifd0-Make", v, sizeof(v)))
        printable(v, out->make, sizeof(out->make));
    if (entry(img, "exif-ifd0-Model", v, sizeof(v)))
        printable(v, out->model, sizeof(out->model));
    if (entry(img, "exif-ifd2-DateTimeOriginal", v, sizeof(v)))
        out->taken_at_ms = parse_datetime(v);
    if (out->taken_at_ms == 0 && entry(img, "exif-ifd0-DateTime", v, sizeof(v)))
        out->taken_at_ms = parse_datetime(v);
    out->has_gps = coordinate(img, "exif-ifd3-GPSLatitude", "exif-ifd3-GPSLatitudeRef", 'N', 'S',
                              90.0, &out->lat) &&
                   coordinate(img, "exif-ifd3-GPSLongitude", "exif-ifd3-GPSLongitudeRef", 'E', 'W',
                              180.0, &out->lon);
    if (!out->has_gps)
        out->lat = out->lon = 0.0;
    g_object_unref(img);
    return KHO_OK;
}
