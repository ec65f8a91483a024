
/*
 * libFuzzer target: the name and address validators, against a
 * reference written from the README's rule (1 to 255 bytes of
 * [A-Za-z0-9._:@-], optionally led by "[ipv6]"; an address is host:port
 * with a DNS name, IPv4 or [IPv6] host and a port 1..65535), and plain
 * bodies through the whole parser: a plain name that is accepted is the
 * trimmed body, unchanged.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_scale_identity.h"
#include "ngx_stubs.h"


#define fuzz_check(cond, what)                                                \
    if (!(cond)) {                                                            \
        fprintf(stderr, "fuzz_name: %s\n", what);                             \
        abort();                                                              \
    }


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static int
fuzz_hexish(u_char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
           || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}


static int
fuzz_name_char(u_char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
           || (c >= 'A' && c <= 'Z') || c == '.' || c == '_' || c == ':'
           || c == '@' || c == '-';
}


/* "[" 2+ of [0-9a-fA-F:.] "]", the length taken, or 0 */
static size_t
fuzz_bracket(const u_char *p, size_t len)
{
    size_t  i;

    if (len == 0 || p[0] != '[') {
        return 0;
    }

    for (i = 1; i < len && fuzz_hexish(p[i]); i++) { /* void */ }

    if (i == len || p[i] != ']' || i < 3) {
        return 0;
    }

    return i + 1;
}


static int
fuzz_ref_name(const u_char *p, size_t len)
{
    size_t  i;

    if (len < 1 || len > 255) {
        return 0;
    }

    i = 0;

    if (p[0] == '[') {
        i = fuzz_bracket(p, len);
        if (i == 0) {
            return 0;
        }
    }

    for ( /* void */ ; i < len; i++) {
        if (!fuzz_name_char(p[i])) {
            return 0;
        }
    }

    return 1;
}


static int
fuzz_ref_addr(const u_char *p, size_t len)
{
    size_t    i, colon, port_len;
    uint32_t  port;

    if (len < 3 || len > 255) {
        return 0;
    }

    /* the last colon splits host and port */
    for (colon = len; colon > 0 && p[colon - 1] != ':'; colon--) {
        /* void */
    }

    if (colon == 0) {
        return 0;
    }

    colon--;
    port_len = len - colon - 1;

    if (colon == 0 || port_len == 0 || port_len > 5) {
        return 0;
    }

    port = 0;

    for (i = colon + 1; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return 0;
        }

        port = port * 10 + (p[i] - '0');
    }

    if (port < 1 || port > 65535) {
        return 0;
    }

    if (p[0] == '[') {
        return fuzz_bracket(p, colon) == colon;
    }

    for (i = 0; i < colon; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'z')
              || (p[i] >= 'A' && p[i] <= 'Z') || p[i] == '.'
              || p[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}


static int
fuzz_space(u_char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}


/* before the first input: what stays allocated is not a leak of one */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_stubs_init();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                     *buf, *reason;
    size_t                      b, e;
    ngx_int_t                   rc;
    ngx_pool_t                 *pool;
    ngx_http_scale_identity_t   ident;


    if (size > 1024) {
        return 0;
    }

    buf = malloc(size ? size : 1);
    fuzz_check(buf != NULL, "out of memory");
    memcpy(buf, data, size);

    if (size) {
        fuzz_check((ngx_http_scale_identity_valid_name(buf, size) == NGX_OK)
                   == fuzz_ref_name(buf, size),
                   "valid_name disagrees with the rule");
    }

    fuzz_check((ngx_http_scale_identity_valid_addr(buf, size) == NGX_OK)
               == fuzz_ref_addr(buf, size),
               "valid_addr disagrees with the rule");

    pool = ngx_create_pool(4096, &ngx_stubs_log);
    fuzz_check(pool != NULL, "out of memory");

    rc = ngx_http_scale_identity_parse(pool, buf, size, &ident, &reason);

    if (rc == NGX_OK && !ident.json) {
        for (b = 0; b < size && fuzz_space(buf[b]); b++) { /* void */ }
        for (e = size; e > b && fuzz_space(buf[e - 1]); e--) { /* void */ }

        fuzz_check(ident.id.len == e - b
                   && memcmp(ident.id.data, buf + b, e - b) == 0
                   && fuzz_ref_name(buf + b, e - b),
                   "a plain name was changed or is not valid");
        fuzz_check(ident.name.len == ident.id.len && ident.addr.len == 0,
                   "a plain name has another name or an address");
    }

    ngx_destroy_pool(pool);
    free(buf);

    return 0;
}
