
/*
 * libFuzzer target: a snapshot file through the data directory's loader
 * (ngx_http_scale_store_parse(), static, so the file is included here)
 * into a small zone.  Beyond memory errors: the loader never leaves the
 * zone locked, never loads more entries than the registry holds, and
 * the registry's hashset, dense array and heap agree afterwards.
 */


#include "../ngx_scale_module/ngx_http_scale_store.c"

#include "ngx_stubs.h"


#define fuzz_check(cond, what)                                                \
    if (!(cond)) {                                                            \
        fprintf(stderr, "fuzz_snapshot: %s\n", what);                         \
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
    u_char                     *buf;
    ngx_int_t                   rc;
    ngx_str_t                   path = ngx_string("fuzz.snapshot");
    ngx_uint_t                  loaded;
    ngx_http_scale_load_t       ld;
    ngx_http_scale_zone_ctx_t  *ctx;


    if (size > 256 * 1024) {
        return 0;
    }

    /* 128k: about 1600 entries, so that a long file also fills it */
    ctx = ngx_stubs_zone(128 * 1024);
    fuzz_check(ctx != NULL, "no zone");

    buf = malloc(size ? size : 1);
    fuzz_check(buf != NULL, "out of memory");
    memcpy(buf, data, size);

    ngx_memzero(&ld, sizeof(ngx_http_scale_load_t));
    ld.path = &path;
    ld.log = &ngx_stubs_log;
    loaded = 0;

    rc = ngx_http_scale_store_parse(&ld, ctx, buf, buf + size, &loaded);

    fuzz_check(rc == NGX_OK || rc == NGX_ERROR, "unexpected return code");
    ngx_stubs_assert_unlocked();
    fuzz_check(loaded == ctx->sh->count, "loaded != registry count");
    fuzz_check(ngx_http_scale_registry_check(ctx->shpool, ctx->sh,
                                             &ngx_stubs_log)
               == 0, "the registry is inconsistent after a load");

    free(buf);

    return 0;
}
