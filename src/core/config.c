/* The settings table and its parser; see config.h. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "core/config.h"

enum opt_type { OPT_STR, OPT_INT, OPT_SIZE, OPT_DOUBLE, OPT_BOOL };

struct opt {
    const char *name; /* flag without the leading dashes; env is KHO_ + upper-case name */
    enum opt_type type;
    size_t off, size;
    const char *def;
    const char *help;
};

#define S(f) OPT_STR, offsetof(struct kho_config, f), sizeof(((struct kho_config *)0)->f)
#define N(t, f) t, offsetof(struct kho_config, f), 0

static const struct opt opts[] = {
    {"listen", S(listen), "127.0.0.1:8080", "address and port to serve HTTP on"},
    {"data", S(data), "./data", "data directory (volumes, database)"},
    {"db", S(db), "", "metadata store URL; default sqlite:DATA/kho.db"},
    {"blob", S(blob), "",
     "blob store URL: volume:DIR or s3://BUCKET?endpoint=URL&region=R; default "
     "volume:DATA/volumes"},
    {"access-log", S(access_log), "-", "access log: '-' for stderr, 'off', or a file"},
    {"log-level", S(log_level), "info", "debug, info, warn or error"},
    {"threads", N(OPT_INT, threads), "0", "event loops; 0 means one per core"},
    {"workers", N(OPT_INT, workers), "16", "threads for blocking work (hashing, sync, writes)"},
    {"worker-queue", N(OPT_INT, worker_queue), "4096", "queued jobs before answering 503"},
    {"max-upload-bytes", N(OPT_SIZE, max_upload_bytes), "50M", "largest accepted upload"},
    {"max-inflight-upload-bytes", N(OPT_SIZE, max_inflight_upload_bytes), "512M",
     "upload bytes buffered across the server before answering 503"},
    {"max-header-bytes", N(OPT_SIZE, max_header_bytes), "16K", "largest request head"},
    {"max-json-bytes", N(OPT_SIZE, max_json_bytes), "64K", "largest JSON request body"},
    {"max-pixels", N(OPT_INT, max_pixels), "50000000", "largest width x height x frames"},
    {"max-dimension", N(OPT_INT, max_dimension), "30000", "largest width or height"},
    {"max-frames", N(OPT_INT, max_frames), "256", "most frames in an animated image"},
    {"volume-max-bytes", N(OPT_SIZE, volume_max_bytes), "1G", "volume size before rolling over"},
    {"compact-garbage-ratio", N(OPT_DOUBLE, compact_garbage_ratio), "0.5",
     "compact a sealed volume once this share of it is dead"},
    {"compact-interval", N(OPT_INT, compact_interval), "60",
     "seconds between automatic compaction checks; 0 turns them off"},
    {"session-ttl", N(OPT_INT, session_ttl), "2592000", "seconds a login session lasts"},
    {"login-fail-limit", N(OPT_INT, login_fail_limit), "10",
     "failed logins per account per window before 429"},
    {"login-ip-fail-limit", N(OPT_INT, login_ip_fail_limit), "50",
     "failed logins per client address per window before 429"},
    {"login-fail-window", N(OPT_INT, login_fail_window), "300", "seconds of the login window"},
    {"argon2-ops", N(OPT_INT, argon2_ops), "2", "Argon2id passes (libsodium opslimit)"},
    {"argon2-mem", N(OPT_SIZE, argon2_mem), "64M", "Argon2id memory (libsodium memlimit)"},
    {"keepalive-timeout", N(OPT_INT, keepalive_timeout), "60", "idle keep-alive seconds"},
    {"request-timeout", N(OPT_INT, request_timeout), "60",
     "seconds of silence allowed while a request is being received"},
    {"shutdown-timeout", N(OPT_INT, shutdown_timeout), "10",
     "seconds to finish in-flight requests on SIGTERM"},
    {"shard", N(OPT_INT, shard), "-1", "logical shard for new users; -1 spreads them"},
    {"cookie-secure", N(OPT_BOOL, cookie_secure), "false", "mark session cookies Secure (HTTPS)"},
    {"role", S(role), "all", "services this node runs: all, api, or process (image processing)"},
    {"process-url", S(process_url), "",
     "base URL of a process node (http://HOST:PORT) that makes variants for this api node"},
    {"variant-sizes", S(variant_sizes), "64,128,256,320,480,640,800,1024,1280,1600,1920,2048,2560,3840",
     "widths and heights variants may have without a signature"},
    {"sign-key", S(sign_key), "", "HMAC-SHA256 key for signed variant URLs; default DATA/sign.key"},
    {"process-workers", N(OPT_INT, process_workers), "0",
     "image-processing threads; 0 means one per core"},
    {"process-queue", N(OPT_INT, process_queue), "64", "queued image jobs before answering 503"},
    {"process-timeout-ms", N(OPT_INT, process_timeout_ms), "10000",
     "longest an image operation may run"},
    {"thumb-wait-ms", N(OPT_INT, thumb_wait_ms), "150",
     "longest an upload waits for its thumbnail before answering"},
    {"watermark-text", S(watermark_text), "", "text composited onto variants"},
    {"watermark-logo", S(watermark_logo), "", "PNG (with alpha) composited onto variants"},
    {"watermark-position", S(watermark_position), "se", "se, sw, ne, nw or center"},
    {"watermark-opacity", N(OPT_DOUBLE, watermark_opacity), "0.5", "watermark opacity, 0 to 1"},
    {"watermark-scale", N(OPT_DOUBLE, watermark_scale), "0.25",
     "watermark width as a share of the variant's width"},
    {"quota-bytes", N(OPT_SIZE, quota_bytes), "10G",
     "storage each user's originals may take; 0 means unlimited"},
    {"quota-images", N(OPT_INT, quota_images), "100000",
     "images each user may keep; 0 means unlimited"},
    {"public-url", S(public_url), "",
     "URL clients reach kho at (http[s]://HOST[:PORT]), for share links; default from Host"},
    {"cache-bytes", N(OPT_SIZE, cache_bytes), "64M",
     "memory for cached image records and logins; 0 turns the cache off"},
    {"cache-ttl-ms", N(OPT_INT, cache_ttl_ms), "1000",
     "longest a cached record is served: the delay before another node's change shows here"},
    {"db-pool", N(OPT_INT, db_pool), "8", "connections per PostgreSQL server per node"},
    {"shard-map", S(shard_map), "",
     "logical shards to --db servers, e.g. 0-2047=0,2048-4095=1; default equal ranges"},
    {"redis", S(redis), "",
     "redis://HOST[:PORT] shared by all nodes: record cache, login limits, variant locks"},
    {"trusted-proxies", S(trusted_proxies), "",
     "comma-separated addresses or CIDRs of proxies (the nginx edge) whose X-Forwarded-For "
     "names the client; empty trusts nobody"},
};

static enum kho_err parse_int(const char *v, bool size, int64_t *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || (size && n < 0))
        return KHO_E_INVALID;
    if (size && *end) {
        long long mul = 1;
        switch (*end) {
        case 'K': case 'k': mul = 1LL << 10; break;
        case 'M': case 'm': mul = 1LL << 20; break;
        case 'G': case 'g': mul = 1LL << 30; break;
        case 'T': case 't': mul = 1LL << 40; break;
        default: return KHO_E_INVALID;
        }
        if (end[1] || n > INT64_MAX / mul)
            return KHO_E_INVALID;
        n *= mul;
        end++;
    }
    if (*end)
        return KHO_E_INVALID;
    *out = n;
    return KHO_OK;
}

enum kho_err config_parse_size(const char *v, int64_t *out)
{
    return parse_int(v, true, out);
}

void config_format_size(int64_t bytes, char *out, size_t cap)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(out, cap, "%lld byte%s", (long long)bytes, bytes == 1 ? "" : "s");
        return;
    }
    uint64_t b = (uint64_t)bytes, unit = 1024;
    size_t u = 0;
    while (u + 1 < sizeof(units) / sizeof(units[0]) && b / unit >= 1024) {
        unit <<= 10;
        u++;
    }
    /* Truncated, not rounded: 9.96 GiB used of 10 GiB must not read as "10 GiB of 10 GiB". The
     * remainder is below unit <= 2^60, so ten times it fits in 64 bits. */
    uint64_t whole = b / unit, tenth = b % unit * 10 / unit;
    if (tenth)
        snprintf(out, cap, "%llu.%llu %s", (unsigned long long)whole, (unsigned long long)tenth,
                 units[u]);
    else
        snprintf(out, cap, "%llu %s", (unsigned long long)whole, units[u]);
}

static enum kho_err set(struct kho_config *c, const struct opt *o, const char *v, FILE *err,
                        const char *from)
{
    char *field = (char *)c + o->off;
    enum kho_err rc = KHO_OK;
    switch (o->type) {
    case OPT_STR:
        if (strlen(v) >= o->size) {
            fprintf(err, "kho: %s '%s' is too long\n", from, o->name);
            return KHO_E_INVALID;
        }
        memcpy(field, v, strlen(v) + 1);
        return KHO_OK;
    case OPT_INT:
    case OPT_SIZE:
        rc = parse_int(v, o->type == OPT_SIZE, (int64_t *)field);
        break;
    case OPT_DOUBLE: {
        char *end;
        double d = strtod(v, &end);
        if (end == v || *end || d < 0)
            rc = KHO_E_INVALID;
        else
            *(double *)field = d;
        break;
    }
    case OPT_BOOL:
        if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes"))
            *(bool *)field = true;
        else if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no"))
            *(bool *)field = false;
        else
            rc = KHO_E_INVALID;
        break;
    }
    if (rc)
        fprintf(err, "kho: invalid value '%s' for %s '%s'\n", v, from, o->name);
    return rc;
}

static void env_name(const struct opt *o, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "KHO_%s", o->name);
    for (size_t i = 4; i < n && i < cap; i++)
        out[i] = out[i] == '-' ? '_' : (char)(out[i] >= 'a' && out[i] <= 'z' ? out[i] - 32 : out[i]);
}

enum kho_err config_load(struct kho_config *c, int argc, char **argv, bool *help, FILE *err)
{
    size_t nopts = sizeof(opts) / sizeof(opts[0]);
    enum kho_err rc;
    memset(c, 0, sizeof(*c));
    *help = false;
    for (size_t i = 0; i < nopts; i++) {
        rc = set(c, &opts[i], opts[i].def, err, "default");
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < nopts; i++) {
        char env[64];
        env_name(&opts[i], env, sizeof(env));
        const char *v = getenv(env);
        if (v) {
            rc = set(c, &opts[i], v, err, "environment");
            if (rc)
                return rc;
        }
    }
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            *help = true;
            return KHO_OK;
        }
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(err, "kho: unexpected argument '%s'\n", arg);
            return KHO_E_INVALID;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct opt *o = NULL;
        for (size_t i = 0; i < nopts; i++)
            if (strlen(opts[i].name) == nlen && !strncmp(opts[i].name, name, nlen))
                o = &opts[i];
        if (!o) {
            fprintf(err, "kho: unknown option '%s' (see --help)\n", arg);
            return KHO_E_INVALID;
        }
        const char *v;
        if (eq)
            v = eq + 1;
        else if (o->type == OPT_BOOL)
            v = "true";
        else if (a + 1 < argc)
            v = argv[++a];
        else {
            fprintf(err, "kho: option '--%s' needs a value\n", o->name);
            return KHO_E_INVALID;
        }
        rc = set(c, o, v, err, "option");
        if (rc)
            return rc;
    }
    if (!c->db[0] && (size_t)snprintf(c->db, sizeof(c->db), "sqlite:%s/kho.db", c->data) >= sizeof(c->db))
        return KHO_E_INVALID;
    if (!c->blob[0] &&
        (size_t)snprintf(c->blob, sizeof(c->blob), "volume:%s/volumes", c->data) >= sizeof(c->blob))
        return KHO_E_INVALID;
    if (c->public_url[0] && strncmp(c->public_url, "http://", 7) &&
        strncmp(c->public_url, "https://", 8)) {
        fprintf(err, "kho: public-url must start with http:// or https://\n");
        return KHO_E_INVALID;
    }
    char why[160];
    if (proxy_set_parse(c->trusted_proxies, &c->trusted, why, sizeof(why))) {
        fprintf(err, "kho: invalid trusted-proxies: %s\n", why);
        return KHO_E_INVALID;
    }
    if (c->workers < 1 || c->worker_queue < 1 || c->max_upload_bytes < 1 ||
        c->max_inflight_upload_bytes < c->max_upload_bytes || c->max_header_bytes < 1024 ||
        c->volume_max_bytes < (1 << 20) || c->volume_max_bytes > (32LL << 30) || c->threads < 0 ||
        c->db_pool < 1 || c->db_pool > 1024 ||
        c->shard < -1 || c->shard >= 8192 || c->max_pixels < 1 || c->max_dimension < 1 ||
        c->max_frames < 1 || c->login_fail_limit < 1 || c->login_ip_fail_limit < 1 ||
        c->login_fail_window < 1 || c->process_workers < 0 || c->process_queue < 1 ||
        c->process_timeout_ms < 1 || c->thumb_wait_ms < 0 || c->watermark_opacity > 1 ||
        c->watermark_scale <= 0 || c->watermark_scale > 1 || c->quota_images < 0 ||
        (strcmp(c->role, "all") && strcmp(c->role, "api") && strcmp(c->role, "process"))) {
        fprintf(err,
                "kho: inconsistent settings (workers >= 1, threads >= 0, inflight >= upload, "
                "header >= 1K, 1M <= volume-max-bytes <= 32G, -1 <= shard < 8192, limits >= 1, "
                "quotas >= 0)\n");
        return KHO_E_INVALID;
    }
    return KHO_OK;
}

void config_usage(FILE *out)
{
    fprintf(out, "usage: kho server [--OPTION VALUE]...\n\n"
                 "Every option can also be set with the environment variable shown.\n"
                 "Sizes take K, M, G or T suffixes (powers of 1024).\n\n");
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        char env[64];
        env_name(&opts[i], env, sizeof(env));
        fprintf(out, "  --%-28s %-32s default: %s\n      %s\n", opts[i].name, env,
                opts[i].def[0] ? opts[i].def : "(derived)", opts[i].help);
    }
}
