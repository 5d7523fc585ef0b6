/* API keys for scripts and the CLI: "kho_" and 64 lower-case hex digits (256 random bits),
 * shown once and stored only as their SHA-256; and the throttle that keeps recording a key's
 * last use down to one database write per key per hour. */
#ifndef KHO_AUTH_APIKEY_H
#define KHO_AUTH_APIKEY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define APIKEY_PREFIX "kho_"
#define APIKEY_PREFIX_LEN 4
#define APIKEY_BYTES 32
#define APIKEY_LEN (APIKEY_PREFIX_LEN + 2 * APIKEY_BYTES) /* 68 */
#define APIKEY_SHOWN_LEN (APIKEY_PREFIX_LEN + 8)          /* what listings show: "kho_ab12cd34" */
#define APIKEY_TOUCH_EVERY_MS (3600 * 1000)

/* A fresh key: APIKEY_LEN characters and a NUL. Aborts only where random_bytes does. */
void apikey_new(char out[APIKEY_LEN + 1]);

/* True when t[0..len) is exactly a key apikey_new could have made. Check this before any
 * lookup so that garbage never reaches the database. Session tokens (43 characters of
 * base64url, which may begin "kho_" by chance) never pass, so this also tells the two apart. */
bool apikey_well_formed(const char *t, size_t len);

/* The part of a well-formed key that listings show (APIKEY_SHOWN_LEN characters and a NUL). */
void apikey_shown(const char *key, char out[APIKEY_SHOWN_LEN + 1]);
/* The stored form of a well-formed key: lower-case hex SHA-256 (64 digits and a NUL). */
void apikey_hash(const char *key, char hex[65]);

/* Which keys' uses are worth writing down. A fixed table in memory (never grown) remembers,
 * per slot, the last key whose use was written and when, so a burst of requests with one key
 * yields one write however many arrive before that write lands. Thread-safe. */
struct apikey_touches;

/* Never NULL; free with apikey_touches_free (NULL is fine). */
struct apikey_touches *apikey_touches_new(void);
void apikey_touches_free(struct apikey_touches *t);

/* Whether the caller should record now (unix ms) as key id's last use, given last_used, what
 * the store holds (0: never). False when last_used is under APIKEY_TOUCH_EVERY_MS old, or when
 * this process said true for id less than that long ago; true otherwise, and then it counts
 * as said. Two keys sharing a slot only cost an extra write now and then. */
bool apikey_touch_due(struct apikey_touches *t, uint64_t id, int64_t last_used, int64_t now);

#endif
