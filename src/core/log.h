/* Diagnostics to stderr as single JSON lines, so operators can ship them as they are.
 * Messages follow the house style: lower-case, no full stop, names in quotes. */
#ifndef KHO_LOG_H
#define KHO_LOG_H
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level min);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Write one already-formatted JSON line (an access-log record) atomically. */
void log_line(const char *json, size_t len);

/* Escape s as the content of a JSON string into out (cap bytes, always NUL-terminated),
 * truncating rather than overflowing. Returns the length written. */
size_t log_escape(char *out, size_t cap, const char *s);

/* Wall-clock milliseconds since the Unix epoch, and a monotonic clock in nanoseconds. */
int64_t now_ms(void);
uint64_t mono_ns(void);

#endif
