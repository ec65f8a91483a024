
/*
 * Redis: write-behind persistence and replication between instances.
 *
 * Keys, under the prefix (default "scale:"):
 *     clients           hash: id -> "<name> <addr or -> <created>"
 *     seen              sorted set: id scored by last seen, unix ms
 *     epoch             a random value; when it changes or vanishes,
 *                       Redis lost its data and every instance rewrites
 *     instances         set of instance ids
 *     instance:<id>     JSON heartbeat with a TTL
 *     events:<db>       channel: "<instance>\n" then lines "J id name
 *                       addr created" (join), "R id name addr created"
 *                       (refresh), "L id" (leave), "E id" (eviction)
 *
 * Worker 0 drains the journal in batches (one HSET, ZADD, HDEL, ZREM and
 * PUBLISH per batch; a refresh is queued once per round and leaves with
 * the next tick, so refreshes are coalesced), and holds a second
 * connection subscribed to the channel that applies other instances'
 * changes to the zone.  The request path never waits on any of it.
 * Refreshes carry the whole identity, so a live client heals whatever
 * missed its join (Redis restarted from an old dump, an instance whose
 * events link was down).
 */


#include <jansson.h>

#include "ngx_http_scale_identity.h"
#include "ngx_http_scale_journal.h"


#if (NGX_HTTP_SCALE_REDIS)

#include "ngx_http_scale_hiredis.h"


#define NGX_HTTP_SCALE_REDIS_BATCH       512     /* records per batch */
#define NGX_HTTP_SCALE_REDIS_BATCH_BYTES 32768
#define NGX_HTTP_SCALE_REDIS_INFLIGHT    8       /* batches unconfirmed */
#define NGX_HTTP_SCALE_REDIS_SCAN        1000    /* HSCAN COUNT */
#define NGX_HTTP_SCALE_REDIS_RELOG       60000   /* same error, once/min */


/* one command in hiredis' argv form */
typedef struct {
    int                         argc;
    const char                **argv;
    size_t                     *lens;
} ngx_http_scale_redis_cmd_t;


/* the commands of one batch of changes */
typedef struct {
    ngx_http_scale_redis_cmd_t  cmd[5];
    ngx_uint_t                  n;
    ngx_uint_t                  written;
    ngx_uint_t                  deleted;
} ngx_http_scale_redis_batch_t;


/* a line of a message from another instance, parsed */
typedef struct {
    u_char                      op;
    ngx_uint_t                  missing;       /* R of an unknown id */
    ngx_str_t                   id;
    ngx_str_t                   value;         /* "name addr created" */
    uint32_t                    created;
    ngx_http_scale_identity_t   ident;
} ngx_http_scale_redis_line_t;


/* the members an instance list lookup waits for (SMEMBERS -> MGET) */
typedef struct {
    ngx_uint_t                  n;
    ngx_str_t                   ids[NGX_HTTP_SCALE_INSTANCES_MAX];
    u_char                      data[1];
} ngx_http_scale_redis_members_t;


/* the draining worker's state */
typedef struct {
    ngx_http_scale_persist_conf_t  *pcf;
    ngx_slab_pool_t                *shpool;
    ngx_http_scale_shctx_t         *sh;
    ngx_http_scale_journal_t       *j;
    ngx_log_t                      *log;

    ngx_http_scale_link_t           cmd;
    ngx_http_scale_link_t           sub;

    ngx_str_t                       clients;
    ngx_str_t                       seen;
    ngx_str_t                       epoch_key;
    ngx_str_t                       instances;
    ngx_str_t                       instance_key;  /* prefix "instance:" */
    ngx_str_t                       self_key;
    ngx_str_t                       channel;
    ngx_str_t                       instance;

    ngx_pool_t                     *pool;          /* one batch's memory */
    ngx_uint_t                      ready;         /* commands usable */
    ngx_uint_t                      was_ready;
    ngx_uint_t                      inflight;
    ngx_msec_t                      replied;       /* last batch reply */
    ngx_uint_t                      stopping;

    ngx_uint_t                      rewrite;
    ngx_uint_t                      rewrite_bucket;
    ngx_uint_t                      rewrite_entries;
    ngx_msec_t                      rewrite_start;
    u_char                          rewrite_epoch[NGX_HTTP_SCALE_EPOCH_LEN];

    ngx_uint_t                      load_wanted;
    ngx_uint_t                      loading;
    ngx_uint_t                      load_total;
    ngx_uint_t                      load_scanned;
    ngx_uint_t                      load_added;
    ngx_uint_t                      load_full;
    ngx_uint_t                      load_invalid;
    ngx_uint_t                      load_report;
    ngx_msec_t                      load_start;

    ngx_msec_t                      heartbeat;

    uint32_t                        logged[8];     /* crc32 of messages */
    ngx_msec_t                      logged_at[8];
    ngx_uint_t                      logged_next;
} ngx_http_scale_redis_t;


static ngx_int_t ngx_http_scale_redis_keys(ngx_http_scale_redis_t *rd,
    ngx_pool_t *pool, ngx_http_scale_persist_conf_t *pcf,
    ngx_http_scale_journal_t *j);
static void ngx_http_scale_redis_cmd_up(ngx_http_scale_link_t *link);
static void ngx_http_scale_redis_epoch(ngx_http_scale_redis_t *rd,
    void *data);
static void ngx_http_scale_redis_cmd_lost(ngx_http_scale_link_t *link);
static void ngx_http_scale_redis_sub_up(ngx_http_scale_link_t *link);
static void ngx_http_scale_redis_sub_lost(ngx_http_scale_link_t *link);
static void ngx_http_scale_redis_auth_done(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_scale_redis_checked(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_scale_redis_epoch_done(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_scale_redis_info_done(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_scale_redis_message(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_scale_redis_apply(ngx_http_scale_redis_t *rd,
    u_char *p, size_t len);
static void ngx_http_scale_redis_drain(ngx_http_scale_redis_t *rd);
static void ngx_http_scale_redis_batch_done(redisAsyncContext *ac, void *r,
    void *data);
static ngx_int_t ngx_http_scale_redis_batch(ngx_http_scale_redis_t *rd,
    ngx_pool_t *pool, ngx_http_scale_change_t *ch, ngx_uint_t n,
    ngx_http_scale_redis_batch_t *b);
static ngx_int_t ngx_http_scale_redis_send(ngx_http_scale_redis_t *rd,
    ngx_http_scale_redis_batch_t *b, void *last);
static void ngx_http_scale_redis_rewrite_start(ngx_http_scale_redis_t *rd,
    u_char *epoch, const char *why);
static void ngx_http_scale_redis_rewrite_step(ngx_http_scale_redis_t *rd);
static ngx_uint_t ngx_http_scale_redis_collect_locked(
    ngx_http_scale_redis_t *rd, ngx_uint_t *bucket, ngx_pool_t *pool,
    ngx_http_scale_change_t *ch, ngx_uint_t max);
static void ngx_http_scale_redis_load_start(ngx_http_scale_redis_t *rd);
static void ngx_http_scale_redis_load_done(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_scale_redis_hlen_done(redisAsyncContext *ac, void *r,
    void *data);
static ngx_int_t ngx_http_scale_redis_value(ngx_pool_t *pool, ngx_str_t *id,
    u_char *p, size_t len, ngx_http_scale_identity_t *ident,
    uint32_t *created);
static void ngx_http_scale_redis_heartbeat(ngx_http_scale_redis_t *rd);
static void ngx_http_scale_redis_members_done(redisAsyncContext *ac,
    void *r, void *data);
static void ngx_http_scale_redis_instances_done(redisAsyncContext *ac,
    void *r, void *data);
static void ngx_http_scale_redis_report(ngx_http_scale_redis_t *rd,
    ngx_uint_t level, const char *fmt, ...);
static void ngx_http_scale_redis_status(ngx_http_scale_redis_t *rd);
static ngx_msec_t ngx_http_scale_redis_now(void);
static void ngx_http_scale_redis_flush(ngx_http_scale_redis_t *rd,
    redisContext *c, ngx_log_t *log);


static ngx_http_scale_redis_t   ngx_http_scale_rd;
static ngx_http_scale_change_t  ngx_http_scale_changes[
                                    NGX_HTTP_SCALE_REDIS_BATCH];


#define ngx_http_scale_redis_is_error(r)                                      \
    ((r) == NULL || ((redisReply *) (r))->type == REDIS_REPLY_ERROR)


/*
 * scale_redis <ip|host>:<port> [db=<n>] [password=<p>] [prefix=<p>]
 *     [instance=<id>] [queue=<size>] [timeout=<time>]
 * A host name is resolved here, at configuration time: hiredis would
 * resolve it with a blocking call in the worker.
 */
char *
ngx_http_scale_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_scale_main_conf_t  *smcf = conf;

    u_char                         *p;
    size_t                          len;
    ssize_t                         size;
    ngx_int_t                       n;
    ngx_str_t                      *value, s;
    ngx_uint_t                      i;
    ngx_url_t                       u;
    ngx_msec_t                      ms;
    ngx_http_scale_persist_conf_t  *pcf;

    pcf = ngx_http_scale_persist_conf(cf, smcf);
    if (pcf == NULL) {
        return NGX_CONF_ERROR;
    }

    if (pcf->redis.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = value[1];
    u.default_port = 6379;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s in \"%V\"", u.err,
                               &u.url);
        }

        return NGX_CONF_ERROR;
    }

    if (u.naddrs == 0 || u.family == AF_UNIX) {
        return "needs an IP address or a host name, and a port";
    }

    p = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, p,
                        NGX_SOCKADDR_STRLEN, 0);
    p[len] = '\0';

    pcf->redis = value[1];
    pcf->redis_ip.data = p;
    pcf->redis_ip.len = len;
    pcf->redis_port = ngx_inet_get_port(u.addrs[0].sockaddr);
    pcf->redis_timeout = 1000;
    ngx_str_set(&pcf->redis_prefix, "scale:");

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            n = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (n == NGX_ERROR || n > 65535) {
                return "invalid \"db=\"";
            }

            pcf->redis_db = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
            pcf->redis_password.data = value[i].data + 9;
            pcf->redis_password.len = value[i].len - 9;
            continue;
        }

        if (ngx_strncmp(value[i].data, "prefix=", 7) == 0) {
            pcf->redis_prefix.data = value[i].data + 7;
            pcf->redis_prefix.len = value[i].len - 7;
            continue;
        }

        if (ngx_strncmp(value[i].data, "instance=", 9) == 0) {
            pcf->instance.data = value[i].data + 9;
            pcf->instance.len = value[i].len - 9;

            if (pcf->instance.len >= NGX_HTTP_SCALE_INSTANCE_LEN
                || ngx_http_scale_identity_valid_name(pcf->instance.data,
                                                      pcf->instance.len)
                   != NGX_OK)
            {
                return "invalid \"instance=\": up to 63 bytes of "
                       "[A-Za-z0-9._:@-]";
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "queue=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            size = ngx_parse_size(&s);
            if (size == NGX_ERROR || size < 4096) {
                return "invalid \"queue=\": 4k at least";
            }

            pcf->queue_size = size;
            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            ms = ngx_parse_time(&s, 0);
            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                return "invalid \"timeout=\"";
            }

            pcf->redis_timeout = ms;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    for (p = pcf->redis_prefix.data;
         p < pcf->redis_prefix.data + pcf->redis_prefix.len;
         p++)
    {
        if (*p <= ' ' || *p >= 0x7f) {
            return "invalid \"prefix=\": printable characters only";
        }
    }

    return NGX_CONF_OK;
}


/* in the master: say where the instance replicates */
ngx_int_t
ngx_http_scale_redis_init_module(ngx_cycle_t *cycle,
    ngx_http_scale_main_conf_t *smcf)
{
    ngx_http_scale_journal_t       *j;
    ngx_http_scale_zone_ctx_t      *ctx;
    ngx_http_scale_persist_conf_t  *pcf;

    pcf = smcf->persist;
    ctx = smcf->shm_zone->data;
    j = ctx->sh->journal;

    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "scale redis: instance \"%s\" replicates through %V:%i "
                  "db %i prefix \"%V\" (queue %uz bytes)",
                  j->instance, &pcf->redis_ip, pcf->redis_port,
                  pcf->redis_db, &pcf->redis_prefix, j->size);

    return NGX_OK;
}


/* worker 0 claims the journal and connects both links */
ngx_int_t
ngx_http_scale_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_scale_main_conf_t *smcf)
{
    ngx_http_scale_redis_t     *rd;
    ngx_http_scale_zone_ctx_t  *ctx;

    rd = &ngx_http_scale_rd;
    ctx = smcf->shm_zone->data;

    ngx_memzero(rd, sizeof(ngx_http_scale_redis_t));

    rd->pcf = smcf->persist;
    rd->shpool = ctx->shpool;
    rd->sh = ctx->sh;
    rd->j = ctx->sh->journal;
    rd->log = cycle->log;

    if (ngx_http_scale_redis_keys(rd, cycle->pool, rd->pcf, rd->j) != NGX_OK)
    {
        return NGX_ERROR;
    }

    rd->pool = ngx_create_pool(64 * 1024, cycle->log);
    if (rd->pool == NULL) {
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&rd->shpool->mutex);

    rd->j->drainer = ngx_pid;
    rd->j->sent = rd->j->tail;
    rd->j->redis.connected = 0;
    rd->j->redis.subscribed = 0;

    ngx_shmtx_unlock(&rd->shpool->mutex);

    rd->cmd.name = "commands";
    rd->sub.name = "events";

    rd->cmd.up = ngx_http_scale_redis_cmd_up;
    rd->cmd.lost = ngx_http_scale_redis_cmd_lost;
    rd->sub.up = ngx_http_scale_redis_sub_up;
    rd->sub.lost = ngx_http_scale_redis_sub_lost;

    rd->cmd.ip = (char *) rd->pcf->redis_ip.data;
    rd->cmd.port = (int) rd->pcf->redis_port;
    rd->cmd.timeout = rd->pcf->redis_timeout;
    rd->cmd.log = cycle->log;
    rd->cmd.data = rd;

    rd->sub.ip = rd->cmd.ip;
    rd->sub.port = rd->cmd.port;
    rd->sub.timeout = rd->cmd.timeout;
    rd->sub.log = cycle->log;
    rd->sub.data = rd;

    ngx_http_scale_link_start(&rd->cmd);
    ngx_http_scale_link_start(&rd->sub);

    return NGX_OK;
}


/* key and channel names, built once from the prefix and the instance */
static ngx_int_t
ngx_http_scale_redis_keys(ngx_http_scale_redis_t *rd, ngx_pool_t *pool,
    ngx_http_scale_persist_conf_t *pcf, ngx_http_scale_journal_t *j)
{
    u_char     *p;
    size_t      len;
    ngx_str_t  *prefix;

    prefix = &pcf->redis_prefix;

    rd->instance.data = j->instance;
    rd->instance.len = ngx_strlen(j->instance);

    /* seven keys start with the prefix */
    len = 7 * prefix->len + sizeof("clientsseenepochinstancesinstance:"
                                   "instance:events:")
          + rd->instance.len + NGX_INT_T_LEN;

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

#define ngx_http_scale_redis_key(key, fmt, ...)                               \
    key.data = p;                                                             \
    p = ngx_sprintf(p, "%V" fmt, prefix, __VA_ARGS__);                        \
    key.len = p - key.data

    ngx_http_scale_redis_key(rd->clients, "clients%s", "");
    ngx_http_scale_redis_key(rd->seen, "seen%s", "");
    ngx_http_scale_redis_key(rd->epoch_key, "epoch%s", "");
    ngx_http_scale_redis_key(rd->instances, "instances%s", "");
    ngx_http_scale_redis_key(rd->instance_key, "instance:%s", "");
    ngx_http_scale_redis_key(rd->self_key, "instance:%V", &rd->instance);
    ngx_http_scale_redis_key(rd->channel, "events:%i", pcf->redis_db);

#undef ngx_http_scale_redis_key

    return NGX_OK;
}


/*
 * The commands link is connected: authenticate, select the database and
 * learn Redis' epoch; the link is usable once that answer is in.
 */
static void
ngx_http_scale_redis_cmd_up(ngx_http_scale_link_t *link)
{
    redisAsyncContext      *ac;
    ngx_http_scale_redis_t *rd;

    rd = link->data;
    ac = link->ac;

    if (rd->pcf->redis_password.len) {
        (void) redisAsyncCommand(ac, ngx_http_scale_redis_auth_done, link,
                                 "AUTH %b", rd->pcf->redis_password.data,
                                 rd->pcf->redis_password.len);
    }

    if (rd->pcf->redis_db) {
        (void) redisAsyncCommand(ac, ngx_http_scale_redis_auth_done, link,
                                 "SELECT %d", (int) rd->pcf->redis_db);
    }

    (void) redisAsyncCommand(ac, ngx_http_scale_redis_info_done, rd,
                             "INFO server");

    ngx_http_scale_redis_epoch(rd, link);
}


/*
 * Redis' run_id changes with every restart.  A Redis that restarted
 * from an older RDB or AOF keeps the epoch but may have lost the latest
 * writes, which the journal no longer holds: rewrite everything (the
 * epoch check catches a Redis that restarted empty).
 */
static void
ngx_http_scale_redis_info_done(redisAsyncContext *ac, void *r, void *data)
{
    ngx_http_scale_redis_t  *rd = data;

    u_char      *p, *last, *id;
    size_t       len;
    ngx_uint_t   restarted;
    redisReply  *reply;

    reply = r;

    if (reply == NULL || rd->stopping
        || reply->type != REDIS_REPLY_STRING)
    {
        return;
    }

    p = (u_char *) reply->str;
    last = p + reply->len;

    id = ngx_strlcasestrn(p, last, (u_char *) "run_id:", 7 - 1);
    if (id == NULL) {
        return;
    }

    id += 7;

    for (p = id; p < last && *p != '\r' && *p != '\n'; p++) {
        /* void */
    }

    len = ngx_min((size_t) (p - id), sizeof(rd->j->run_id) - 1);

    ngx_shmtx_lock(&rd->shpool->mutex);

    restarted = (rd->j->run_id[0] != '\0'
                 && (ngx_strlen(rd->j->run_id) != len
                     || ngx_strncmp(rd->j->run_id, id, len) != 0));

    ngx_memcpy(rd->j->run_id, id, len);
    rd->j->run_id[len] = '\0';

    ngx_shmtx_unlock(&rd->shpool->mutex);

    if (restarted && !rd->rewrite) {
        ngx_http_scale_redis_rewrite_start(rd, NULL, "Redis restarted");
    }
}


/* makes an epoch if Redis has none, and asks for the current one */
static void
ngx_http_scale_redis_epoch(ngx_http_scale_redis_t *rd, void *data)
{
    u_char              epoch[NGX_HTTP_SCALE_EPOCH_LEN];
    size_t              len;
    redisAsyncContext  *ac;

    ac = rd->cmd.ac;

    if (ac == NULL) {
        return;
    }

    len = ngx_sprintf(epoch, "%08xD%08xD%P", (uint32_t) ngx_random(),
                      (uint32_t) ngx_time(), ngx_pid)
          - epoch;

    (void) redisAsyncCommand(ac, ngx_http_scale_redis_checked, NULL,
                             "SET %b %b NX", rd->epoch_key.data,
                             rd->epoch_key.len, epoch, len);
    (void) redisAsyncCommand(ac, ngx_http_scale_redis_epoch_done, data,
                             "GET %b", rd->epoch_key.data,
                             rd->epoch_key.len);
}


/* Redis went away: serve on, queue, and resync once it is back */
static void
ngx_http_scale_redis_cmd_lost(ngx_http_scale_link_t *link)
{
    ngx_http_scale_redis_t  *rd;

    rd = link->data;

    rd->ready = 0;
    rd->inflight = 0;

    if (rd->loading) {
        rd->loading = 0;
        rd->load_wanted = 1;

        ngx_shmtx_lock(&rd->shpool->mutex);
        rd->j->loading = 0;
        ngx_shmtx_unlock(&rd->shpool->mutex);
    }

    if (rd->rewrite) {
        rd->rewrite_bucket = 0;
    }

    ngx_http_scale_redis_report(rd, NGX_LOG_ERR,
                                "scale redis %V:%i: %s link down: %s; "
                                "serving from shared memory, changes are "
                                "queued", &rd->pcf->redis_ip,
                                rd->pcf->redis_port, link->name,
                                link->error);

    ngx_http_scale_redis_status(rd);
}


/* the events link: authenticate, then subscribe to the channel */
static void
ngx_http_scale_redis_sub_up(ngx_http_scale_link_t *link)
{
    redisAsyncContext      *ac;
    ngx_http_scale_redis_t *rd;

    rd = link->data;
    ac = link->ac;

    if (rd->pcf->redis_password.len) {
        (void) redisAsyncCommand(ac, ngx_http_scale_redis_auth_done, link,
                                 "AUTH %b", rd->pcf->redis_password.data,
                                 rd->pcf->redis_password.len);
    }

    (void) redisAsyncCommand(ac, ngx_http_scale_redis_message, rd,
                             "SUBSCRIBE %b", rd->channel.data,
                             rd->channel.len);
}


/* messages may be missed from now on: the next subscribe loads */
static void
ngx_http_scale_redis_sub_lost(ngx_http_scale_link_t *link)
{
    ngx_http_scale_redis_t  *rd;

    rd = link->data;

    if (rd->j->redis.subscribed) {
        ngx_http_scale_redis_report(rd, NGX_LOG_ERR,
                                    "scale redis %V:%i: %s link down: %s",
                                    &rd->pcf->redis_ip,
                                    rd->pcf->redis_port, link->name,
                                    link->error);
    }

    ngx_shmtx_lock(&rd->shpool->mutex);
    rd->j->redis.subscribed = 0;
    ngx_shmtx_unlock(&rd->shpool->mutex);
}


/* AUTH or SELECT: a refusal is a configuration error, said clearly */
static void
ngx_http_scale_redis_auth_done(redisAsyncContext *ac, void *r, void *data)
{
    ngx_http_scale_link_t  *link = data;

    redisReply              *reply;
    ngx_http_scale_redis_t  *rd;

    reply = r;
    rd = link->data;

    if (reply == NULL || reply->type != REDIS_REPLY_ERROR) {
        return;
    }

    ngx_http_scale_redis_report(rd, NGX_LOG_ERR,
                                "scale redis %V:%i: %s refused: %*s "
                                "(check \"password=\" and \"db=\" of "
                                "\"scale_redis\"); requests are served "
                                "from shared memory meanwhile",
                                &rd->pcf->redis_ip, rd->pcf->redis_port,
                                ngx_strncasecmp((u_char *) reply->str,
                                                (u_char *) "ERR DB", 6) == 0
                                ? "SELECT" : "AUTH",
                                reply->len, reply->str);

    (void) ngx_cpystrn(link->error, (u_char *) reply->str,
                       sizeof(link->error));

    ngx_http_scale_link_close(link);
}


/* replies that only matter when they are errors */
static void
ngx_http_scale_redis_checked(redisAsyncContext *ac, void *r, void *data)
{
    redisReply              *reply;
    ngx_http_scale_redis_t  *rd;

    reply = r;
    rd = &ngx_http_scale_rd;

    if (reply && reply->type == REDIS_REPLY_ERROR) {
        ngx_http_scale_redis_report(rd, NGX_LOG_ERR,
                                    "scale redis %V:%i: command failed: %*s",
                                    &rd->pcf->redis_ip, rd->pcf->redis_port,
                                    reply->len, reply->str);
    }
}


/*
 * Redis' epoch, at connect (data: the link) and with every heartbeat.
 * An epoch this zone has not written everything to means Redis is new
 * or lost its data: rewrite all entries.
 */
static void
ngx_http_scale_redis_epoch_done(redisAsyncContext *ac, void *r, void *data)
{
    u_char                   epoch[NGX_HTTP_SCALE_EPOCH_LEN];
    size_t                   len;
    ngx_uint_t               differs, overflow;
    redisReply              *reply;
    ngx_http_scale_link_t   *link;
    ngx_http_scale_redis_t  *rd;

    reply = r;
    link = data;
    rd = &ngx_http_scale_rd;

    if (reply == NULL || rd->stopping) {
        return;
    }

    if (reply->type != REDIS_REPLY_STRING) {
        if (reply->type == REDIS_REPLY_NIL && link == NULL) {
            /* flushed since the last heartbeat: make a new epoch */
            ngx_http_scale_redis_epoch(rd, NULL);
        }

        return;
    }

    len = ngx_min(reply->len, NGX_HTTP_SCALE_EPOCH_LEN - 1);

    ngx_shmtx_lock(&rd->shpool->mutex);

    differs = (ngx_strlen(rd->j->epoch) != len
               || ngx_strncmp(rd->j->epoch, reply->str, len) != 0);
    overflow = rd->j->overflow;

    ngx_shmtx_unlock(&rd->shpool->mutex);

    if (link) {
        rd->ready = 1;
        rd->cmd.backoff = 0;
        rd->inflight = 0;

        ngx_shmtx_lock(&rd->shpool->mutex);

        rd->j->sent = rd->j->tail;

        if (rd->was_ready) {
            rd->j->redis.reconnects++;
        }

        ngx_shmtx_unlock(&rd->shpool->mutex);

        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "scale redis %V:%i: %s as instance \"%V\"",
                      &rd->pcf->redis_ip, rd->pcf->redis_port,
                      rd->was_ready ? "reconnected" : "connected",
                      &rd->instance);

        rd->was_ready = 1;
        ngx_memzero(rd->logged, sizeof(rd->logged));

        ngx_http_scale_redis_status(rd);
        ngx_http_scale_redis_heartbeat(rd);
    }

    if (differs) {
        ngx_memcpy(epoch, reply->str, len);
        epoch[len] = '\0';

        if (rd->rewrite && ngx_strcmp(epoch, rd->rewrite_epoch) == 0) {
            return;
        }

        ngx_http_scale_redis_rewrite_start(rd, epoch,
                                           rd->j->epoch[0]
                                           ? "Redis lost its data"
                                           : "first sync");

    } else if (overflow && !rd->rewrite) {
        ngx_http_scale_redis_rewrite_start(rd, NULL,
                                           "changes were dropped");
    }
}


/* the events link: subscription confirmations and messages */
static void
ngx_http_scale_redis_message(redisAsyncContext *ac, void *r, void *data)
{
    ngx_http_scale_redis_t  *rd = data;

    redisReply  *reply, *kind;

    reply = r;

    if (reply == NULL || rd->stopping) {
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) {
        return;
    }

    kind = reply->element[0];

    if (kind->type != REDIS_REPLY_STRING) {
        return;
    }

    if (kind->len == 9 && ngx_strncmp(kind->str, "subscribe", 9) == 0) {
        rd->sub.backoff = 0;
        rd->load_wanted = 1;

        ngx_shmtx_lock(&rd->shpool->mutex);
        rd->j->redis.subscribed = 1;
        ngx_shmtx_unlock(&rd->shpool->mutex);

        ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                      "scale redis: subscribed to \"%V\"", &rd->channel);
        return;
    }

    if (kind->len == 7 && ngx_strncmp(kind->str, "message", 7) == 0
        && reply->element[2]->type == REDIS_REPLY_STRING)
    {
        ngx_http_scale_redis_apply(rd, (u_char *) reply->element[2]->str,
                                   reply->element[2]->len);
    }
}


/*
 * Another instance's changes: parsed and checked outside the lock,
 * applied under it in one go.  Our own messages come back too and are
 * skipped by the instance line.
 */
static void
ngx_http_scale_redis_apply(ngx_http_scale_redis_t *rd, u_char *p,
    size_t len)
{
    u_char                       *last, *nl, *sp;
    uint32_t                      hash;
    ngx_uint_t                    i, n, nlines, applied, missing;
    ngx_pool_t                   *pool;
    ngx_http_scale_redis_line_t  *lines, *l;

    last = p + len;

    nl = ngx_strlchr(p, last, '\n');
    if (nl == NULL) {
        return;
    }

    if ((size_t) (nl - p) == rd->instance.len
        && ngx_strncmp(p, rd->instance.data, rd->instance.len) == 0)
    {
        return;
    }

    nlines = 1;
    for (i = 0; i < len; i++) {
        nlines += (p[i] == '\n');
    }

    pool = rd->pool;
    ngx_reset_pool(pool);

    lines = ngx_palloc(pool, nlines * sizeof(ngx_http_scale_redis_line_t));
    if (lines == NULL) {
        return;
    }

    n = 0;

    for (p = nl + 1; p < last; p = nl + 1) {
        nl = ngx_strlchr(p, last, '\n');
        if (nl == NULL) {
            nl = last;
        }

        if (nl - p < 3 || p[1] != ' ') {
            continue;
        }

        l = &lines[n];
        l->op = p[0];
        l->id.data = p + 2;
        l->missing = 0;

        sp = ngx_strlchr(p + 2, nl, ' ');
        l->id.len = (sp ? sp : nl) - (p + 2);

        /* "J id " or "R id " and then the hash value */
        l->value.data = sp ? sp + 1 : nl;
        l->value.len = nl - l->value.data;

        if (l->id.len == 0 || l->id.len > NGX_HTTP_SCALE_NAME_MAX) {
            continue;
        }

        if (l->op == 'J') {
            if (ngx_http_scale_redis_value(pool, &l->id, l->value.data,
                                           l->value.len, &l->ident,
                                           &l->created)
                != NGX_OK)
            {
                continue;
            }

        } else if (l->op != 'R' && l->op != 'L' && l->op != 'E') {
            continue;
        }

        n++;
    }

    applied = 0;
    missing = 0;

    ngx_shmtx_lock(&rd->shpool->mutex);

    for (i = 0; i < n; i++) {
        l = &lines[i];

        switch (l->op) {

        case 'J':
            if (ngx_http_scale_journal_apply_locked(rd->shpool, rd->sh,
                                                    &l->ident, l->created, 1)
                != NGX_BUSY)
            {
                applied++;
            }
            break;

        case 'R':
            hash = ngx_http_scale_registry_hash(rd->sh, l->id.data, l->id.len);

            if (ngx_http_scale_registry_find(rd->shpool, rd->sh, l->id.data,
                                             l->id.len, hash))
            {
                ngx_http_scale_journal_touch_locked(rd->shpool, rd->sh,
                                                    &l->id);
                applied++;

            } else if (l->value.len) {
                l->missing = 1;
                missing++;
            }

            break;

        default:
            (void) ngx_http_scale_journal_remove_locked(rd->shpool, rd->sh,
                                                        &l->id);
            applied++;
        }
    }

    rd->j->redis.applied += applied;

    ngx_shmtx_unlock(&rd->shpool->mutex);

    if (missing == 0) {
        return;
    }

    /* refreshed elsewhere but unknown here (a join was missed): add it,
     * parsed outside the lock like the joins */
    for (i = 0; i < n; i++) {
        l = &lines[i];

        if (l->missing
            && ngx_http_scale_redis_value(pool, &l->id, l->value.data,
                                          l->value.len, &l->ident,
                                          &l->created)
               != NGX_OK)
        {
            l->missing = 0;
        }
    }

    applied = 0;

    ngx_shmtx_lock(&rd->shpool->mutex);

    for (i = 0; i < n; i++) {
        l = &lines[i];

        if (l->missing
            && ngx_http_scale_journal_apply_locked(rd->shpool, rd->sh,
                                                   &l->ident, l->created, 0)
               == NGX_OK)
        {
            applied++;
        }
    }

    rd->j->redis.applied += applied;

    ngx_shmtx_unlock(&rd->shpool->mutex);
}


/*
 * Worker 0's timer: heartbeat, a rewrite step, the load pass, and the
 * journal drained into at most INFLIGHT unconfirmed batches.
 */
void
ngx_http_scale_redis_tick(ngx_http_scale_main_conf_t *smcf)
{
    ngx_uint_t               mine, overflow;
    ngx_http_scale_redis_t  *rd;

    rd = &ngx_http_scale_rd;

    if (!rd->ready || rd->stopping) {
        return;
    }

    if (rd->inflight
        && ngx_current_msec - rd->replied > 10 * rd->pcf->redis_timeout)
    {
        /* a Redis that stopped answering is as good as down */
        ngx_http_scale_redis_report(rd, NGX_LOG_ERR,
                                    "scale redis %V:%i: no reply for %M ms, "
                                    "reconnecting", &rd->pcf->redis_ip,
                                    rd->pcf->redis_port,
                                    ngx_current_msec - rd->replied);
        (void) ngx_cpystrn(rd->cmd.error, (u_char *) "no reply",
                           sizeof(rd->cmd.error));
        ngx_http_scale_link_close(&rd->cmd);
        return;
    }

    if (ngx_current_msec - rd->heartbeat >= NGX_HTTP_SCALE_HEARTBEAT) {
        ngx_http_scale_redis_heartbeat(rd);
    }

    ngx_shmtx_lock(&rd->shpool->mutex);
    mine = (rd->j->drainer == ngx_pid);
    overflow = rd->j->overflow;
    ngx_shmtx_unlock(&rd->shpool->mutex);

    if (!mine) {
        return;
    }

    if (overflow && !rd->rewrite) {
        ngx_http_scale_redis_rewrite_start(rd, NULL, "changes were dropped");
    }

    if (rd->rewrite) {
        ngx_http_scale_redis_rewrite_step(rd);
    }

    if (rd->load_wanted && !rd->loading) {
        ngx_http_scale_redis_load_start(rd);
    }

    ngx_http_scale_redis_drain(rd);
}


/* the pipe says records wait: drain them without waiting for the tick */
void
ngx_http_scale_redis_wake(void)
{
    ngx_http_scale_redis_t  *rd;

    rd = &ngx_http_scale_rd;

    if (rd->ready && !rd->stopping) {
        ngx_http_scale_redis_drain(rd);
    }
}


/* journal records into batches while fewer than INFLIGHT are out */
static void
ngx_http_scale_redis_drain(ngx_http_scale_redis_t *rd)
{
    uint64_t                      upto;
    ngx_uint_t                    n;
    ngx_http_scale_redis_batch_t  b;

    while (rd->ready && rd->inflight < NGX_HTTP_SCALE_REDIS_INFLIGHT) {

        ngx_reset_pool(rd->pool);

        ngx_shmtx_lock(&rd->shpool->mutex);

        rd->j->wake = 0;

        if (rd->j->sent == rd->j->head || rd->j->drainer != ngx_pid) {
            ngx_shmtx_unlock(&rd->shpool->mutex);
            return;
        }

        n = ngx_http_scale_journal_take_locked(rd->shpool, rd->sh, rd->pool,
                  ngx_http_scale_changes, NGX_HTTP_SCALE_REDIS_BATCH,
                  NGX_HTTP_SCALE_REDIS_BATCH_BYTES);
        upto = rd->j->sent;

        ngx_shmtx_unlock(&rd->shpool->mutex);

        if (n == 0) {
            return;
        }

        if (ngx_http_scale_redis_batch(rd, rd->pool, ngx_http_scale_changes,
                                       n, &b)
            != NGX_OK)
        {
            return;
        }

        if (ngx_http_scale_redis_send(rd, &b, (void *) (uintptr_t) upto)
            != NGX_OK)
        {
            return;
        }
    }
}


/* the last reply of a batch: the records it carried can be released */
static void
ngx_http_scale_redis_batch_done(redisAsyncContext *ac, void *r, void *data)
{
    uint64_t                 upto;
    redisReply              *reply;
    ngx_http_scale_redis_t  *rd;

    reply = r;
    rd = &ngx_http_scale_rd;
    upto = (uint64_t) (uintptr_t) data;

    if (reply == NULL) {
        return;
    }

    rd->replied = ngx_current_msec;

    if (rd->inflight) {
        rd->inflight--;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_scale_redis_report(rd, NGX_LOG_ERR,
                                    "scale redis %V:%i: publish failed: %*s",
                                    &rd->pcf->redis_ip, rd->pcf->redis_port,
                                    reply->len, reply->str);
    }

    if (upto) {
        ngx_http_scale_journal_ack(rd->shpool, rd->j, upto);
    }

    if (!rd->stopping && rd->ready) {
        if (rd->rewrite) {
            ngx_http_scale_redis_rewrite_step(rd);
        }

        ngx_http_scale_redis_drain(rd);
    }
}


/*
 * The commands for n resolved changes: HSET and ZADD for what exists
 * (refreshes only touch the sorted set), HDEL and ZREM for what is gone,
 * and one PUBLISH that tells the other instances all of it.
 */
static ngx_int_t
ngx_http_scale_redis_batch(ngx_http_scale_redis_t *rd, ngx_pool_t *pool,
    ngx_http_scale_change_t *ch, ngx_uint_t n,
    ngx_http_scale_redis_batch_t *b)
{
    u_char                      *p, *msg, *v, *score;
    size_t                       size;
    ngx_uint_t                   i, up, zadd, del;
    ngx_http_scale_change_t     *c;
    ngx_http_scale_redis_cmd_t  *hset, *zset, *hdel, *zrem, *pub;

    up = 0;
    zadd = 0;
    del = 0;
    size = rd->instance.len + 1;

    for (i = 0; i < n; i++) {
        c = &ch[i];

        if (c->exists) {
            zadd++;
            up++;
            size += c->id.len + c->name.len + c->addr.len + NGX_INT32_LEN + 8;

        } else if (c->op != NGX_HTTP_SCALE_OP_REFRESH) {
            del++;
            size += c->id.len + 3;
        }
    }

    ngx_memzero(b, sizeof(ngx_http_scale_redis_batch_t));

    hset = &b->cmd[0];
    zset = &b->cmd[1];
    hdel = &b->cmd[2];
    zrem = &b->cmd[3];
    pub = &b->cmd[4];

#define ngx_http_scale_redis_argv(cmd, count)                                 \
    cmd->argv = ngx_palloc(pool, (count) * sizeof(char *));                   \
    cmd->lens = ngx_palloc(pool, (count) * sizeof(size_t));                   \
    if (cmd->argv == NULL || cmd->lens == NULL) {                             \
        return NGX_ERROR;                                                     \
    }

#define ngx_http_scale_redis_arg(cmd, s, l)                                   \
    cmd->argv[cmd->argc] = (const char *) (s);                                \
    cmd->lens[cmd->argc++] = (l)

    ngx_http_scale_redis_argv(hset, 2 + 2 * up);
    ngx_http_scale_redis_argv(zset, 2 + 2 * zadd);
    ngx_http_scale_redis_argv(hdel, 2 + del);
    ngx_http_scale_redis_argv(zrem, 2 + del);
    ngx_http_scale_redis_argv(pub, 3);

    ngx_http_scale_redis_arg(hset, "HSET", 4);
    ngx_http_scale_redis_arg(hset, rd->clients.data, rd->clients.len);
    ngx_http_scale_redis_arg(zset, "ZADD", 4);
    ngx_http_scale_redis_arg(zset, rd->seen.data, rd->seen.len);
    ngx_http_scale_redis_arg(hdel, "HDEL", 4);
    ngx_http_scale_redis_arg(hdel, rd->clients.data, rd->clients.len);
    ngx_http_scale_redis_arg(zrem, "ZREM", 4);
    ngx_http_scale_redis_arg(zrem, rd->seen.data, rd->seen.len);

    msg = ngx_pnalloc(pool, size);
    if (msg == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(msg, rd->instance.data, rd->instance.len);
    *p++ = '\n';

    for (i = 0; i < n; i++) {
        c = &ch[i];

        if (c->exists) {
            score = ngx_pnalloc(pool, NGX_INT64_LEN);
            if (score == NULL) {
                return NGX_ERROR;
            }

            ngx_http_scale_redis_arg(zset, score,
                                     ngx_sprintf(score, "%uL", c->seen)
                                     - score);
            ngx_http_scale_redis_arg(zset, c->id.data, c->id.len);

            /* "J id " or "R id ", then the hash value "name addr
             * created"; a refresh rewrites the hash too, so that Redis
             * heals from live clients if it lost a write */
            *p++ = (c->op == NGX_HTTP_SCALE_OP_REFRESH) ? 'R' : 'J';
            *p++ = ' ';
            p = ngx_cpymem(p, c->id.data, c->id.len);
            *p++ = ' ';

            v = p;
            p = ngx_cpymem(p, c->name.data, c->name.len);
            *p++ = ' ';

            if (c->addr.len) {
                p = ngx_cpymem(p, c->addr.data, c->addr.len);

            } else {
                *p++ = '-';
            }

            p = ngx_sprintf(p, " %uD", c->created);

            ngx_http_scale_redis_arg(hset, c->id.data, c->id.len);
            ngx_http_scale_redis_arg(hset, v, p - v);

            *p++ = '\n';
            b->written++;
            continue;
        }

        if (c->op == NGX_HTTP_SCALE_OP_REFRESH) {
            continue;
        }

        *p++ = (c->op == NGX_HTTP_SCALE_OP_EVICT) ? 'E' : 'L';
        *p++ = ' ';
        p = ngx_cpymem(p, c->id.data, c->id.len);
        *p++ = '\n';

        ngx_http_scale_redis_arg(hdel, c->id.data, c->id.len);
        ngx_http_scale_redis_arg(zrem, c->id.data, c->id.len);
        b->deleted++;
    }

    ngx_http_scale_redis_arg(pub, "PUBLISH", 7);
    ngx_http_scale_redis_arg(pub, rd->channel.data, rd->channel.len);
    ngx_http_scale_redis_arg(pub, msg, p - msg);

#undef ngx_http_scale_redis_argv
#undef ngx_http_scale_redis_arg

    return NGX_OK;
}


/* queues a batch on the commands link; last is the final reply's data */
static ngx_int_t
ngx_http_scale_redis_send(ngx_http_scale_redis_t *rd,
    ngx_http_scale_redis_batch_t *b, void *last)
{
    ngx_uint_t                   i;
    redisAsyncContext           *ac;
    ngx_http_scale_redis_cmd_t  *cmd;

    ac = rd->cmd.ac;

    if (ac == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < 5; i++) {
        cmd = &b->cmd[i];

        if (cmd->argc <= 2 && i < 4) {
            continue;
        }

        if (redisAsyncCommandArgv(ac, i == 4
                                      ? ngx_http_scale_redis_batch_done
                                      : ngx_http_scale_redis_checked,
                                  i == 4 ? last : NULL,
                                  cmd->argc, cmd->argv, cmd->lens)
            != REDIS_OK)
        {
            return NGX_ERROR;
        }
    }

    if (rd->inflight++ == 0) {
        rd->replied = ngx_current_msec;
    }

    ngx_shmtx_lock(&rd->shpool->mutex);
    rd->j->redis.written += b->written;
    rd->j->redis.deleted += b->deleted;
    rd->j->redis.published++;
    ngx_shmtx_unlock(&rd->shpool->mutex);

    return NGX_OK;
}


/*
 * Every entry of the zone to Redis (and to the other instances): after
 * Redis lost its data, on the first sync, or when the journal dropped
 * records.  Dropped records are covered by it, so the ring restarts
 * empty.
 */
static void
ngx_http_scale_redis_rewrite_start(ngx_http_scale_redis_t *rd,
    u_char *epoch, const char *why)
{
    ngx_shmtx_lock(&rd->shpool->mutex);

    if (rd->j->overflow) {
        rd->j->overflow = 0;
        rd->j->sent = rd->j->head;
        rd->j->tail = rd->j->head;
        rd->j->records = 0;
    }

    ngx_shmtx_unlock(&rd->shpool->mutex);

    if (epoch) {
        ngx_cpystrn(rd->rewrite_epoch, epoch, NGX_HTTP_SCALE_EPOCH_LEN);

    } else if (!rd->rewrite) {
        rd->rewrite_epoch[0] = '\0';
    }

    rd->rewrite = 1;
    rd->rewrite_bucket = 0;
    rd->rewrite_entries = 0;
    rd->rewrite_start = ngx_http_scale_redis_now();

    ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                  "scale redis: writing all %ui entries to Redis (%s)",
                  rd->sh->count, why);

    ngx_http_scale_redis_status(rd);
}


/* a batch of buckets per call, leaving room for the journal's batches */
static void
ngx_http_scale_redis_rewrite_step(ngx_http_scale_redis_t *rd)
{
    ngx_uint_t                    n, done;
    ngx_http_scale_redis_batch_t  b;

    while (rd->ready && rd->rewrite
           && rd->inflight < NGX_HTTP_SCALE_REDIS_INFLIGHT / 2)
    {
        ngx_reset_pool(rd->pool);

        ngx_shmtx_lock(&rd->shpool->mutex);
        n = ngx_http_scale_redis_collect_locked(rd, &rd->rewrite_bucket,
                                                rd->pool,
                                                ngx_http_scale_changes,
                                                NGX_HTTP_SCALE_REDIS_BATCH);
        done = (rd->rewrite_bucket >= rd->sh->nbuckets);
        ngx_shmtx_unlock(&rd->shpool->mutex);

        if (n) {
            if (ngx_http_scale_redis_batch(rd, rd->pool,
                                           ngx_http_scale_changes, n, &b)
                != NGX_OK
                || ngx_http_scale_redis_send(rd, &b, NULL) != NGX_OK)
            {
                return;
            }

            rd->rewrite_entries += n;
        }

        if (!done) {
            continue;
        }

        rd->rewrite = 0;

        ngx_shmtx_lock(&rd->shpool->mutex);

        if (rd->rewrite_epoch[0]) {
            ngx_cpystrn(rd->j->epoch, rd->rewrite_epoch,
                        NGX_HTTP_SCALE_EPOCH_LEN);
        }

        rd->j->redis.resyncs++;

        ngx_shmtx_unlock(&rd->shpool->mutex);

        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "scale redis: wrote %ui entries to Redis in %M ms",
                      rd->rewrite_entries,
                      ngx_http_scale_redis_now() - rd->rewrite_start);

        ngx_http_scale_redis_status(rd);
        return;
    }
}


/* up to max entries from *bucket on, as JOIN changes; lock held */
static ngx_uint_t
ngx_http_scale_redis_collect_locked(ngx_http_scale_redis_t *rd,
    ngx_uint_t *bucket, ngx_pool_t *pool, ngx_http_scale_change_t *ch,
    ngx_uint_t max)
{
    u_char                   *p;
    uint32_t                  off;
    ngx_uint_t                n;
    ngx_slab_pool_t          *shpool;
    ngx_http_scale_entry_t   *e;
    ngx_http_scale_shctx_t   *sh;
    ngx_http_scale_change_t  *c;

    sh = rd->sh;
    shpool = rd->shpool;
    n = 0;

    /* whole chains only, so that a bucket is never half done */
    while (*bucket < sh->nbuckets && n + 16 <= max) {

        for (off = sh->buckets[*bucket]; off; off = e->next) {
            e = ngx_http_scale_ptr(shpool, off);

            if (n == max) {
                break;
            }

            c = &ch[n];

            p = ngx_pnalloc(pool, e->id_len + e->addr_len + 1
                                  + ngx_http_scale_entry_name_len(e));
            if (p == NULL) {
                return n;
            }

            c->op = NGX_HTTP_SCALE_OP_JOIN;
            c->exists = 1;
            c->created = e->created;
            c->seen = ngx_http_scale_journal_seen(e);

            c->id.data = p;
            c->id.len = e->id_len;
            p = ngx_cpymem(p, e->data, e->id_len);

            c->name.data = p;
            c->name.len = ngx_http_scale_entry_name_len(e);
            p = ngx_cpymem(p, ngx_http_scale_entry_name(e), c->name.len);

            c->addr.data = p;
            c->addr.len = e->addr_len;
            ngx_memcpy(p, ngx_http_scale_entry_addr(e), e->addr_len);

            e->flags &= ~NGX_HTTP_SCALE_JOURNALED;
            n++;
        }

        (*bucket)++;
    }

    return n;
}


/*
 * The load pass: every id in Redis that the zone lacks is added, a
 * batch per HSCAN reply.  Runs at start-up, and whenever the events link
 * (re)subscribes, since messages may have been missed.
 */
static void
ngx_http_scale_redis_load_start(ngx_http_scale_redis_t *rd)
{
    redisAsyncContext  *ac;

    ac = rd->cmd.ac;

    if (ac == NULL) {
        return;
    }

    rd->load_wanted = 0;
    rd->loading = 1;
    rd->load_total = 0;
    rd->load_scanned = 0;
    rd->load_added = 0;
    rd->load_full = 0;
    rd->load_invalid = 0;
    rd->load_report = 0;
    rd->load_start = ngx_http_scale_redis_now();

    ngx_shmtx_lock(&rd->shpool->mutex);

    rd->j->loading = 1;
    rd->j->gone_n = 0;

    if (rd->j->gone) {
        ngx_memzero(rd->j->gone, NGX_HTTP_SCALE_GONE * sizeof(uint64_t));
    }

    ngx_shmtx_unlock(&rd->shpool->mutex);

    (void) redisAsyncCommand(ac, ngx_http_scale_redis_hlen_done, rd,
                             "HLEN %b", rd->clients.data, rd->clients.len);
    (void) redisAsyncCommand(ac, ngx_http_scale_redis_load_done, rd,
                             "HSCAN %b 0 COUNT %d", rd->clients.data,
                             rd->clients.len, NGX_HTTP_SCALE_REDIS_SCAN);

    ngx_http_scale_redis_status(rd);
}


/* the size of the hash, for the progress lines of a large load */
static void
ngx_http_scale_redis_hlen_done(redisAsyncContext *ac, void *r, void *data)
{
    ngx_http_scale_redis_t  *rd = data;

    redisReply  *reply;

    reply = r;

    if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0) {
        rd->load_total = (ngx_uint_t) reply->integer;
        rd->load_report = rd->load_total / 4;

        if (rd->load_total >= 10000) {
            ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                          "scale redis: loading %ui entries from Redis",
                          rd->load_total);
        }
    }
}


/* one HSCAN page: checked outside the lock, added under it; the next
 * page is asked for here, so one page is in flight at a time */
static void
ngx_http_scale_redis_load_done(redisAsyncContext *ac, void *r, void *data)
{
    ngx_http_scale_redis_t  *rd = data;

    size_t                      npairs;
    ngx_int_t                   rc;
    ngx_str_t                   id;
    ngx_uint_t                  i, n, k;
    ngx_msec_t                  ms;
    redisReply                 *reply, *cursor, *items, *f, *v;
    ngx_http_scale_identity_t  *idents;
    uint32_t                   *created;

    reply = r;

    if (reply == NULL || rd->stopping || !rd->loading) {
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        ngx_http_scale_redis_report(rd, NGX_LOG_ERR,
                                    "scale redis %V:%i: HSCAN failed: %*s",
                                    &rd->pcf->redis_ip, rd->pcf->redis_port,
                                    reply->type == REDIS_REPLY_ERROR
                                    ? reply->len : 0,
                                    reply->type == REDIS_REPLY_ERROR
                                    ? reply->str : "");
        rd->loading = 0;

        ngx_shmtx_lock(&rd->shpool->mutex);
        rd->j->loading = 0;
        ngx_shmtx_unlock(&rd->shpool->mutex);

        ngx_http_scale_redis_status(rd);
        return;
    }

    cursor = reply->element[0];
    items = reply->element[1];
    npairs = items->elements / 2;

    ngx_reset_pool(rd->pool);

    idents = ngx_palloc(rd->pool,
                        (npairs + 1) * sizeof(ngx_http_scale_identity_t));
    created = ngx_palloc(rd->pool, (npairs + 1) * sizeof(uint32_t));

    if (idents == NULL || created == NULL) {
        return;
    }

    n = 0;

    for (i = 0; i < npairs; i++) {
        f = items->element[2 * i];
        v = items->element[2 * i + 1];

        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            rd->load_invalid++;
            continue;
        }

        id.data = (u_char *) f->str;
        id.len = f->len;

        if (ngx_http_scale_redis_value(rd->pool, &id, (u_char *) v->str,
                                       v->len, &idents[n], &created[n])
            != NGX_OK)
        {
            rd->load_invalid++;
            continue;
        }

        n++;
    }

    k = 0;

    ngx_shmtx_lock(&rd->shpool->mutex);

    for (i = 0; i < n; i++) {
        if (ngx_http_scale_journal_gone_locked(rd->j,
                ngx_http_scale_journal_hash64(idents[i].id.data,
                                              idents[i].id.len)))
        {
            /* deleted here after Redis listed it: stays deleted */
            continue;
        }

        rc = ngx_http_scale_journal_apply_locked(rd->shpool, rd->sh,
                                                 &idents[i], created[i], 0);
        if (rc == NGX_OK) {
            k++;

        } else if (rc == NGX_BUSY) {
            rd->load_full++;
        }
    }

    rd->j->redis.loaded += k;

    ngx_shmtx_unlock(&rd->shpool->mutex);

    rd->load_scanned += npairs;
    rd->load_added += k;

    if (rd->load_report && rd->load_total >= 10000
        && rd->load_scanned >= rd->load_report
        && rd->load_scanned < rd->load_total)
    {
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "scale redis: loading: %ui of %ui entries (%ui%%)",
                      rd->load_scanned, rd->load_total,
                      rd->load_scanned * 100 / rd->load_total);

        rd->load_report += rd->load_total / 4;
    }

    if (cursor->len != 1 || cursor->str[0] != '0') {
        (void) redisAsyncCommand(ac, ngx_http_scale_redis_load_done, rd,
                                 "HSCAN %b %b COUNT %d", rd->clients.data,
                                 rd->clients.len, cursor->str, cursor->len,
                                 NGX_HTTP_SCALE_REDIS_SCAN);
        return;
    }

    rd->loading = 0;
    ms = ngx_http_scale_redis_now() - rd->load_start;

    ngx_shmtx_lock(&rd->shpool->mutex);
    rd->j->loading = 0;
    rd->j->redis.loads++;
    rd->j->redis.last_load_ms = ms;
    rd->j->redis.last_load_entries = rd->load_added;
    ngx_shmtx_unlock(&rd->shpool->mutex);

    ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                  "scale redis: load done: %ui entries in Redis, %ui new "
                  "here, in %M ms", rd->load_scanned, rd->load_added, ms);

    if (rd->load_full) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "scale redis: the zone is full: %ui entries of Redis "
                      "are not loaded (a larger \"scale_zone\" size holds "
                      "more)", rd->load_full);
    }

    if (rd->load_invalid) {
        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "scale redis: %ui entries of \"%V\" are not valid "
                      "identities and were skipped", rd->load_invalid,
                      &rd->clients);
    }

    ngx_http_scale_redis_status(rd);
}


/* "<name> <addr or -> <created>" of id into an identity */
static ngx_int_t
ngx_http_scale_redis_value(ngx_pool_t *pool, ngx_str_t *id, u_char *p,
    size_t len, ngx_http_scale_identity_t *ident, uint32_t *created)
{
    u_char     *last, *sp1, *sp2;
    ngx_int_t   n;
    ngx_str_t   name, addr;

    last = p + len;

    sp1 = ngx_strlchr(p, last, ' ');
    if (sp1 == NULL) {
        return NGX_DECLINED;
    }

    sp2 = ngx_strlchr(sp1 + 1, last, ' ');
    if (sp2 == NULL) {
        return NGX_DECLINED;
    }

    n = ngx_atoi(sp2 + 1, last - sp2 - 1);
    if (n == NGX_ERROR || n > 0xffffffff) {
        return NGX_DECLINED;
    }

    *created = (uint32_t) n;

    name.data = p;
    name.len = sp1 - p;
    addr.data = sp1 + 1;
    addr.len = sp2 - sp1 - 1;

    if (addr.len == 1 && addr.data[0] == '-') {
        addr.len = 0;
    }

    return ngx_http_scale_journal_ident(pool, id, &name, &addr, ident);
}


/*
 * Once a second: this instance's heartbeat key (with a TTL, so a dead
 * instance disappears), the list of instances for /status, and the
 * epoch, which tells whether Redis was emptied meanwhile.
 */
static void
ngx_http_scale_redis_heartbeat(ngx_http_scale_redis_t *rd)
{
    char                *text;
    json_t              *doc;
    ngx_uint_t           count;
    ngx_time_t          *tp;
    redisAsyncContext   *ac;

    ac = rd->cmd.ac;
    rd->heartbeat = ngx_current_msec;

    if (ac == NULL) {
        return;
    }

    tp = ngx_timeofday();
    count = rd->sh->count;

    doc = json_pack("{s:s%, s:s, s:I, s:I, s:I, s:I}",
                    "id", (char *) rd->instance.data, rd->instance.len,
                    "addr", (char *) rd->j->addr,
                    "clients", (json_int_t) count,
                    "heartbeat", (json_int_t) tp->sec * 1000 + tp->msec,
                    "started", (json_int_t) rd->j->started,
                    "pid", (json_int_t) ngx_pid);
    if (doc == NULL) {
        return;
    }

    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);

    if (text == NULL) {
        return;
    }

    (void) redisAsyncCommand(ac, ngx_http_scale_redis_checked, NULL,
                             "SET %b %s EX %d", rd->self_key.data,
                             rd->self_key.len, text,
                             NGX_HTTP_SCALE_INSTANCE_TTL);
    free(text);

    (void) redisAsyncCommand(ac, ngx_http_scale_redis_checked, NULL,
                             "SADD %b %b", rd->instances.data,
                             rd->instances.len, rd->instance.data,
                             rd->instance.len);
    (void) redisAsyncCommand(ac, ngx_http_scale_redis_members_done, rd,
                             "SMEMBERS %b", rd->instances.data,
                             rd->instances.len);
    (void) redisAsyncCommand(ac, ngx_http_scale_redis_epoch_done, NULL,
                             "GET %b", rd->epoch_key.data,
                             rd->epoch_key.len);
}


/* the instance ids; their heartbeats are asked for with one MGET */
static void
ngx_http_scale_redis_members_done(redisAsyncContext *ac, void *r,
    void *data)
{
    ngx_http_scale_redis_t  *rd = data;

    u_char                          *p;
    size_t                           size;
    ngx_uint_t                       i, n;
    redisReply                      *reply, *m;
    const char                      *argv[NGX_HTTP_SCALE_INSTANCES_MAX + 1];
    size_t                           lens[NGX_HTTP_SCALE_INSTANCES_MAX + 1];
    ngx_http_scale_redis_members_t  *mb;

    reply = r;

    if (reply == NULL || rd->stopping || reply->type != REDIS_REPLY_ARRAY) {
        return;
    }

    n = ngx_min(reply->elements, NGX_HTTP_SCALE_INSTANCES_MAX);
    size = sizeof(ngx_http_scale_redis_members_t);

    for (i = 0; i < n; i++) {
        size += 2 * reply->element[i]->len + rd->instance_key.len;
    }

    mb = ngx_alloc(size, rd->log);
    if (mb == NULL) {
        return;
    }

    p = mb->data;
    mb->n = 0;
    argv[0] = "MGET";
    lens[0] = 4;

    for (i = 0; i < n; i++) {
        m = reply->element[i];

        if (m->type != REDIS_REPLY_STRING) {
            continue;
        }

        mb->ids[mb->n].data = p;
        mb->ids[mb->n].len = m->len;

        argv[mb->n + 1] = (const char *) p + m->len;
        p = ngx_cpymem(p, m->str, m->len);
        p = ngx_cpymem(p, rd->instance_key.data, rd->instance_key.len);
        p = ngx_cpymem(p, m->str, m->len);
        lens[mb->n + 1] = rd->instance_key.len + m->len;

        mb->n++;
    }

    if (mb->n == 0
        || redisAsyncCommandArgv(ac, ngx_http_scale_redis_instances_done, mb,
                                 (int) mb->n + 1, argv, lens)
           != REDIS_OK)
    {
        ngx_free(mb);
    }
}


/* the heartbeats of all instances into the zone, for /status */
static void
ngx_http_scale_redis_instances_done(redisAsyncContext *ac, void *r,
    void *data)
{
    ngx_http_scale_redis_members_t  *mb = data;

    json_t                     *doc, *v;
    ngx_uint_t                  i, n;
    redisReply                 *reply, *e;
    json_error_t                err;
    ngx_http_scale_redis_t     *rd;
    ngx_http_scale_instance_t   list[NGX_HTTP_SCALE_INSTANCES_MAX], *in;

    reply = r;
    rd = &ngx_http_scale_rd;

    if (reply == NULL || rd->stopping || reply->type != REDIS_REPLY_ARRAY) {
        ngx_free(mb);
        return;
    }

    n = 0;

    for (i = 0; i < reply->elements && i < mb->n; i++) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_STRING) {
            /* the heartbeat expired: that instance is gone */
            if (ac == rd->cmd.ac) {
                (void) redisAsyncCommand(ac, ngx_http_scale_redis_checked,
                                         NULL, "SREM %b %b",
                                         rd->instances.data,
                                         rd->instances.len,
                                         mb->ids[i].data, mb->ids[i].len);
            }

            continue;
        }

        doc = json_loadb(e->str, e->len, 0, &err);
        if (doc == NULL) {
            continue;
        }

        in = &list[n];
        ngx_memzero(in, sizeof(ngx_http_scale_instance_t));

        (void) ngx_cpystrn(in->id, mb->ids[i].data,
                           ngx_min(mb->ids[i].len + 1,
                                   NGX_HTTP_SCALE_INSTANCE_LEN));

        v = json_object_get(doc, "addr");
        if (json_is_string(v)) {
            (void) ngx_cpystrn(in->addr, (u_char *) json_string_value(v),
                               NGX_HTTP_SCALE_INSTANCE_LEN);
        }

        in->clients = json_integer_value(json_object_get(doc, "clients"));
        in->heartbeat = json_integer_value(json_object_get(doc,
                                                           "heartbeat"));
        in->started = json_integer_value(json_object_get(doc, "started"));
        in->self = (mb->ids[i].len == rd->instance.len
                    && ngx_strncmp(mb->ids[i].data, rd->instance.data,
                                   rd->instance.len) == 0);

        json_decref(doc);
        n++;
    }

    ngx_free(mb);

    ngx_shmtx_lock(&rd->shpool->mutex);
    ngx_memcpy(rd->j->instances, list, n * sizeof(ngx_http_scale_instance_t));
    rd->j->ninstances = n;
    ngx_shmtx_unlock(&rd->shpool->mutex);
}


/*
 * Logs a Redis problem once, then again only after a minute (a Redis
 * that stays down must not flood the log; the last few messages are
 * remembered, since a failing reconnect says two or three things), and
 * keeps it for /status.
 */
static void
ngx_http_scale_redis_report(ngx_http_scale_redis_t *rd, ngx_uint_t level,
    const char *fmt, ...)
{
    u_char      *p, text[NGX_MAX_ERROR_STR];
    size_t       len;
    va_list      args;
    uint32_t     crc;
    ngx_uint_t   i;
    ngx_msec_t   now;

    va_start(args, fmt);
    p = ngx_vslprintf(text, text + sizeof(text) - 1, fmt, args);
    va_end(args);

    len = p - text;
    *p = '\0';
    now = ngx_current_msec;

    ngx_http_scale_journal_error(rd->shpool, rd->j, text, len);

    crc = ngx_crc32_short(text, len) | 1;

    for (i = 0; i < 8; i++) {
        if (rd->logged[i] == crc
            && now - rd->logged_at[i] < NGX_HTTP_SCALE_REDIS_RELOG)
        {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0, "%s", text);
            return;
        }
    }

    i = rd->logged_next++ % 8;
    rd->logged[i] = crc;
    rd->logged_at[i] = now;

    ngx_log_error(level, rd->log, 0, "%*s", len, text);
}


/* the link state /status shows */
static void
ngx_http_scale_redis_status(ngx_http_scale_redis_t *rd)
{
    ngx_shmtx_lock(&rd->shpool->mutex);

    rd->j->redis.connected = rd->ready;
    rd->j->redis.syncing = rd->rewrite || rd->loading;

    ngx_shmtx_unlock(&rd->shpool->mutex);
}


/* a fresh clock: durations of loads and rewrites span many events */
static ngx_msec_t
ngx_http_scale_redis_now(void)
{
    ngx_time_update();

    return ngx_current_msec;
}


/* the worker exits: links closed, pending callbacks see NULL replies */
void
ngx_http_scale_redis_exit_process(void)
{
    ngx_http_scale_redis_t  *rd;

    rd = &ngx_http_scale_rd;

    if (rd->j == NULL || rd->stopping) {
        return;
    }

    rd->stopping = 1;
    rd->ready = 0;

    ngx_http_scale_link_stop(&rd->cmd);
    ngx_http_scale_link_stop(&rd->sub);

    ngx_shmtx_lock(&rd->shpool->mutex);

    if (rd->loading) {
        rd->j->loading = 0;
    }

    if (rd->j->drainer == ngx_pid) {
        rd->j->drainer = 0;
        rd->j->redis.connected = 0;
        rd->j->redis.subscribed = 0;
    }

    ngx_shmtx_unlock(&rd->shpool->mutex);

    if (rd->pool) {
        ngx_destroy_pool(rd->pool);
        rd->pool = NULL;
    }
}


/*
 * The master, after the workers are gone: what the journal still holds
 * goes to Redis with a short blocking connection (everything, if records
 * were dropped), and this instance leaves the cluster list.
 */
void
ngx_http_scale_redis_exit_master(ngx_cycle_t *cycle,
    ngx_http_scale_main_conf_t *smcf)
{
    redisReply                 *reply;
    redisContext               *c;
    struct timeval              tv;
    ngx_http_scale_redis_t      rd;
    ngx_http_scale_zone_ctx_t  *ctx;

    ctx = smcf->shm_zone->data;

    ngx_memzero(&rd, sizeof(ngx_http_scale_redis_t));

    rd.pcf = smcf->persist;
    rd.shpool = ctx->shpool;
    rd.sh = ctx->sh;
    rd.j = ctx->sh->journal;
    rd.log = cycle->log;

    rd.pool = ngx_create_pool(64 * 1024, cycle->log);
    if (rd.pool == NULL) {
        return;
    }

    if (ngx_http_scale_redis_keys(&rd, rd.pool, rd.pcf, rd.j) != NGX_OK) {
        goto done;
    }

    tv.tv_sec = rd.pcf->redis_timeout / 1000;
    tv.tv_usec = (rd.pcf->redis_timeout % 1000) * 1000;

    c = redisConnectWithTimeout((char *) rd.pcf->redis_ip.data,
                                (int) rd.pcf->redis_port, tv);

    if (c == NULL || c->err) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "scale redis %V:%i: not reachable on exit (%s); %ui "
                      "queued changes stay unwritten",
                      &rd.pcf->redis_ip, rd.pcf->redis_port,
                      c ? c->errstr : "out of memory", rd.j->records);
        if (c) {
            redisFree(c);
        }

        goto done;
    }

    tv.tv_sec = 2;
    tv.tv_usec = 0;
    (void) redisSetTimeout(c, tv);

    if (rd.pcf->redis_password.len) {
        reply = redisCommand(c, "AUTH %b", rd.pcf->redis_password.data,
                             rd.pcf->redis_password.len);

        if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                          "scale redis %V:%i: AUTH refused on exit: %s",
                          &rd.pcf->redis_ip, rd.pcf->redis_port,
                          reply ? reply->str : c->errstr);
            if (reply) {
                freeReplyObject(reply);
            }

            redisFree(c);
            goto done;
        }

        freeReplyObject(reply);
    }

    if (rd.pcf->redis_db) {
        reply = redisCommand(c, "SELECT %d", (int) rd.pcf->redis_db);
        if (reply) {
            freeReplyObject(reply);
        }
    }

    ngx_http_scale_redis_flush(&rd, c, cycle->log);

    redisFree(c);

done:

    ngx_destroy_pool(rd.pool);
}


/* synchronous drain (or rewrite) through c, a batch at a time */
static void
ngx_http_scale_redis_flush(ngx_http_scale_redis_t *rd, redisContext *c,
    ngx_log_t *log)
{
    void                          *reply;
    ngx_uint_t                     i, k, n, total, rewrite, bucket;
    ngx_http_scale_redis_batch_t   b;

    total = 0;
    bucket = 0;

    ngx_shmtx_lock(&rd->shpool->mutex);

    rewrite = rd->j->overflow || rd->j->epoch[0] == '\0';
    rd->j->sent = rd->j->tail;

    if (rewrite) {
        rd->j->overflow = 0;
        rd->j->sent = rd->j->head;
        rd->j->tail = rd->j->head;
        rd->j->records = 0;
    }

    ngx_shmtx_unlock(&rd->shpool->mutex);

    for ( ;; ) {
        ngx_reset_pool(rd->pool);

        ngx_shmtx_lock(&rd->shpool->mutex);

        if (rewrite) {
            n = ngx_http_scale_redis_collect_locked(rd, &bucket, rd->pool,
                      ngx_http_scale_changes, NGX_HTTP_SCALE_REDIS_BATCH);
            if (n == 0 && bucket < rd->sh->nbuckets) {
                ngx_shmtx_unlock(&rd->shpool->mutex);
                continue;
            }

        } else {
            n = ngx_http_scale_journal_take_locked(rd->shpool, rd->sh,
                      rd->pool, ngx_http_scale_changes,
                      NGX_HTTP_SCALE_REDIS_BATCH,
                      NGX_HTTP_SCALE_REDIS_BATCH_BYTES);
        }

        ngx_shmtx_unlock(&rd->shpool->mutex);

        if (n == 0) {
            break;
        }

        if (ngx_http_scale_redis_batch(rd, rd->pool, ngx_http_scale_changes,
                                       n, &b)
            != NGX_OK)
        {
            break;
        }

        k = 0;

        for (i = 0; i < 5; i++) {
            if (b.cmd[i].argc <= 2 && i < 4) {
                continue;
            }

            if (redisAppendCommandArgv(c, b.cmd[i].argc, b.cmd[i].argv,
                                       b.cmd[i].lens)
                == REDIS_OK)
            {
                k++;
            }
        }

        while (k--) {
            if (redisGetReply(c, &reply) != REDIS_OK) {
                ngx_log_error(NGX_LOG_WARN, log, 0,
                              "scale redis: flush on exit failed: %s",
                              c->errstr);
                return;
            }

            freeReplyObject(reply);
        }

        total += n;
    }

    ngx_shmtx_lock(&rd->shpool->mutex);
    rd->j->tail = rd->j->sent;
    rd->j->records = 0;
    ngx_shmtx_unlock(&rd->shpool->mutex);

    reply = redisCommand(c, "DEL %b", rd->self_key.data, rd->self_key.len);
    if (reply) {
        freeReplyObject(reply);
    }

    reply = redisCommand(c, "SREM %b %b", rd->instances.data,
                         rd->instances.len, rd->instance.data,
                         rd->instance.len);
    if (reply) {
        freeReplyObject(reply);
    }

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "scale redis: %ui %s written to Redis on exit", total,
                  rewrite ? "entries" : "changes");
}


#else /* !(NGX_HTTP_SCALE_REDIS) */


/* built without hiredis: the directive says so, the hooks do nothing */
char *
ngx_http_scale_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return "needs hiredis: this module was built without it "
           "(install libhiredis-dev and rebuild)";
}


ngx_int_t
ngx_http_scale_redis_init_module(ngx_cycle_t *cycle,
    ngx_http_scale_main_conf_t *smcf)
{
    return NGX_OK;
}


ngx_int_t
ngx_http_scale_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_scale_main_conf_t *smcf)
{
    return NGX_OK;
}


void
ngx_http_scale_redis_tick(ngx_http_scale_main_conf_t *smcf)
{
}


void
ngx_http_scale_redis_wake(void)
{
}


void
ngx_http_scale_redis_exit_process(void)
{
}


void
ngx_http_scale_redis_exit_master(ngx_cycle_t *cycle,
    ngx_http_scale_main_conf_t *smcf)
{
}


#endif
