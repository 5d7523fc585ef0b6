/* Camera facts from an image's EXIF block: capture time, make, model and GPS position, read
 * from the header alone and parsed defensively (every byte of it comes from the uploader). */
#ifndef KHO_IMAGE_EXIF_H
#define KHO_IMAGE_EXIF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/err.h"

struct exif_info {
    int64_t taken_at_ms; /* capture time as Unix ms, read as UTC (EXIF has no zone); 0 unknown */
    /* printable UTF-8 (control characters dropped), trimmed, truncated at a character; ""
     * unknown, also when the entry is not valid UTF-8 */
    char make[64], model[64];
    bool has_gps;
    double lat, lon; /* degrees, south and west negative, within [-90, 90] and [-180, 180] */
};

/* Read the EXIF facts of the image in in[0..len) (jpeg, png, webp or heif) into *out.
 * DateTimeOriginal is used for taken_at_ms, or DateTime when it is missing or invalid; a date
 * that is not "YYYY:MM:DD HH:MM:SS" with a real calendar day and time in years 1800-9999 counts
 * as unknown. GPS needs both latitude and longitude as 1 to 3 unsigned rationals (degrees,
 * minutes, seconds) with non-zero denominators and, when present, references N/S and E/W;
 * anything else leaves has_gps false. Missing or malformed fields are left empty: only an
 * unreadable image is an error (KHO_E_INVALID; KHO_E_BACKEND when libvips cannot start), and
 * *out is zeroed then. Thread-safe; the caller keeps in. */
enum kho_err exif_read(const void *in, size_t len, struct exif_info *out);

#endif
