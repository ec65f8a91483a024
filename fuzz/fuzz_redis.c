
/*
 * libFuzzer target: Redis replies through the module's reply handlers
 * (ngx_http_scale_redis.c is included: they are static).  The input's
 * first byte picks the first handler (pub/sub message, HSCAN page,
 * SMEMBERS, epoch GET, HLEN, batch answer); the rest is a RESP stream
 * read by hiredis' own reader, one reply per waiting callback in order,
 * as hiredis would deliver them.  Commands the handlers send queue their
 * callbacks for the next replies; at the end every waiting callback gets
 * NULL, as on a lost connection.  Checks: no memory error or leak, the
 * zone is never left locked, and the registry stays consistent.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

/* the handlers' commands are recorded, not sent */
#define redisAsyncCommand      fuzz_redis_command
#define redisAsyncCommandArgv  fuzz_redis_command_argv

int fuzz_redis_command(redisAsyncContext *ac, redisCallbackFn *fn,
    void *data, const char *format, ...);
int fuzz_redis_command_argv(redisAsyncContext *ac, redisCallbackFn *fn,
    void *data, int argc, const char **argv, const size_t *argvlen);

#include "../ngx_scale_module/ngx_http_scale_redis.c"

#include "ngx_stubs.h"


#define FUZZ_REDIS_PENDING  64
#define FUZZ_REDIS_STEPS    64
#define FUZZ_REDIS_ARRAY_MAX  4096


#define fuzz_check(cond, what)                                                \
    if (!(cond)) {                                                            \
        fprintf(stderr, "fuzz_redis: %s\n", what);                            \
        abort();                                                              \
    }


typedef struct {
    redisCallbackFn            *fn;
    void                       *data;
} fuzz_redis_pending_t;


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static fuzz_redis_pending_t  fuzz_pending[FUZZ_REDIS_PENDING];
static ngx_uint_t            fuzz_head, fuzz_tail;
static redisAsyncContext     fuzz_ac;

static ngx_pool_t                     *fuzz_keys_pool;
static ngx_pool_t                     *fuzz_batch_pool;
static ngx_http_scale_persist_conf_t   fuzz_pcf;
static ngx_http_scale_journal_t        fuzz_keys_journal;
static ngx_http_scale_redis_t          fuzz_rd_keys;


static void
fuzz_redis_push(redisCallbackFn *fn, void *data)
{
    fuzz_redis_pending_t  *p;

    /* a full queue answers at once, as a dropped connection would */
    if (fuzz_tail - fuzz_head == FUZZ_REDIS_PENDING) {
        fn(&fuzz_ac, NULL, data);
        return;
    }

    p = &fuzz_pending[fuzz_tail++ % FUZZ_REDIS_PENDING];
    p->fn = fn;
    p->data = data;
}


/* formats like hiredis (so a bad format or argument shows), queues fn */
int
fuzz_redis_command(redisAsyncContext *ac, redisCallbackFn *fn, void *data,
    const char *format, ...)
{
    int       len;
    char     *cmd;
    va_list   ap;

    va_start(ap, format);
    len = redisvFormatCommand(&cmd, format, ap);
    va_end(ap);

    fuzz_check(len > 0, "a command hiredis cannot format");
    free(cmd);

    if (fn) {
        fuzz_redis_push(fn, data);
    }

    return REDIS_OK;
}


int
fuzz_redis_command_argv(redisAsyncContext *ac, redisCallbackFn *fn,
    void *data, int argc, const char **argv, const size_t *argvlen)
{
    int    len;
    char  *cmd;

    len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    fuzz_check(len > 0, "a command hiredis cannot format");
    free(cmd);

    if (fn) {
        fuzz_redis_push(fn, data);
    }

    return REDIS_OK;
}


/*
 * hiredis 0.14's reader allocates an array's element table as soon as it
 * reads the count ("*999999999"): that is hiredis trusting its server,
 * not the module, so such inputs are skipped (an array header anywhere
 * at a line start, bulk data included, errs on the safe side)
 */
static ngx_uint_t
fuzz_redis_huge(const uint8_t *data, size_t size)
{
    size_t      i, n;
    ngx_uint_t  digits;

    for (i = 0; i < size; i++) {
        if (data[i] != '*' || (i > 1 && data[i - 1] != '\n')) {
            continue;
        }

        n = 0;

        for (digits = 0; i + 1 < size && data[i + 1] >= '0'
                         && data[i + 1] <= '9'; i++)
        {
            if (++digits > 6) {
                return 1;
            }

            n = n * 10 + (data[i + 1] - '0');
        }

        if (n > FUZZ_REDIS_ARRAY_MAX) {
            return 1;
        }
    }

    return 0;
}


/*
 * Before the first input: the configuration and the key names, which
 * live as long as the process (so no input looks like it leaks them).
 */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_stubs_init();

    fuzz_keys_pool = ngx_create_pool(4096, &ngx_stubs_log);
    fuzz_batch_pool = ngx_create_pool(4096, &ngx_stubs_log);
    fuzz_check(fuzz_keys_pool && fuzz_batch_pool, "out of memory");

    ngx_str_set(&fuzz_pcf.redis_ip, "127.0.0.1");
    ngx_str_set(&fuzz_pcf.redis_prefix, "scale:");
    fuzz_pcf.redis_port = 6379;
    fuzz_pcf.queue_size = 4096;

    ngx_memcpy(fuzz_keys_journal.instance, "fuzz-self", sizeof("fuzz-self"));

    fuzz_check(ngx_http_scale_redis_keys(&fuzz_rd_keys, fuzz_keys_pool,
                                         &fuzz_pcf, &fuzz_keys_journal)
               == NGX_OK, "no keys");

    return 0;
}


/* a fresh zone with a journal, and the worker's state pointing at it */
static ngx_http_scale_redis_t *
fuzz_redis_setup(void)
{
    ngx_http_scale_redis_t      *rd;
    ngx_http_scale_journal_t    *j;
    ngx_http_scale_zone_ctx_t   *ctx;

    ctx = ngx_stubs_zone(128 * 1024);
    fuzz_check(ctx != NULL, "no zone");

    j = ngx_slab_calloc_locked(ctx->shpool,
                               sizeof(ngx_http_scale_journal_t));
    fuzz_check(j != NULL, "no journal");

    j->size = fuzz_pcf.queue_size;
    j->ring = ngx_slab_alloc_locked(ctx->shpool, j->size);
    fuzz_check(j->ring != NULL, "no journal ring");

    j->enabled = 1;
    ngx_memcpy(j->instance, "fuzz-self", sizeof("fuzz-self"));
    ctx->sh->journal = j;

    rd = &ngx_http_scale_rd;
    *rd = fuzz_rd_keys;

    rd->pcf = &fuzz_pcf;
    rd->shpool = ctx->shpool;
    rd->sh = ctx->sh;
    rd->j = j;
    rd->log = &ngx_stubs_log;
    rd->pool = fuzz_batch_pool;
    rd->ready = 1;
    rd->loading = 1;

    return rd;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void                    *reply;
    ngx_uint_t               steps, first;
    redisReader             *reader;
    fuzz_redis_pending_t    *p;
    ngx_http_scale_redis_t  *rd;

    static redisCallbackFn  *entry[] = {
        ngx_http_scale_redis_message,
        ngx_http_scale_redis_load_done,
        ngx_http_scale_redis_members_done,
        ngx_http_scale_redis_epoch_done,
        ngx_http_scale_redis_epoch_done,
        ngx_http_scale_redis_hlen_done,
        ngx_http_scale_redis_batch_done,
    };


    if (size < 1 || size > 65536 || fuzz_redis_huge(data, size)) {
        return 0;
    }

    rd = fuzz_redis_setup();

    /* the second epoch entry is the answer at connect (data: the link) */
    first = data[0] % (sizeof(entry) / sizeof(entry[0]));
    fuzz_head = 0;
    fuzz_tail = 0;

    reader = redisReaderCreate();
    fuzz_check(reader != NULL, "out of memory");

    if (redisReaderFeed(reader, (const char *) data + 1, size - 1)
        != REDIS_OK)
    {
        redisReaderFree(reader);
        return 0;
    }

    for (steps = 0; steps < FUZZ_REDIS_STEPS; steps++) {
        reply = NULL;

        if (redisReaderGetReply(reader, &reply) != REDIS_OK
            || reply == NULL)
        {
            break;
        }

        if (fuzz_head == fuzz_tail) {
            fuzz_redis_push(entry[first], first == 4 ? (void *) &rd->cmd
                                          : (first == 3 || first == 6)
                                            ? NULL : (void *) rd);
        }

        p = &fuzz_pending[fuzz_head++ % FUZZ_REDIS_PENDING];
        p->fn(&fuzz_ac, reply, p->data);
        freeReplyObject(reply);

        ngx_stubs_assert_unlocked();
    }

    /* the connection goes: every waiting callback hears NULL */
    rd->stopping = 1;

    while (fuzz_head != fuzz_tail) {
        p = &fuzz_pending[fuzz_head++ % FUZZ_REDIS_PENDING];
        p->fn(&fuzz_ac, NULL, p->data);
        ngx_stubs_assert_unlocked();
    }

    redisReaderFree(reader);
    ngx_reset_pool(fuzz_batch_pool);

    fuzz_check(ngx_http_scale_registry_check(rd->shpool, rd->sh,
                                             &ngx_stubs_log)
               == 0, "the registry is inconsistent");

    return 0;
}
