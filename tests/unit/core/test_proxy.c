/* Unit tests for core/proxy.c: parsing --trusted-proxies, matching, the X-Forwarded-For walk. */
#include <string.h>
#include "core/proxy.h"
#include "t.h"

/* Parse a list the test expects to be valid; an invalid one leaves the empty set and fails. */
static struct proxy_set set_of(const char *list)
{
    struct proxy_set s;
    char why[160];
    if (proxy_set_parse(list, &s, why, sizeof(why)) != KHO_OK) {
        fprintf(stderr, "cannot parse '%s': %s\n", list, why);
        t_failed_flag = 1;
        memset(&s, 0, sizeof(s));
    }
    return s;
}

static void test_parse_valid(void)
{
    struct proxy_set s = set_of("");
    CHECK_EQ(s.n, 0);
    s = set_of("  ");
    CHECK_EQ(s.n, 0);
    s = set_of("127.0.0.1, 10.0.0.0/8 ,::1,fd00::/8,0.0.0.0/0");
    CHECK_EQ(s.n, 5);
    CHECK_EQ(s.nets[0].bits, 128);
    CHECK_EQ(s.nets[1].bits, 96 + 8);
    CHECK_EQ(s.nets[3].bits, 8);
    CHECK_EQ(s.nets[4].bits, 96);
}

static void test_parse_invalid(void)
{
    struct proxy_set s;
    char why[160];
    static const char *const bad[] = {"localhost", "127.0.0.1,",  ",::1",         "10.0.0.0/33",
                                      "::/129",    "10.0.0.1/8",  "10.0.0.0/",    "10.0.0.0/x",
                                      "1.2.3",     "1.2.3.4/08a", "fe80::1%eth0", "1.2.3.4:80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        CHECK_EQ(proxy_set_parse(bad[i], &s, why, sizeof(why)), KHO_E_INVALID);
        CHECK(strstr(why, "is not an IPv4 or IPv6") != NULL);
    }
    CHECK_EQ(proxy_set_parse("127.0.0.1, bogus", &s, why, sizeof(why)), KHO_E_INVALID);
    CHECK(strstr(why, "'bogus'") != NULL);
    char many[1024] = "";
    for (int i = 0; i <= PROXY_MAX_NETS; i++) {
        size_t n = strlen(many);
        snprintf(many + n, sizeof(many) - n, "%s10.0.0.%d", i ? "," : "", i);
    }
    CHECK_EQ(proxy_set_parse(many, &s, why, sizeof(why)), KHO_E_TOO_LARGE);
}

static void test_match(void)
{
    struct proxy_set s = set_of("127.0.0.1,10.1.0.0/16,192.168.0.128/25,2001:db8::/33");
    CHECK(proxy_set_trusts(&s, "127.0.0.1"));
    CHECK(!proxy_set_trusts(&s, "127.0.0.2"));
    CHECK(proxy_set_trusts(&s, "::ffff:127.0.0.1")); /* v4 on a dual-stack socket */
    CHECK(proxy_set_trusts(&s, "10.1.255.255"));
    CHECK(!proxy_set_trusts(&s, "10.2.0.0"));
    CHECK(proxy_set_trusts(&s, "192.168.0.200"));
    CHECK(!proxy_set_trusts(&s, "192.168.0.127"));
    CHECK(proxy_set_trusts(&s, "2001:db8:7fff::1"));
    CHECK(!proxy_set_trusts(&s, "2001:db8:8000::1"));
    CHECK(!proxy_set_trusts(&s, "::1"));
    CHECK(!proxy_set_trusts(&s, "garbage"));
    struct proxy_set none = set_of("");
    CHECK(!proxy_set_trusts(&none, "127.0.0.1"));
    struct proxy_set all6 = set_of("::/0");
    CHECK(proxy_set_trusts(&all6, "::1"));
    CHECK(proxy_set_trusts(&all6, "8.8.8.8")); /* ::/0 covers the mapped range too */
}

static const char *client(const struct proxy_set *s, const char *peer, const char *xff)
{
    static char out[PROXY_ADDR_MAX];
    proxy_client(s, peer, xff, out, sizeof(out));
    return out;
}

static void test_walk(void)
{
    struct proxy_set s = set_of("127.0.0.1,10.0.0.0/8");
    char out[PROXY_ADDR_MAX];
    /* untrusted peer: the header is ignored */
    CHECK(!proxy_client(&s, "203.0.113.9", "198.51.100.1", out, sizeof(out)));
    CHECK_STR(out, "203.0.113.9");
    /* trusted peer, no header */
    CHECK(!proxy_client(&s, "127.0.0.1", NULL, out, sizeof(out)));
    CHECK_STR(out, "127.0.0.1");
    /* the nearest untrusted entry wins; the client-written left part is never read */
    CHECK(proxy_client(&s, "127.0.0.1", "6.6.6.6, 198.51.100.7", out, sizeof(out)));
    CHECK_STR(out, "198.51.100.7");
    CHECK_STR(client(&s, "127.0.0.1", "6.6.6.6,198.51.100.7 , 10.0.0.5,10.9.9.9"), "198.51.100.7");
    CHECK_STR(client(&s, "127.0.0.1", " 2001:DB8::0:1 "), "2001:db8::1");
    CHECK_STR(client(&s, "127.0.0.1", "::ffff:198.51.100.3"), "198.51.100.3");
    /* all trusted: the leftmost (farthest) trusted hop */
    CHECK_STR(client(&s, "127.0.0.1", "10.0.0.1, 10.0.0.2"), "10.0.0.1");
    /* malformed: stop at the last address read (a trusted hop, or the peer) */
    CHECK_STR(client(&s, "127.0.0.1", "198.51.100.7, unknown, 10.0.0.3"), "10.0.0.3");
    CHECK(!proxy_client(&s, "127.0.0.1", "198.51.100.7, unknown", out, sizeof(out)));
    CHECK_STR(out, "127.0.0.1");
    CHECK_STR(client(&s, "127.0.0.1", ""), "127.0.0.1");
    CHECK_STR(client(&s, "127.0.0.1", "198.51.100.7,"), "127.0.0.1");
    CHECK_STR(client(&s, "127.0.0.1", "198.51.100.7:4711"), "127.0.0.1");
    CHECK_STR(client(&s, "127.0.0.1", "\"198.51.100.7\""), "127.0.0.1");
    /* no trusted set: nothing changes */
    struct proxy_set none = set_of("");
    CHECK_STR(client(&none, "127.0.0.1", "198.51.100.7"), "127.0.0.1");
}

static void test_hop_cap(void)
{
    struct proxy_set s = set_of("10.0.0.0/8,127.0.0.1");
    char xff[1024] = "198.51.100.7";
    for (int i = 0; i < PROXY_MAX_HOPS; i++) {
        size_t n = strlen(xff);
        snprintf(xff + n, sizeof(xff) - n, ",10.0.0.%d", i + 1);
    }
    /* the client sits one hop past the cap: the walk stops at the last hop it considered */
    CHECK_STR(client(&s, "127.0.0.1", xff), "10.0.0.1");
    char fits[1024] = "198.51.100.7";
    for (int i = 1; i < PROXY_MAX_HOPS; i++) {
        size_t n = strlen(fits);
        snprintf(fits + n, sizeof(fits) - n, ",10.0.0.%d", i);
    }
    CHECK_STR(client(&s, "127.0.0.1", fits), "198.51.100.7");
}

T_MAIN("proxy", T(test_parse_valid), T(test_parse_invalid), T(test_match), T(test_walk),
       T(test_hop_cap))
