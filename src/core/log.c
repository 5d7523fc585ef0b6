/* JSON-lines logging to stderr; one write(2) per line keeps lines whole across threads. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "core/log.h"

static enum log_level min_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level min)
{
    min_level = min;
}

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void log_line(const char *json, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, json, len);
        if (n <= 0)
            return;
        json += n;
        len -= (size_t)n;
    }
}

size_t log_escape(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    for (; *s && o + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return o;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    if (lvl < min_level)
        return;
    char msg[1024], esc[2048], line[2304];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_escape(esc, sizeof(esc), msg);
    int n = snprintf(line, sizeof(line), "{\"ts\":%lld,\"level\":\"%s\",\"msg\":\"%s\"}\n",
                     (long long)now_ms(), level_names[lvl], esc);
    if (n > 0)
        log_line(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}
