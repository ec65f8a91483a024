
/*
 * libFuzzer target: a /connect, /delete or /alive body through
 * ngx_http_scale_identity_parse(), plain names and JSON alike.  Beyond
 * memory errors it checks what the handlers rely on: a refusal carries a
 * terminated, valid UTF-8 reason (jansson would not encode another, and
 * the client would get a 500), and an accepted identity holds only
 * names and an address the validators accept.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>

#include "ngx_http_scale_identity.h"
#include "ngx_stubs.h"


#define fuzz_check(cond, what)                                                \
    if (!(cond)) {                                                            \
        fprintf(stderr, "fuzz_identity: %s\n", what);                         \
        abort();                                                              \
    }


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


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
    u_char                     *body, *reason;
    json_t                     *s;
    ngx_int_t                   rc;
    ngx_pool_t                 *pool;
    ngx_http_scale_identity_t   ident;


    /* bodies over scale_body_max never get here; keep runs fast */
    if (size > 65536) {
        return 0;
    }

    pool = ngx_create_pool(4096, &ngx_stubs_log);
    body = malloc(size ? size : 1);
    fuzz_check(pool && body, "out of memory");

    /* exactly size bytes: a read past the body is an ASan report */
    memcpy(body, data, size);

    rc = ngx_http_scale_identity_parse(pool, body, size, &ident, &reason);

    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED || rc == NGX_ERROR,
               "unexpected return code");

    if (rc == NGX_DECLINED) {
        fuzz_check(reason != NULL, "no reason");
        fuzz_check(strlen((char *) reason) > 0, "empty reason");

        s = json_string((char *) reason);
        fuzz_check(s != NULL, "the reason is not valid UTF-8");
        json_decref(s);
    }

    if (rc == NGX_OK) {
        fuzz_check(ngx_http_scale_identity_valid_name(ident.id.data,
                                                      ident.id.len)
                   == NGX_OK, "accepted an invalid id");
        fuzz_check(ngx_http_scale_identity_valid_name(ident.name.data,
                                                      ident.name.len)
                   == NGX_OK, "accepted an invalid name");
        fuzz_check(ident.addr.len == 0
                   || ngx_http_scale_identity_valid_addr(ident.addr.data,
                                                         ident.addr.len)
                      == NGX_OK, "accepted an invalid addr");
        fuzz_check(!ident.probeable || ident.net != 0,
                   "a probeable identity without a network key");
        fuzz_check(!ident.name_addr || ident.probeable,
                   "name_addr without probeable");
    }

    ngx_destroy_pool(pool);
    free(body);

    return 0;
}
