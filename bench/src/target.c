/*
 * scale-bench: where requests go (loopback URLs only) and the name pool.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "bench.h"
#include "http.h"


/*
 * Splits http://HOST[:PORT][/path] into an address and a path.  Only
 * loopback addresses are accepted: this tool loads servers on this machine
 * and nowhere else.
 */
static int
sb_target_parse(const char *url, sb_target_t *t)
{
    const char     *p, *host, *colon, *slash;
    char            hbuf[64];
    size_t          hlen;
    long            port;
    char           *end;
    struct in_addr  in;

    if (strncmp(url, "http://", 7) != 0) {
        fprintf(stderr, "scale-bench: \"%s\": only http:// URLs\n", url);
        return -1;
    }

    host = url + 7;
    slash = strchr(host, '/');
    if (slash == NULL) {
        slash = host + strlen(host);
    }

    colon = memchr(host, ':', (size_t) (slash - host));
    hlen = (size_t) ((colon ? colon : slash) - host);

    if (hlen == 0 || hlen >= sizeof(hbuf)) {
        fprintf(stderr, "scale-bench: \"%s\": bad host\n", url);
        return -1;
    }

    memcpy(hbuf, host, hlen);
    hbuf[hlen] = '\0';

    if (strcmp(hbuf, "localhost") == 0) {
        strcpy(hbuf, "127.0.0.1");
    }

    if (inet_pton(AF_INET, hbuf, &in) != 1
        || (ntohl(in.s_addr) >> 24) != 127)
    {
        fprintf(stderr, "scale-bench: \"%s\": the target must be a loopback "
                "address (127.0.0.0/8 or localhost)\n", url);
        return -1;
    }

    port = 80;

    if (colon) {
        port = strtol(colon + 1, &end, 10);
        if (end != slash || port <= 0 || port > 65535) {
            fprintf(stderr, "scale-bench: \"%s\": bad port\n", url);
            return -1;
        }
    }

    memset(&t->sa, 0, sizeof(t->sa));
    t->sa.sin_family = AF_INET;
    t->sa.sin_addr = in;
    t->sa.sin_port = htons((uint16_t) port);

    snprintf(t->host, sizeof(t->host), "%s:%ld", hbuf, port);

    p = slash;
    if (strlen(p) >= sizeof(t->path)) {
        fprintf(stderr, "scale-bench: \"%s\": path too long\n", url);
        return -1;
    }

    strcpy(t->path, p);

    return 0;
}


/*
 * Sets up target 0 (the module: BASE/connect, BASE/delete, BASE/status)
 * and, with --baseline, target 1 (every request to that one path).
 */
int
sb_target_init(sb_bench_t *b)
{
    size_t        n;
    sb_target_t  *t;

    t = &b->target[0];

    if (sb_target_parse(b->conf.url, t) != 0) {
        return -1;
    }

    /* BOOTSTRAP_URL of the seed may name the /connect route itself */
    n = strlen(t->path);
    if (n >= 8 && strcmp(t->path + n - 8, "/connect") == 0) {
        t->path[n - 8] = '\0';
        n -= 8;
    }

    while (n && t->path[n - 1] == '/') {
        t->path[--n] = '\0';
    }

    if (sb_http_heads(b, t, 0) != 0) {
        return -1;
    }

    b->ntargets = 1;

    if (b->conf.baseline == NULL) {
        return 0;
    }

    t = &b->target[1];

    if (sb_target_parse(b->conf.baseline, t) != 0) {
        return -1;
    }

    if (t->path[0] == '\0') {
        strcpy(t->path, "/");
    }

    t->addr_id = memcmp(&t->sa, &b->target[0].sa, sizeof(t->sa)) != 0;

    if (sb_http_heads(b, t, 1) != 0) {
        return -1;
    }

    b->ntargets = 2;

    return 0;
}


/* Frees the request heads built by sb_http_heads(). */
void
sb_target_free(sb_bench_t *b)
{
    int  i, op;

    for (i = 0; i < 2; i++) {
        for (op = 0; op < SB_OP_N; op++) {
            free(b->target[i].head[op]);
            b->target[i].head[op] = NULL;
        }
    }
}


/*
 * Writes name number i of the pool ("<prefix><i>", NUL-terminated) and
 * returns its length; called twice per request, so no printf.
 */
size_t
sb_name(const sb_conf_t *conf, uint32_t i, char *buf)
{
    size_t  plen;
    char    tmp[12];
    int     n;

    plen = strlen(conf->prefix);
    memcpy(buf, conf->prefix, plen);

    n = 0;

    do {
        tmp[n++] = (char) ('0' + i % 10);
        i /= 10;
    } while (i);

    while (n) {
        buf[plen++] = tmp[--n];
    }

    buf[plen] = '\0';

    return plen;
}


/*
 * The pool index of a name, or -1 when the name is not one of ours:
 * O(1) and no memory, whatever the pool size.
 */
int64_t
sb_name_index(const sb_conf_t *conf, const char *s, size_t len)
{
    size_t   plen, i;
    int64_t  v;

    plen = strlen(conf->prefix);

    if (len <= plen || len - plen > 10 || memcmp(s, conf->prefix, plen) != 0)
    {
        return -1;
    }

    if (s[plen] == '0' && len - plen > 1) {
        return -1;
    }

    v = 0;

    for (i = plen; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }

    return v < (int64_t) conf->clients ? v : -1;
}
