/* A tiny unit-test harness: CHECK records a failure and returns from the test; T_MAIN runs a
 * table of tests and ends with the summary line "N passed, N failed". */
#ifndef KHO_T_H
#define KHO_T_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct t_case {
    const char *name;
    void (*fn)(void);
};

static int t_failed_flag;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);            \
            t_failed_flag = 1;                                                                     \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long t_a_ = (long long)(a), t_b_ = (long long)(b);                                    \
        if (t_a_ != t_b_) {                                                                        \
            fprintf(stderr, "  %s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a,    \
                    #b, t_a_, t_b_);                                                               \
            t_failed_flag = 1;                                                                     \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *t_a_ = (a), *t_b_ = (b);                                                       \
        if (!t_a_ || !t_b_ || strcmp(t_a_, t_b_) != 0) {                                           \
            fprintf(stderr, "  %s:%d: %s == %s failed: '%s' != '%s'\n", __FILE__, __LINE__, #a,    \
                    #b, t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)");                           \
            t_failed_flag = 1;                                                                     \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static inline int t_run(const char *suite, const struct t_case *cases, size_t n)
{
    int passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        t_failed_flag = 0;
        cases[i].fn();
        if (t_failed_flag) {
            failed++;
            printf("FAIL %s/%s\n", suite, cases[i].name);
        } else {
            passed++;
            printf("ok   %s/%s\n", suite, cases[i].name);
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#define T(fn) {#fn, fn}
#define T_MAIN(suite, ...)                                                                         \
    int main(void)                                                                                 \
    {                                                                                              \
        static const struct t_case cases[] = {__VA_ARGS__};                                        \
        return t_run(suite, cases, sizeof(cases) / sizeof(cases[0]));                              \
    }

/* A fresh empty directory under $TMPDIR for a test; the caller removes it with t_rmtree. */
static inline char *t_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof(tmpl), "%s/kho-unit-XXXXXX", base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static inline void t_rmtree(const char *dir)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not remove '%s'\n", dir);
}

#endif
