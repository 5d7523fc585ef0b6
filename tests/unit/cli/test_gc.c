/* Unit tests for the rules of `kho gc`: which unreferenced blobs it deletes, and --grace. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/gc.h"
#include "core/kho.h"
#include "t.h"

static void test_classify(void)
{
    const int64_t now = 1800000000000LL, hour = 3600 * 1000;
    uint64_t old = ids_make(now - 2 * hour, 3, 0), young = ids_make(now - 60 * 1000, 3, 0);
    uint64_t edge = ids_make(now - hour, 3, 0), variant = UINT64_C(0x8123456789abcdef);
    CHECK_EQ(gc_classify(old, true, now, hour), GC_LIVE);
    CHECK_EQ(gc_classify(variant, true, now, hour), GC_LIVE);
    CHECK_EQ(gc_classify(old, false, now, hour), GC_ORPHAN);
    CHECK_EQ(gc_classify(young, false, now, hour), GC_YOUNG);
    CHECK_EQ(gc_classify(edge, false, now, hour), GC_ORPHAN);
    CHECK_EQ(gc_classify(young, false, now, 0), GC_ORPHAN);
    /* a variant's key carries no time: its age cannot keep it */
    CHECK_EQ(gc_classify(variant, false, now, hour), GC_VARIANT);
    /* an id from the future (a skewed clock) is young, never deleted */
    CHECK_EQ(gc_classify(ids_make(now + hour, 3, 0), false, now, 0), GC_YOUNG);
}

static void test_parse_grace(void)
{
    int64_t ms = -1;
    CHECK(gc_parse_grace("0", &ms));
    CHECK_EQ(ms, 0);
    CHECK(gc_parse_grace("90", &ms));
    CHECK_EQ(ms, 90000);
    CHECK(gc_parse_grace("90s", &ms));
    CHECK_EQ(ms, 90000);
    CHECK(gc_parse_grace("30m", &ms));
    CHECK_EQ(ms, 1800000);
    CHECK(gc_parse_grace("1h", &ms));
    CHECK_EQ(ms, 3600000);
    CHECK(gc_parse_grace("7d", &ms));
    CHECK_EQ(ms, 7LL * 86400000);
    CHECK(gc_parse_grace("3650d", &ms));
    ms = 5;
    CHECK(!gc_parse_grace("3651d", &ms));
    CHECK(!gc_parse_grace("", &ms));
    CHECK(!gc_parse_grace("h", &ms));
    CHECK(!gc_parse_grace("-1", &ms));
    CHECK(!gc_parse_grace("+1", &ms));
    CHECK(!gc_parse_grace("1hh", &ms));
    CHECK(!gc_parse_grace("1w", &ms));
    CHECK(!gc_parse_grace("99999999999999999999", &ms));
    CHECK_EQ(ms, 5);
}

T_MAIN("gc", T(test_classify), T(test_parse_grace))
