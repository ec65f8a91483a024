/*
 * scale-client: logging, clocks, random numbers and input parsing that
 * every other file needs.
 */

#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <time.h>
#include <ctype.h>
#include <strings.h>
#include <arpa/inet.h>

#include "core.h"


int  sc_log_level = SC_LOG_INFO;

static uint64_t  sc_rng_state = 0x9e3779b97f4a7c15ULL;


/* One log format for every file: wall time, level, message, newline. */
void
sc_log(int level, const char *fmt, ...)
{
    static const char  *names[] = { "error", "warn", "info", "debug" };
    va_list             ap;
    struct timespec     ts;
    struct tm           tm;
    char                buf[32];

    if (level > sc_log_level) {
        return;
    }

    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    strftime(buf, sizeof(buf), "%H:%M:%S", &tm);

    fprintf(stderr, "%s.%03ld [%s] ", buf, ts.tv_nsec / 1000000,
            names[level]);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}


/* Intervals and deadlines use the monotonic clock, never wall time. */
int64_t
sc_now_ms(void)
{
    return sc_now_us() / 1000;
}


/* Microseconds, for measuring our own work. */
int64_t
sc_now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


/* Chat timestamps travel between peers, so they are wall-clock ms. */
int64_t
sc_wall_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* libevent takes timevals; we think in milliseconds. */
void
sc_tv_ms(struct timeval *tv, int64_t ms)
{
    if (ms < 0) {
        ms = 0;
    }

    tv->tv_sec = ms / 1000;
    tv->tv_usec = (ms % 1000) * 1000;
}


/* A seedable PRNG (xorshift64*) so a swarm run can be repeated. */
void
sc_rand_seed(uint64_t seed)
{
    sc_rng_state = seed ? seed : 0x9e3779b97f4a7c15ULL;
}


/* The next 32 random bits. */
uint32_t
sc_rand(void)
{
    sc_rng_state ^= sc_rng_state >> 12;
    sc_rng_state ^= sc_rng_state << 25;
    sc_rng_state ^= sc_rng_state >> 27;

    return (uint32_t) ((sc_rng_state * 0x2545f4914f6cdd1dULL) >> 32);
}


/* Uniform enough in [0, n) for n far below 2^32. */
uint32_t
sc_rand_below(uint32_t n)
{
    return n ? sc_rand() % n : 0;
}


/*
 * Durations come from flags and from the seed's env variables: "250ms",
 * "2s", "1m", or a bare number of seconds ("0.5", "5").
 */
int
sc_parse_ms(const char *s, int64_t *ms)
{
    char    *end;
    double   v;

    errno = 0;
    v = strtod(s, &end);

    if (end == s || errno || v < 0 || v > 86400.0 * 365) {
        return -1;
    }

    if (*end == '\0' || strcmp(end, "s") == 0) {
        v *= 1000;

    } else if (strcmp(end, "m") == 0) {
        v *= 60000;

    } else if (strcmp(end, "ms") != 0) {
        return -1;
    }

    *ms = (int64_t) (v + 0.5);
    return 0;
}


/* Decimal only, bounded, no sign, no trailing bytes. */
int
sc_parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char           *end;
    unsigned long   v;

    if (!isdigit((unsigned char) *s)) {
        return -1;
    }

    errno = 0;
    v = strtoul(s, &end, 10);

    if (*end != '\0' || errno || v > max) {
        return -1;
    }

    *out = v;
    return 0;
}


/* The spellings env files use for yes and no. */
int
sc_parse_bool(const char *s, int *out)
{
    if (strcasecmp(s, "1") == 0 || strcasecmp(s, "true") == 0
        || strcasecmp(s, "yes") == 0 || strcasecmp(s, "on") == 0)
    {
        *out = 1;
        return 0;
    }

    if (strcasecmp(s, "0") == 0 || strcasecmp(s, "false") == 0
        || strcasecmp(s, "no") == 0 || strcasecmp(s, "off") == 0)
    {
        *out = 0;
        return 0;
    }

    return -1;
}


/*
 * The bootstrap server's rule for names and ids: 1..255 bytes of
 * [A-Za-z0-9._:@-], optionally led by a bracketed IPv6 part.
 */
int
sc_valid_name(const char *s, size_t len)
{
    size_t  i;
    unsigned char  c;

    if (len == 0 || len > SC_NAME_MAX) {
        return 0;
    }

    i = 0;

    if (s[0] == '[') {
        for (i = 1; i < len && s[i] != ']'; i++) {
            c = s[i];
            if (!isxdigit(c) && c != ':' && c != '.') {
                return 0;
            }
        }

        if (i == len) {
            return 0;
        }

        i++;
    }

    for ( /* void */ ; i < len; i++) {
        c = s[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != ':' && c != '@'
            && c != '-')
        {
            return 0;
        }
    }

    return 1;
}


/* Splits "host:port" or "[v6]:port"; the port must be 1..65535. */
int
sc_split_addr(const char *addr, char *host, size_t hsize, unsigned *port)
{
    const char     *colon, *h;
    size_t          hlen;
    unsigned long   p;

    colon = strrchr(addr, ':');
    if (colon == NULL || colon == addr) {
        return -1;
    }

    h = addr;
    hlen = colon - addr;

    if (h[0] == '[') {
        if (hlen < 3 || h[hlen - 1] != ']') {
            return -1;
        }
        h++;
        hlen -= 2;
    }

    if (hlen == 0 || hlen >= hsize) {
        return -1;
    }

    if (sc_parse_uint(colon + 1, 65535, &p) != 0 || p == 0) {
        return -1;
    }

    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (unsigned) p;

    return 0;
}


/*
 * Peers learn addresses from strangers; unless told otherwise we only
 * ever connect to this machine.
 */
int
sc_is_loopback(const char *host)
{
    struct in_addr   a4;
    struct in6_addr  a6;

    if (strcmp(host, "localhost") == 0) {
        return 1;
    }

    if (inet_pton(AF_INET, host, &a4) == 1) {
        return (ntohl(a4.s_addr) >> 24) == 127;
    }

    if (inet_pton(AF_INET6, host, &a6) == 1) {
        return IN6_IS_ADDR_LOOPBACK(&a6);
    }

    return 0;
}


/*
 * Reads a string member with a length limit. Returns the string, or NULL
 * with *err set when it is present but wrong (or missing and required),
 * or NULL with *err == NULL when it is optional and absent.
 */
const char *
sc_json_string(json_t *obj, const char *key, size_t max, int required,
    const char **err)
{
    json_t      *v;
    size_t       len;

    *err = NULL;
    v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v)) {
        if (required) {
            *err = "is required";
        }
        return NULL;
    }

    if (!json_is_string(v)) {
        *err = "must be a string";
        return NULL;
    }

    len = json_string_length(v);

    if (len == 0 || len > max) {
        *err = len ? "is too long" : "is empty";
        return NULL;
    }

    if (strlen(json_string_value(v)) != len) {
        *err = "holds a NUL byte";
        return NULL;
    }

    return json_string_value(v);
}
