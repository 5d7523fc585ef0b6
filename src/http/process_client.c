/* libcurl client for a process node; see process_client.h. A node answers with the variant's
 * bytes and its size in X-Width / X-Height, or a JSON error whose status we map back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>
#include "http/process_client.h"
#include "core/kho.h"

struct sink {
    struct buf body;
    int width, height;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    return buf_append(&s->body, p, size * n) ? 0 : size * n; /* 0 aborts past the ceiling */
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t len = size * n;
    if (len > 9 && !strncasecmp(p, "X-Width:", 8))
        s->width = (int)strtol(p + 8, NULL, 10);
    else if (len > 10 && !strncasecmp(p, "X-Height:", 9))
        s->height = (int)strtol(p + 9, NULL, 10);
    return len;
}

enum kho_err process_client_run(const char *base_url, const struct signature_key *k,
                                const char *spec, const void *in, size_t len, size_t max_out,
                                int64_t timeout_ms, struct process_result *out)
{
    char path[256], sig[SIGNATURE_LEN + 1], url[1024];
    snprintf(path, sizeof(path), "/internal/v1/process?%s", spec);
    signature_make(k, path, strlen(path), sig);
    if ((size_t)snprintf(url, sizeof(url), "%s%s&sig=%s", base_url, path, sig) >= sizeof(url))
        return KHO_E_INVALID;
    CURL *c = curl_easy_init();
    if (!c)
        return KHO_E_NOMEM;
    struct sink s = {.width = 0};
    buf_init(&s.body, max_out);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/octet-stream");
    hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip */
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, in);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &s);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_ms + 2000));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    enum kho_err rc = KHO_OK;
    if (cc != CURLE_OK) {
        log_error("process node '%s' failed: %s", base_url, errbuf[0] ? errbuf : curl_easy_strerror(cc));
        rc = cc == CURLE_WRITE_ERROR ? KHO_E_TOO_LARGE : KHO_E_BACKEND;
    } else if (status != 200) {
        rc = status == 413 ? KHO_E_TOO_LARGE
             : status == 415 ? KHO_E_UNSUPPORTED
             : status == 503 ? KHO_E_BUSY
             : status >= 400 && status < 500 ? KHO_E_INVALID
                                              : KHO_E_BACKEND;
        log_warn("process node '%s' answered %ld", base_url, status);
    } else if (s.width < 1 || s.height < 1 || s.body.len == 0) {
        log_error("process node '%s' answered without a variant", base_url);
        rc = KHO_E_BACKEND;
    }
    if (rc) {
        buf_free(&s.body);
        return rc;
    }
    out->data = s.body.p; /* a buf's memory is plain malloc */
    out->len = s.body.len;
    out->width = s.width;
    out->height = s.height;
    out->mime = NULL;
    return KHO_OK;
}
