/* The access log: lines are built on the stack and written with one write(2), so lines from
 * different loops never interleave. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "http/accesslog.h"
#include "core/kho.h"

static int log_fd = STDERR_FILENO;

enum kho_err accesslog_open(const char *where)
{
    if (!strcmp(where, "-")) {
        log_fd = STDERR_FILENO;
    } else if (!strcmp(where, "off")) {
        log_fd = -1;
    } else {
        log_fd = open(where, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (log_fd < 0) {
            log_error("cannot open access log '%s': %s", where, strerror(errno));
            return KHO_E_IO;
        }
    }
    return KHO_OK;
}

void accesslog_close(void)
{
    if (log_fd > STDERR_FILENO)
        close(log_fd);
    log_fd = STDERR_FILENO;
}

void accesslog_write(struct req *r, uint64_t bytes_in, uint64_t bytes_out, uint64_t dur_ns)
{
    if (log_fd < 0)
        return;
    char path[512], line[1024], user[24] = "null", via[64] = "null";
    log_escape(path, sizeof(path), r->path ? r->path : "-");
    if (r->authed)
        snprintf(user, sizeof(user), "\"%llu\"", (unsigned long long)r->user.id);
    if (r->via[0])
        snprintf(via, sizeof(via), "\"%s\"", r->via);
    int n =
        snprintf(line, sizeof(line),
                 "{\"ts\":%lld,\"type\":\"access\",\"id\":\"%s\",\"ip\":\"%s\",\"method\":\"%s\","
                 "\"path\":\"%s\",\"status\":%d,\"bytes_in\":%llu,\"bytes_out\":%llu,"
                 "\"ms\":%.3f,\"user\":%s,\"via\":%s}\n",
                 (long long)now_ms(), r->id, r->peer, r->method_name ? r->method_name : "-", path,
                 r->status, (unsigned long long)bytes_in, (unsigned long long)bytes_out,
                 (double)dur_ns / 1e6, user, via);
    if (n > 0 && (size_t)n < sizeof(line)) {
        ssize_t w = write(log_fd, line, (size_t)n);
        (void)w; /* a full disk must not fail requests */
    }
}
