/* The S3 blob backend over libcurl's SigV4 signing: one object per blob in a bucket reached with
 * path-style URLs, a bounded pool of keep-alive easy handles, bounded retries with backoff, and
 * streaming GETs that feed a pipe from a thread so a response is never buffered whole. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include "blob/s3.h"
#include "core/hex.h"
#include "core/kho.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ERR_BODY_MAX 4096
#define XML_BODY_MAX ((size_t)4 << 20) /* a ListObjectsV2 page of 1000 keys is about 300 KiB */
#define QUERY_MAX 1024
#define URL_MAX 2048
#define HANDLE_WAIT_MS 5000
#define CONNECT_TIMEOUT_MS 1000L
/* A transfer slower than 1 byte/s for this long is dead. A stream's pace is its client's (the
 * pipe pushes back on curl), so streams get longer. */
#define STALL_SECONDS 5L
#define STREAM_STALL_SECONDS 30L
#define PIPE_BYTES (256 * 1024)
#define MAX_PARTS 10000

const struct s3_retry s3_retry_read = {.tries = 4, .base_ms = 50, .cap_ms = 800, .budget_ms = 2000};
const struct s3_retry s3_retry_write = {
    .tries = 6, .base_ms = 100, .cap_ms = 2000, .budget_ms = 15000};
/* /readyz asks whether the store answers now, not whether it will soon */
static const struct s3_retry retry_none = {.tries = 1};

struct s3 {
    struct blob_store base;
    struct s3_location loc;
    char *key_id, *secret;
    char sigv4[96];
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a handle came back, or a stream ended */
    CURL *idle[S3_POOL_MAX];
    int nidle, nhandles;
    int streams;
};

static struct s3 *s3_of(struct blob_store *b)
{
    return (struct s3 *)b;
}

/* ---- pure parts ---- */

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

bool s3_uri_encode(const char *s, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        size_t need = unreserved(c) ? 1 : 3;
        if (o + need >= cap)
            return false;
        if (need == 1) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (o >= cap)
        return false;
    out[o] = '\0';
    return true;
}

static int param_cmp(const void *a, const void *b)
{
    const struct s3_param *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value ? x->value : "", y->value ? y->value : "");
}

enum kho_err s3_canonical_query(struct s3_param *params, size_t n, char *out, size_t cap)
{
    if (cap == 0)
        return KHO_E_TOO_LARGE;
    if (n > 1) /* qsort of a NULL array is undefined, even for n == 0 */
        qsort(params, n, sizeof(*params), param_cmp);
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *v = params[i].value ? params[i].value : "";
        if (i) {
            if (o + 1 >= cap)
                return KHO_E_TOO_LARGE;
            out[o++] = '&';
        }
        if (!s3_uri_encode(params[i].name, strlen(params[i].name), out + o, cap - o))
            return KHO_E_TOO_LARGE;
        o += strlen(out + o);
        if (o + 1 >= cap)
            return KHO_E_TOO_LARGE;
        out[o++] = '=';
        if (!s3_uri_encode(v, strlen(v), out + o, cap - o))
            return KHO_E_TOO_LARGE;
        o += strlen(out + o);
    }
    out[o] = '\0';
    return KHO_OK;
}

void s3_object_name(uint64_t key, char out[17])
{
    snprintf(out, 17, "%016llx", (unsigned long long)key);
}

bool s3_object_key(const char *name, size_t len, uint64_t *key)
{
    if (len != 16)
        return false;
    uint64_t k = 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return false;
        k = k << 4 | (uint64_t)d;
    }
    *key = k;
    return true;
}

/* Percent-decode s[0, len) into out (cap bytes, NUL included). */
static bool pct_decode(const char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= len)
                return false;
            int h = hex_value(s[i + 1]), l = hex_value(s[i + 2]);
            if (h < 0 || l < 0)
                return false;
            c = (char)(h << 4 | l);
            i += 2;
        }
        if (c == '\0' || o + 1 >= cap)
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

static bool valid_bucket(const char *b, size_t n)
{
    if (n < 3 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && ((c != '-' && c != '.') || i == 0 || i == n - 1))
            return false;
    }
    return true;
}

static bool valid_endpoint(const char *e)
{
    size_t skip = !strncmp(e, "http://", 7) ? 7 : !strncmp(e, "https://", 8) ? 8 : 0;
    if (!skip || !e[skip])
        return false;
    for (const char *p = e + skip; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr(".-:[]", *p)))
            return false;
    return true;
}

static bool valid_region(const char *r)
{
    size_t n = strlen(r);
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
            return false;
    return true;
}

enum kho_err s3_parse_location(const char *location, struct s3_location *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->region, sizeof(out->region), "us-east-1");
    *why = "expected s3://BUCKET?endpoint=http://HOST:PORT&region=REGION";
    if (strncmp(location, "//", 2) != 0)
        return KHO_E_INVALID;
    const char *b = location + 2;
    size_t blen = strcspn(b, "?/");
    if (!valid_bucket(b, blen)) {
        *why = "invalid bucket name";
        return KHO_E_INVALID;
    }
    memcpy(out->bucket, b, blen);
    const char *q = b + blen;
    if (*q == '/' && (q[1] == '\0' || q[1] == '?'))
        q++; /* s3://bucket/?... */
    if (*q && *q != '?')
        return KHO_E_INVALID;
    if (*q)
        q++;
    while (*q) {
        size_t n = strcspn(q, "&");
        const char *eq = memchr(q, '=', n);
        size_t nlen = eq ? (size_t)(eq - q) : n;
        const char *v = eq ? eq + 1 : q + n;
        size_t vlen = (size_t)(q + n - v);
        char *dst = NULL;
        size_t cap = 0;
        if (nlen == 8 && !memcmp(q, "endpoint", 8)) {
            dst = out->endpoint;
            cap = sizeof(out->endpoint);
        } else if (nlen == 6 && !memcmp(q, "region", 6)) {
            dst = out->region;
            cap = sizeof(out->region);
        } else {
            *why = "unknown parameter (known: endpoint, region)";
            return KHO_E_INVALID;
        }
        if (!pct_decode(v, vlen, dst, cap)) {
            *why = "invalid parameter value";
            return KHO_E_INVALID;
        }
        q += n;
        if (*q)
            q++;
    }
    size_t elen = strlen(out->endpoint);
    if (elen && out->endpoint[elen - 1] == '/')
        out->endpoint[elen - 1] = '\0';
    if (!valid_endpoint(out->endpoint)) {
        *why = "endpoint must be http://HOST[:PORT] or https://HOST[:PORT]";
        return KHO_E_INVALID;
    }
    if (!valid_region(out->region)) {
        *why = "invalid region";
        return KHO_E_INVALID;
    }
    return KHO_OK;
}

size_t s3_xml_text(const char *xml, size_t len, size_t from, const char *tag, char *out, size_t cap)
{
    char open[80], close[80];
    int on = snprintf(open, sizeof(open), "<%s>", tag);
    int cn = snprintf(close, sizeof(close), "</%s>", tag);
    if (from > len || on <= 0 || (size_t)on >= sizeof(open) || cap == 0)
        return 0;
    const char *a = memmem(xml + from, len - from, open, (size_t)on);
    if (!a)
        return 0;
    a += on;
    const char *z = memmem(a, (size_t)(xml + len - a), close, (size_t)cn);
    if (!z)
        return 0;
    static const struct {
        const char *ent, ch;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    size_t o = 0;
    for (const char *p = a; p < z; p++) {
        char c = *p;
        if (c == '&') {
            size_t i = 0;
            while (i < ARRAY_LEN(ents) && strncmp(p, ents[i].ent, strlen(ents[i].ent)) != 0)
                i++;
            if (i == ARRAY_LEN(ents))
                return 0;
            c = ents[i].ch;
            p += strlen(ents[i].ent) - 1;
        }
        if (o + 1 >= cap)
            return 0;
        out[o++] = c;
    }
    out[o] = '\0';
    return (size_t)(z - xml) + (size_t)cn;
}

bool s3_retryable(int curl_code, long status)
{
    switch (curl_code) {
    case CURLE_OK:
        return status >= 500 || status == 429;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return true;
    default:
        return false;
    }
}

int s3_backoff_ms(const struct s3_retry *p, int attempt, uint32_t rnd)
{
    int shift = attempt < 1 ? 0 : attempt > 16 ? 15 : attempt - 1;
    int64_t step = (int64_t)p->base_ms << shift;
    if (step > p->cap_ms)
        step = p->cap_ms;
    int64_t half = step / 2;
    return (int)(half + (int64_t)(rnd % (uint32_t)(step - half + 1)));
}

/* ---- the handle pool ---- */

static enum kho_err handle_get(struct s3 *s, CURL **out)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += HANDLE_WAIT_MS / 1000;
    pthread_mutex_lock(&s->mu);
    while (s->nidle == 0 && s->nhandles >= S3_POOL_MAX) {
        if (pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&s->mu);
            log_warn("all %d s3 connections stayed busy for %d ms", S3_POOL_MAX, HANDLE_WAIT_MS);
            return KHO_E_BUSY;
        }
    }
    CURL *h = s->nidle ? s->idle[--s->nidle] : NULL;
    if (!h)
        s->nhandles++;
    pthread_mutex_unlock(&s->mu);
    if (!h)
        h = curl_easy_init();
    if (!h) {
        pthread_mutex_lock(&s->mu);
        s->nhandles--;
        pthread_mutex_unlock(&s->mu);
        return KHO_E_NOMEM;
    }
    *out = h;
    return KHO_OK;
}

/* The handle keeps its live connection for the next request (curl_easy_reset keeps it). */
static void handle_put(struct s3 *s, CURL *h)
{
    pthread_mutex_lock(&s->mu);
    s->idle[s->nidle++] = h;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* ---- one S3 request, with retries ---- */

struct call {
    const char *method; /* GET HEAD PUT POST DELETE */
    const char *what;   /* for the log: "put", "get"... */
    bool object;        /* the blob's object, else the bucket */
    uint64_t key;
    const char *query; /* canonical (s3_canonical_query), "" for none */
    const void *body;
    size_t body_len;
    bool range; /* ask for [range_off, range_off + range_len) */
    uint64_t range_off, range_len;
    struct buf *out; /* where a 2xx body goes (bounded), or */
    char *dst;       /* a fixed buffer of dst_cap bytes, or */
    size_t dst_cap;
    int fd; /* a pipe; -1 with out and dst NULL: discarded */
    const struct s3_retry *retry;
    long timeout_ms; /* for the whole attempt; 0: only stalls end it */

    /* results */
    long status;
    uint64_t length; /* Content-Length of the 2xx answer */
    char etag[128];
    uint64_t delivered; /* body bytes handed on, over all attempts */
    bool too_large;     /* out or dst reached its ceiling */
    bool sink_gone;     /* the pipe's reader left */

    /* per attempt */
    CURL *h;
    size_t body_pos;
    struct buf err; /* the start of an error answer's body */
};

static size_t on_write(char *p, size_t size, size_t n, void *arg)
{
    struct call *c = arg;
    size_t len = size * n;
    long status = 0;
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
    /* with a range, only 206 carries the asked-for bytes: anything else must not reach the sink */
    if (status < 200 || status > 299 || (c->range && status != 206)) {
        size_t room = c->err.max - c->err.len;
        buf_append(&c->err, p, len < room ? len : room);
        return len;
    }
    if (c->fd >= 0) {
        for (size_t done = 0; done < len;) {
            ssize_t w = write(c->fd, p + done, len - done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                c->sink_gone = true;
                return 0;
            }
            done += (size_t)w;
            c->delivered += (uint64_t)w;
        }
        return len;
    }
    if (c->dst) {
        if (len > c->dst_cap - c->delivered) {
            c->too_large = true;
            return 0;
        }
        memcpy(c->dst + c->delivered, p, len);
    } else if (c->out && buf_append(c->out, p, len) != KHO_OK) {
        c->too_large = true;
        return 0;
    }
    c->delivered += len;
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct call *c = arg;
    size_t len = size * n;
    if (len > 5 && !strncasecmp(p, "etag:", 5)) {
        size_t a = 5, z = len;
        while (a < z && (p[a] == ' ' || p[a] == '\t'))
            a++;
        while (z > a && (p[z - 1] == '\r' || p[z - 1] == '\n' || p[z - 1] == ' '))
            z--;
        if (z - a < sizeof(c->etag)) {
            memcpy(c->etag, p + a, z - a);
            c->etag[z - a] = '\0';
        }
    }
    return len;
}

static size_t on_read(char *p, size_t size, size_t n, void *arg)
{
    struct call *c = arg;
    size_t left = c->body_len - c->body_pos, len = size * n;
    if (len > left)
        len = left;
    memcpy(p, (const char *)c->body + c->body_pos, len);
    c->body_pos += len;
    return len;
}

static void sha256_of(const void *data, size_t len, char hex[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static uint32_t jitter(void)
{
    static _Thread_local uint64_t x;
    if (!x)
        x = mono_ns() ^ (uint64_t)pthread_self() ^ 0x9e3779b97f4a7c15ULL;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return (uint32_t)(x >> 32);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* One attempt; returns curl's result, the status in c->status. */
static CURLcode attempt(struct s3 *s, struct call *c, const char *sha, char *errbuf)
{
    CURL *h = c->h;
    char url[URL_MAX], name[17], hdr[128];
    s3_object_name(c->key, name);
    int n = snprintf(url, sizeof(url), "%s/%s%s%s%s%s", s->loc.endpoint, s->loc.bucket,
                     c->object ? "/" : "", c->object ? name : "", c->query[0] ? "?" : "", c->query);
    if (n < 0 || (size_t)n >= sizeof(url))
        return CURLE_URL_MALFORMAT;
    curl_easy_reset(h);
    struct curl_slist *hdrs = NULL;
    snprintf(hdr, sizeof(hdr), "x-amz-content-sha256: %s", sha);
    hdrs = curl_slist_append(hdrs, hdr);
    /* no "Expect:" to turn off 100-continue: curl 7.88 would sign the header it then drops */
    if (c->range) {
        uint64_t from = c->range_off + c->delivered, to = c->range_off + c->range_len - 1;
        snprintf(hdr, sizeof(hdr), "Range: bytes=%llu-%llu", (unsigned long long)from,
                 (unsigned long long)to);
        hdrs = curl_slist_append(hdrs, hdr);
    }
    if (!strcmp(c->method, "POST"))
        hdrs = curl_slist_append(hdrs, "Content-Type: application/xml");
    if (!hdrs)
        return CURLE_OUT_OF_MEMORY;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
    /* set apart: Swift-style access keys contain ':' */
    curl_easy_setopt(h, CURLOPT_USERNAME, s->key_id);
    curl_easy_setopt(h, CURLOPT_PASSWORD, s->secret);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->fd >= 0 ? STREAM_STALL_SECONDS : STALL_SECONDS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    c->body_pos = 0;
    if (!strcmp(c->method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(c->method, "PUT")) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, c);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)c->body_len);
    } else if (!strcmp(c->method, "POST")) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body ? (const char *)c->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
    } else if (strcmp(c->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
    }
    errbuf[0] = '\0';
    c->etag[0] = '\0';
    c->status = 0;
    buf_reset(&c->err);
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
    curl_off_t cl = -1;
    curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    c->length = cl > 0 ? (uint64_t)cl : 0;
    curl_slist_free_all(hdrs);
    return cc;
}

/* Run c with its retry policy on a pooled handle and map the outcome to an error. */
static enum kho_err run(struct s3 *s, struct call *c)
{
    char sha[65], errbuf[CURL_ERROR_SIZE], name[17];
    if (c->body_len)
        sha256_of(c->body, c->body_len, sha);
    else
        memcpy(sha, EMPTY_SHA256, sizeof(sha));
    enum kho_err rc = handle_get(s, &c->h);
    if (rc)
        return rc;
    buf_init(&c->err, ERR_BODY_MAX);
    uint64_t t0 = mono_ns();
    CURLcode cc;
    for (int n = 1;; n++) {
        cc = attempt(s, c, sha, errbuf);
        bool ok = cc == CURLE_OK && c->status >= 200 && c->status <= 299;
        if (ok || c->too_large || c->sink_gone || !s3_retryable(cc, c->status) ||
            n >= c->retry->tries)
            break;
        int wait = s3_backoff_ms(c->retry, n, jitter());
        if ((mono_ns() - t0) / 1000000 + (uint64_t)wait > (uint64_t)c->retry->budget_ms)
            break;
        sleep_ms(wait);
        /* a bounded buffer starts over; a stream resumes where it stopped (c->delivered) */
        if (c->out) {
            buf_reset(c->out);
            c->delivered = 0;
        }
    }
    handle_put(s, c->h);
    c->h = NULL;
    if (cc == CURLE_OK && c->status >= 200 && c->status <= 299)
        rc = KHO_OK;
    else if (c->too_large)
        rc = KHO_E_TOO_LARGE;
    else if (c->sink_gone)
        rc = KHO_E_IO; /* the client left: nothing to report */
    else if (cc == CURLE_OK && c->status == 404 && c->object)
        rc = KHO_E_NOTFOUND;
    else
        rc = KHO_E_BACKEND;
    if (rc == KHO_E_BACKEND) {
        char code[64] = "";
        s3_xml_text(c->err.p ? c->err.p : "", c->err.len, 0, "Code", code, sizeof(code));
        s3_object_name(c->key, name);
        if (cc != CURLE_OK)
            log_error("s3 %s of '%s/%s' failed: %s", c->what, s->loc.bucket, c->object ? name : "",
                      errbuf[0] ? errbuf : curl_easy_strerror(cc));
        else
            log_error("s3 %s of '%s/%s' failed: status %ld %s", c->what, s->loc.bucket,
                      c->object ? name : "", c->status, code);
        metric_inc(M_STORE_ERRORS);
    }
    buf_free(&c->err);
    return rc;
}

static struct call call_new(const char *method, const char *what, uint64_t key,
                            const struct s3_retry *retry)
{
    return (struct call){.method = method,
                         .what = what,
                         .object = true,
                         .key = key,
                         .query = "",
                         .fd = -1,
                         .retry = retry};
}

/* ---- the ops ---- */

static enum kho_err put_one(struct s3 *s, uint64_t key, const char *query, const void *data,
                            size_t len, char *etag, size_t etag_cap)
{
    struct call c = call_new("PUT", "put", key, &s3_retry_write);
    c.query = query;
    c.body = data;
    c.body_len = len;
    enum kho_err rc = run(s, &c);
    if (!rc && etag)
        snprintf(etag, etag_cap, "%s", c.etag);
    return rc;
}

/* POST to the object with the given query and body; the answer's body in resp. S3 may answer
 * 200 and still put an <Error> in the body of a CompleteMultipartUpload: that is a failure. */
static enum kho_err post(struct s3 *s, uint64_t key, const char *query, const char *body,
                         size_t body_len, struct buf *resp)
{
    struct call c = call_new("POST", "multipart upload", key, &s3_retry_write);
    c.query = query;
    c.body = body;
    c.body_len = body_len;
    c.out = resp;
    enum kho_err rc = run(s, &c);
    char code[64];
    if (!rc && s3_xml_text(resp->p ? resp->p : "", resp->len, 0, "Code", code, sizeof(code))) {
        log_error("s3 multipart upload of key %llu failed: %s", (unsigned long long)key, code);
        rc = KHO_E_BACKEND;
    }
    return rc;
}

static enum kho_err put_multipart(struct s3 *s, uint64_t key, const void *data, size_t len)
{
    size_t nparts = (len + S3_PART_SIZE - 1) / S3_PART_SIZE;
    if (nparts > MAX_PARTS)
        return KHO_E_TOO_LARGE;
    char query[QUERY_MAX], upload_id[256], num[16];
    struct buf resp, done;
    buf_init(&resp, XML_BODY_MAX);
    buf_init(&done, nparts * 256 + 128);
    struct s3_param init[] = {{"uploads", NULL}};
    enum kho_err rc = s3_canonical_query(init, ARRAY_LEN(init), query, sizeof(query));
    if (!rc)
        rc = post(s, key, query, "", 0, &resp);
    if (!rc && !s3_xml_text(resp.p, resp.len, 0, "UploadId", upload_id, sizeof(upload_id))) {
        log_error("s3 gave no upload id for key %llu", (unsigned long long)key);
        rc = KHO_E_BACKEND;
    }
    if (rc) {
        buf_free(&resp);
        buf_free(&done);
        return rc;
    }
    buf_puts(&done, "<CompleteMultipartUpload>");
    for (size_t i = 0; i < nparts && !rc; i++) {
        snprintf(num, sizeof(num), "%zu", i + 1);
        struct s3_param part[] = {{"uploadId", upload_id}, {"partNumber", num}};
        char etag[128];
        size_t off = i * S3_PART_SIZE, n = len - off < S3_PART_SIZE ? len - off : S3_PART_SIZE;
        rc = s3_canonical_query(part, ARRAY_LEN(part), query, sizeof(query));
        if (!rc)
            rc = put_one(s, key, query, (const char *)data + off, n, etag, sizeof(etag));
        if (!rc && !etag[0]) {
            log_error("s3 gave no etag for part %zu of key %llu", i + 1, (unsigned long long)key);
            rc = KHO_E_BACKEND;
        }
        if (!rc)
            rc = buf_printf(&done, "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag></Part>",
                            i + 1, etag);
    }
    if (!rc)
        rc = buf_puts(&done, "</CompleteMultipartUpload>");
    struct s3_param id[] = {{"uploadId", upload_id}};
    enum kho_err qrc = s3_canonical_query(id, ARRAY_LEN(id), query, sizeof(query));
    if (!rc)
        rc = qrc;
    if (!rc) {
        buf_reset(&resp);
        rc = post(s, key, query, done.p, done.len, &resp);
    }
    if (rc && !qrc) {
        /* abort, so the parts do not linger (and bill) in the bucket */
        struct call c = call_new("DELETE", "multipart abort", key, &s3_retry_write);
        c.query = query;
        if (run(s, &c))
            log_warn("parts of an aborted upload of key %llu remain in the bucket",
                     (unsigned long long)key);
    }
    buf_free(&resp);
    buf_free(&done);
    return rc;
}

static enum kho_err s3_put(struct blob_store *b, uint64_t key, const void *data, size_t len)
{
    struct s3 *s = s3_of(b);
    enum kho_err rc = len > S3_MULTIPART_THRESHOLD ? put_multipart(s, key, data, len)
                                                   : put_one(s, key, "", data, len, NULL, 0);
    if (!rc)
        metric_inc(M_STORE_PUTS);
    return rc;
}

static enum kho_err head(struct s3 *s, uint64_t key, uint64_t *len)
{
    struct call c = call_new("HEAD", "head", key, &s3_retry_read);
    enum kho_err rc = run(s, &c);
    *len = c.length;
    return rc;
}

static enum kho_err s3_open_len(struct blob_store *b, uint64_t key, uint64_t len,
                                struct blob_ref *out)
{
    (void)b;
    uint64_t *pin = xmalloc(sizeof(*pin)); /* the key, for s3_stream */
    *pin = key;
    *out = (struct blob_ref){.fd = -1, .off = 0, .len = len, .stream = true, .pin = pin};
    metric_inc(M_STORE_GETS);
    return KHO_OK;
}

static enum kho_err s3_open_ref(struct blob_store *b, uint64_t key, struct blob_ref *out)
{
    uint64_t len;
    enum kho_err rc = head(s3_of(b), key, &len);
    if (rc)
        return rc;
    return s3_open_len(b, key, len, out);
}

static enum kho_err s3_read_span(struct blob_store *b, uint64_t key, uint64_t off, size_t len,
                                 void *dst)
{
    if (len > BLOB_SPAN_INLINE_MAX)
        return KHO_E_TOO_LARGE;
    if (len == 0)
        return KHO_OK;
    struct call c = call_new("GET", "get", key, &s3_retry_read);
    c.range = true;
    c.range_off = off;
    c.range_len = len;
    c.dst = dst;
    c.dst_cap = len;
    enum kho_err rc = run(s3_of(b), &c);
    /* a known length that was wrong shows here: S3 trims a range to the object */
    if (rc == KHO_E_TOO_LARGE || (!rc && c.delivered != len)) {
        log_error("s3 get of key %llu gave %llu of %llu bytes", (unsigned long long)key,
                  (unsigned long long)c.delivered, (unsigned long long)len);
        metric_inc(M_STORE_ERRORS);
        return KHO_E_BACKEND;
    }
    if (!rc)
        metric_inc(M_STORE_GETS);
    return rc;
}

static enum kho_err s3_stat(struct blob_store *b, uint64_t key, uint64_t *len)
{
    return head(s3_of(b), key, len);
}

static enum kho_err s3_read(struct blob_store *b, uint64_t key, size_t max, void **data,
                            size_t *len)
{
    struct buf out;
    buf_init(&out, max);
    struct call c = call_new("GET", "get", key, &s3_retry_read);
    c.out = &out;
    enum kho_err rc = run(s3_of(b), &c);
    if (rc) {
        buf_free(&out);
        return rc;
    }
    metric_inc(M_STORE_GETS);
    *len = out.len;
    *data = out.p ? out.p : xcalloc(1, 1);
    return KHO_OK;
}

static enum kho_err s3_del(struct blob_store *b, uint64_t key)
{
    struct call c = call_new("DELETE", "delete", key, &s3_retry_write);
    enum kho_err rc = run(s3_of(b), &c);
    if (!rc)
        metric_inc(M_STORE_DELETES);
    return rc;
}

/* Hand each <Contents> of a ListObjectsV2 page to fn; *stop gets fn's non-zero answer. */
static enum kho_err visit_page(const struct buf *page, blob_iter_fn fn, void *arg, int *stop)
{
    size_t pos = 0;
    for (;;) {
        const char *at = memmem(page->p + pos, page->len - pos, "<Contents>", 10);
        if (!at)
            return KHO_OK;
        size_t from = (size_t)(at - page->p);
        const char *end = memmem(at, page->len - from, "</Contents>", 11);
        if (!end)
            return KHO_E_CORRUPT;
        size_t to = (size_t)(end - page->p);
        char name[1100], size[32];
        uint64_t key;
        if (s3_xml_text(page->p, to, from, "Key", name, sizeof(name)) &&
            s3_xml_text(page->p, to, from, "Size", size, sizeof(size)) &&
            s3_object_key(name, strlen(name), &key)) {
            *stop = fn(key, strtoull(size, NULL, 10), arg);
            if (*stop)
                return KHO_OK;
        }
        pos = to + 11;
    }
}

static enum kho_err s3_iterate(struct blob_store *b, blob_iter_fn fn, void *arg)
{
    struct s3 *s = s3_of(b);
    char token[1024] = "", query[QUERY_MAX], more[8];
    struct buf page;
    buf_init(&page, XML_BODY_MAX);
    enum kho_err rc = KHO_OK;
    int stop = 0;
    do {
        struct s3_param ps[] = {
            {"list-type", "2"}, {"max-keys", "1000"}, {"continuation-token", token}};
        rc = s3_canonical_query(ps, token[0] ? 3 : 2, query, sizeof(query));
        if (rc)
            break;
        buf_reset(&page);
        struct call c = call_new("GET", "list", 0, &s3_retry_read);
        c.object = false;
        c.query = query;
        c.out = &page;
        rc = run(s, &c);
        if (!rc)
            rc = visit_page(&page, fn, arg, &stop);
        if (rc || stop)
            break;
        if (!s3_xml_text(page.p, page.len, 0, "IsTruncated", more, sizeof(more)) ||
            strcmp(more, "true") != 0)
            break;
        if (!s3_xml_text(page.p, page.len, 0, "NextContinuationToken", token, sizeof(token))) {
            log_error("s3 listing of '%s' is truncated without a continuation token",
                      s->loc.bucket);
            rc = KHO_E_BACKEND;
        }
    } while (!rc);
    buf_free(&page);
    if (rc == KHO_E_CORRUPT) {
        log_error("s3 listing of '%s' is not valid", s->loc.bucket);
        rc = KHO_E_BACKEND;
    }
    return rc ? rc : (enum kho_err)stop;
}

static void s3_stats(struct blob_store *b, struct blob_stats *out)
{
    (void)b;
    *out = (struct blob_stats){.volumes = 1};
}

static enum kho_err s3_ping(struct blob_store *b)
{
    struct call c = call_new("HEAD", "ping", 0, &retry_none);
    c.object = false;
    c.timeout_ms = 1000; /* /readyz runs on an event loop */
    return run(s3_of(b), &c);
}

static void s3_release_ref(struct blob_store *b, struct blob_ref *ref)
{
    (void)b;
    if (ref->fd >= 0)
        close(ref->fd); /* the transfer's next write fails and it ends */
    ref->fd = -1;
    free(ref->pin);
    ref->pin = NULL;
}

struct stream_job {
    struct s3 *s;
    uint64_t key, off, len;
    int fd;
};

static void *stream_main(void *arg)
{
    struct stream_job *j = arg;
    struct call c = call_new("GET", "get", j->key, &s3_retry_read);
    c.range = true;
    c.range_off = j->off;
    c.range_len = j->len;
    c.fd = j->fd;
    enum kho_err rc = run(j->s, &c);
    if (!rc && c.delivered != j->len)
        log_error("s3 get of key %llu gave %llu of %llu bytes", (unsigned long long)j->key,
                  (unsigned long long)c.delivered, (unsigned long long)j->len);
    close(j->fd); /* end of file tells the reader; short means failed */
    struct s3 *s = j->s;
    free(j);
    pthread_mutex_lock(&s->mu);
    s->streams--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static enum kho_err s3_stream(struct blob_store *b, struct blob_ref *ref, uint64_t off,
                              uint64_t len)
{
    struct s3 *s = s3_of(b);
    if (ref->fd >= 0 || len == 0 || off + len > ref->len)
        return KHO_E_INVALID;
    pthread_mutex_lock(&s->mu);
    bool full = s->streams >= S3_STREAMS_MAX;
    if (!full)
        s->streams++;
    pthread_mutex_unlock(&s->mu);
    if (full)
        return KHO_E_BUSY;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        log_error("cannot make a pipe for an s3 stream: %s", strerror(errno));
        fds[0] = fds[1] = -1;
    } else {
        fcntl(fds[0], F_SETFL, O_NONBLOCK);
        fcntl(fds[1], F_SETPIPE_SZ, PIPE_BYTES); /* best effort: fewer wake-ups per photo */
    }
    struct stream_job *j = xmalloc(sizeof(*j));
    *j = (struct stream_job){
        .s = s, .key = *(const uint64_t *)ref->pin, .off = off, .len = len, .fd = fds[1]};
    pthread_t t;
    pthread_attr_t attr;
    int err = fds[0] < 0 ? EMFILE : 0;
    if (!err) {
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        err = pthread_create(&t, &attr, stream_main, j);
        pthread_attr_destroy(&attr);
        if (err)
            log_error("cannot start an s3 stream: %s", strerror(err));
    }
    if (err) {
        if (fds[0] >= 0) {
            close(fds[0]);
            close(fds[1]);
        }
        free(j);
        pthread_mutex_lock(&s->mu);
        s->streams--;
        pthread_mutex_unlock(&s->mu);
        return KHO_E_BUSY;
    }
    ref->fd = fds[0];
    return KHO_OK;
}

static void s3_close(struct blob_store *b)
{
    struct s3 *s = s3_of(b);
    /* streams hold s: they end soon once their readers are gone (a failed write ends them) */
    pthread_mutex_lock(&s->mu);
    while (s->streams > 0)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->nidle; i++)
        curl_easy_cleanup(s->idle[i]);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    explicit_bzero(s->secret, strlen(s->secret));
    free(s->secret);
    free(s->key_id);
    free(s);
}

static const struct blob_ops s3_ops = {
    .name = "s3",
    .remote = true,
    .put = s3_put,
    .open = s3_open_ref,
    .open_len = s3_open_len,
    .read = s3_read,
    .del = s3_del,
    .stat = s3_stat,
    .iterate = s3_iterate,
    .stats = s3_stats,
    .ping = s3_ping,
    .release_ref = s3_release_ref,
    .stream = s3_stream,
    .read_span = s3_read_span,
    .compact = NULL,
    .close = s3_close,
};

enum kho_err s3_open(const char *location, uint64_t volume_max_bytes, struct blob_store **out)
{
    (void)volume_max_bytes;
    *out = NULL;
    struct s3_location loc;
    const char *why;
    if (s3_parse_location(location, &loc, &why)) {
        log_error("invalid s3 store url: %s", why);
        return KHO_E_INVALID;
    }
    const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    if (!id || !*id || !secret || !*secret) {
        log_error("the s3 store needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
        return KHO_E_INVALID;
    }
    struct s3 *s = xcalloc(1, sizeof(*s));
    s->base.ops = &s3_ops;
    s->loc = loc;
    s->key_id = xstrdup(id);
    s->secret = xstrdup(secret);
    snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", loc.region);
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    log_info("blob store: s3 bucket '%s' at '%s'", loc.bucket, loc.endpoint);
    *out = &s->base;
    return KHO_OK;
}
