/* Server settings: one table gives each its flag, KHO_* environment variable, default and help.
 * Precedence: flag, then environment, then default. `kho server --help` prints the table. */
#ifndef KHO_CONFIG_H
#define KHO_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "core/err.h"
#include "core/proxy.h"

struct kho_config {
    char listen[256];     /* HOST:PORT */
    char data[1024];      /* data directory */
    char db[1280];        /* metadata URL: sqlite:PATH (default under data) */
    char blob[1280];      /* blob URL: volume:DIR (default under data) */
    char access_log[1024];/* "-" for stderr, "off", or a file path */
    char log_level[16];
    int64_t threads;      /* event loops; 0 = one per core */
    int64_t workers;      /* blocking-work pool size */
    int64_t worker_queue; /* max queued jobs before 503 */
    int64_t max_upload_bytes;
    int64_t max_inflight_upload_bytes;
    int64_t max_header_bytes;
    int64_t max_json_bytes;
    int64_t max_pixels;
    int64_t max_dimension;
    int64_t max_frames;
    int64_t volume_max_bytes;
    double compact_garbage_ratio;
    int64_t compact_interval;  /* seconds between automatic compaction checks; 0 = off */
    int64_t session_ttl;       /* seconds */
    int64_t login_fail_limit;  /* failed logins per account per window */
    int64_t login_ip_fail_limit;
    int64_t login_fail_window; /* seconds */
    int64_t argon2_ops;
    int64_t argon2_mem;        /* bytes */
    int64_t keepalive_timeout; /* seconds */
    int64_t request_timeout;   /* seconds to receive a request's head and body */
    int64_t shutdown_timeout;  /* seconds to finish in-flight requests on SIGTERM */
    int64_t shard;             /* logical shard for new users, -1 = spread by username */
    bool cookie_secure;
    char role[16];            /* all, api or process */
    char process_url[512];    /* where an api node sends image processing; "" = itself */
    /* image variants (issue #3) */
    char variant_sizes[256];  /* allow-listed widths and heights, comma-separated */
    char sign_key[256];       /* HMAC key for signed variant URLs; "" = DATA/sign.key */
    int64_t process_workers;  /* image-processing threads; 0 = one per core */
    int64_t process_queue;    /* queued processing jobs before answering 503 */
    int64_t process_timeout_ms;
    int64_t thumb_wait_ms;    /* how long an upload waits for its eager thumbnail */
    char watermark_text[128];
    char watermark_logo[1024];
    char watermark_position[8];
    double watermark_opacity;
    double watermark_scale;
    /* quotas (issue #4): per user, originals only; 0 = unlimited */
    int64_t quota_bytes;
    int64_t quota_images;
    /* albums and share links (issue #4) */
    char public_url[512]; /* scheme://host[:port] clients reach kho at; "" = from Host */
    /* the record cache */
    int64_t cache_bytes;  /* in-process cache ceiling; 0 = no cache */
    int64_t cache_ttl_ms; /* how long a cached record may be served */
    int64_t db_pool;      /* connections per PostgreSQL server per node */
    char shard_map[1024]; /* logical shard ranges to --db servers, "" = equal ranges */
    char redis[512];      /* redis://HOST[:PORT] shared by the nodes; "" = no Redis */
    char trusted_proxies[1024]; /* addresses and CIDRs whose X-Forwarded-For is believed */
    struct proxy_set trusted;   /* trusted_proxies, parsed by config_load */
};

/* Fill c from defaults, then KHO_* environment variables, then argv (flags --name VALUE or
 * --name=VALUE). On error writes a message to err and returns KHO_E_INVALID. argv[0] is skipped.
 * Sets *help when --help was given. */
enum kho_err config_load(struct kho_config *c, int argc, char **argv, bool *help, FILE *err);
/* Print every setting with its flag, variable, default and help text. */
void config_usage(FILE *out);

/* Parse a size as the settings take it: bytes, or a number with a K, M, G or T suffix (powers
 * of 1024, either case). KHO_E_INVALID for anything else, a negative number or an overflow. */
enum kho_err config_parse_size(const char *v, int64_t *out);
/* A size for people, truncated to one decimal in binary units: "512 bytes", "2.1 MiB",
 * "10 GiB". Writes at most cap bytes (24 always suffice). bytes must be >= 0. */
void config_format_size(int64_t bytes, char *out, size_t cap);

#endif
