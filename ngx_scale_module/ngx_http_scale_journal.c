
/*
 * The change journal: a byte ring in the zone to which the request path
 * appends one small record per registration, refresh, delete or
 * eviction, in O(1) and under the zone lock it already holds.  One
 * worker (the drainer, ngx_worker 0) takes the records out on a timer
 * and hands them to Redis; the data directory only needs the change
 * count.  Also the glue between the module's hooks and the store and
 * Redis parts, and their /status objects.
 */


#include <jansson.h>

#include "ngx_http_scale_identity.h"
#include "ngx_http_scale_journal.h"


static void ngx_http_scale_ring_put(ngx_http_scale_journal_t *j, u_char *src,
    size_t n);
static void ngx_http_scale_ring_get(ngx_http_scale_journal_t *j, u_char *dst,
    size_t n);
static void ngx_http_scale_journal_forget_locked(ngx_http_scale_journal_t *j,
    u_char *id, size_t len);
static void ngx_http_scale_journal_instance(ngx_cycle_t *cycle,
    ngx_http_scale_persist_conf_t *pcf, ngx_http_scale_journal_t *j);
static void ngx_http_scale_persist_tick(ngx_event_t *ev);
static void ngx_http_scale_persist_woken(ngx_event_t *ev);
static json_t *ngx_http_scale_store_json(ngx_http_scale_persist_conf_t *pcf,
    ngx_http_scale_journal_t *j);
static json_t *ngx_http_scale_redis_json(ngx_http_scale_persist_conf_t *pcf,
    ngx_http_scale_journal_t *j);
static json_t *ngx_http_scale_cluster_json(ngx_http_scale_journal_t *j);


static ngx_event_t        ngx_http_scale_tick_event;
static ngx_cycle_t       *ngx_http_scale_tick_cycle;
static ngx_connection_t  *ngx_http_scale_wake_conn;

/* a pipe made by the master: a worker that queues the first join, leave
 * or eviction of a round writes a byte, worker 0 wakes and drains */
static ngx_fd_t           ngx_http_scale_wake[2] = { -1, -1 };


/* the directives' storage, made on first use */
ngx_http_scale_persist_conf_t *
ngx_http_scale_persist_conf(ngx_conf_t *cf, ngx_http_scale_main_conf_t *smcf)
{
    ngx_http_scale_persist_conf_t  *pcf;

    if (smcf->persist) {
        return smcf->persist;
    }

    pcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_scale_persist_conf_t));
    if (pcf == NULL) {
        return NULL;
    }

    pcf->snapshot_interval = NGX_CONF_UNSET_MSEC;
    pcf->redis_db = 0;

    smcf->persist = pcf;

    return pcf;
}


/*
 * Called by the request path (and the health code) with the zone lock
 * held, after an entry was added or changed (JOIN), refreshed (REFRESH),
 * and before it is removed (LEAVE, EVICT): e must still be valid.  Never
 * blocks and never allocates: a record that finds no room is counted as
 * dropped and makes the drainer rewrite everything later.  A refresh is
 * queued once until drained (the JOURNALED flag), and only while the
 * ring is less than half full, so refreshes never crowd out joins.
 */
void
ngx_http_scale_journal_add_locked(ngx_http_scale_shctx_t *sh, ngx_uint_t op,
    ngx_http_scale_entry_t *e)
{
    size_t                     need, used;
    u_char                     hdr[2];
    ngx_http_scale_journal_t  *j;

    j = sh->journal;

    if (j == NULL) {
        return;
    }

    if (op != NGX_HTTP_SCALE_OP_REFRESH) {
        j->changes++;
    }

    if (!j->enabled) {
        return;
    }

    if (j->loading && op >= NGX_HTTP_SCALE_OP_LEAVE) {
        ngx_http_scale_journal_forget_locked(j, e->data, e->id_len);
    }

    need = 2 + e->id_len;
    used = (size_t) (j->head - j->tail);

    if (op == NGX_HTTP_SCALE_OP_REFRESH) {
        if (e->flags & NGX_HTTP_SCALE_JOURNALED) {
            return;
        }

        if (used + need > j->size / 2) {
            j->refreshes_dropped++;
            return;
        }

        e->flags |= NGX_HTTP_SCALE_JOURNALED;

    } else if (used + need > j->size) {
        j->dropped++;
        j->overflow = 1;
        return;
    }

    hdr[0] = (u_char) op;
    hdr[1] = e->id_len;

    ngx_http_scale_ring_put(j, hdr, 2);
    ngx_http_scale_ring_put(j, e->data, e->id_len);

    j->records++;

    if (op != NGX_HTTP_SCALE_OP_REFRESH && !j->wake
        && ngx_http_scale_wake[1] != -1)
    {
        /* membership changes go out at once, refreshes wait for the
         * tick and leave together; one byte per round, non-blocking: a
         * full pipe wakes the drainer anyway */
        j->wake = 1;

        if (write(ngx_http_scale_wake[1], "w", 1) == -1) {
            /* void */
        }
    }
}


/*
 * Takes up to max records (about bytes_max bytes of strings) from the
 * ring and resolves each against the registry as it is now: the change
 * is "the id exists with this name and address" or "the id is gone",
 * so records of one id in any order end in the right state.  Strings are
 * copied into pool.  The caller holds the lock and is the drainer.
 */
ngx_uint_t
ngx_http_scale_journal_take_locked(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_pool_t *pool,
    ngx_http_scale_change_t *out, ngx_uint_t max, size_t bytes_max)
{
    size_t                     bytes, len;
    u_char                     hdr[2], *p;
    uint32_t                   hash;
    ngx_uint_t                 n;
    ngx_http_scale_entry_t    *e;
    ngx_http_scale_change_t   *c;
    ngx_http_scale_journal_t  *j;

    j = sh->journal;
    bytes = 0;
    j->wake = 0;

    for (n = 0; n < max && j->sent < j->head && bytes < bytes_max; n++) {
        c = &out[n];

        ngx_http_scale_ring_get(j, hdr, 2);

        c->op = hdr[0];
        c->id.len = hdr[1];
        c->id.data = ngx_pnalloc(pool, c->id.len);
        if (c->id.data == NULL) {
            j->sent -= 2;
            break;
        }

        ngx_http_scale_ring_get(j, c->id.data, c->id.len);

        hash = ngx_http_scale_registry_hash(sh, c->id.data, c->id.len);
        e = ngx_http_scale_registry_find(shpool, sh, c->id.data, c->id.len,
                                         hash);

        c->exists = (e != NULL);
        ngx_str_null(&c->name);
        ngx_str_null(&c->addr);
        c->created = 0;
        c->seen = 0;

        bytes += c->id.len;

        if (e == NULL) {
            continue;
        }

        if (c->op == NGX_HTTP_SCALE_OP_REFRESH) {
            e->flags &= ~NGX_HTTP_SCALE_JOURNALED;
        }

        c->seen = ngx_http_scale_journal_seen(e);
        c->created = e->created;

        /* a refresh carries the whole identity too: whoever missed the
         * join (Redis, another instance) gets it back from the next
         * refresh of a live client */
        len = ngx_http_scale_entry_name_len(e) + e->addr_len;

        p = ngx_pnalloc(pool, len + 1);
        if (p == NULL) {
            c->exists = 0;
            c->op = NGX_HTTP_SCALE_OP_REFRESH;
            continue;
        }

        c->name.data = p;
        c->name.len = ngx_http_scale_entry_name_len(e);
        p = ngx_cpymem(p, ngx_http_scale_entry_name(e), c->name.len);

        c->addr.data = p;
        c->addr.len = e->addr_len;
        ngx_memcpy(p, ngx_http_scale_entry_addr(e), e->addr_len);

        bytes += len;
    }

    return n;
}


/* Redis confirmed everything before byte upto: its room is free again */
void
ngx_http_scale_journal_ack(ngx_slab_pool_t *shpool,
    ngx_http_scale_journal_t *j, uint64_t upto)
{
    u_char      hdr[2];
    uint64_t    saved;
    ngx_uint_t  n;

    ngx_shmtx_lock(&shpool->mutex);

    if (upto > j->tail && upto <= j->head) {

        /* count the records acknowledged, walking their headers */
        saved = j->sent;
        j->sent = j->tail;
        n = 0;

        while (j->sent < upto) {
            ngx_http_scale_ring_get(j, hdr, 2);
            j->sent += hdr[1];
            n++;
        }

        j->sent = saved > upto ? saved : upto;
        j->tail = upto;
        j->records = j->records > n ? j->records - n : 0;
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


/* an entry's last_seen (process-relative msec) as unix milliseconds */
uint64_t
ngx_http_scale_journal_seen(ngx_http_scale_entry_t *e)
{
    uint64_t     now;
    ngx_msec_t   age;
    ngx_time_t  *tp;

    tp = ngx_timeofday();
    now = (uint64_t) tp->sec * 1000 + tp->msec;

    age = ngx_current_msec - e->last_seen;

    if ((ngx_msec_int_t) age < 0) {
        age = 0;
    }

    return now > age ? now - age : now;
}


/*
 * Builds an identity from stored strings through the request path's
 * parser, so that what comes back from a file or from Redis is checked
 * exactly like a /connect body and gets the same derived fields.
 * NGX_DECLINED for strings a client could not have registered.
 */
ngx_int_t
ngx_http_scale_journal_ident(ngx_pool_t *pool, ngx_str_t *id,
    ngx_str_t *name, ngx_str_t *addr, ngx_http_scale_identity_t *ident)
{
    u_char     *body, *p, *reason;
    ngx_int_t   rc;

    if (ngx_http_scale_identity_valid_name(id->data, id->len) != NGX_OK
        || ngx_http_scale_identity_valid_name(name->data, name->len)
           != NGX_OK
        || (addr->len
            && ngx_http_scale_identity_valid_addr(addr->data, addr->len)
               != NGX_OK))
    {
        return NGX_DECLINED;
    }

    if (addr->len == 0 && name->len == id->len
        && ngx_memcmp(name->data, id->data, id->len) == 0)
    {
        rc = ngx_http_scale_identity_parse(pool, id->data, id->len, ident,
                                           &reason);

    } else {
        /* the character sets checked above need no JSON escaping */
        body = ngx_pnalloc(pool, sizeof("{\"id\":\"\",\"name\":\"\","
                                        "\"addr\":\"\"}")
                                 + id->len + name->len + addr->len);
        if (body == NULL) {
            return NGX_ERROR;
        }

        p = ngx_sprintf(body, "{\"id\":\"%V\",\"name\":\"%V\"", id, name);

        if (addr->len) {
            p = ngx_sprintf(p, ",\"addr\":\"%V\"", addr);
        }

        *p++ = '}';

        rc = ngx_http_scale_identity_parse(pool, body, p - body, ident,
                                           &reason);
    }

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        return NGX_DECLINED;
    }

    ident->json = 0;

    return NGX_OK;
}


/*
 * Puts an identity that came from elsewhere (file, Redis, another
 * instance) into the registry without journaling it.  A known id keeps
 * its entry; with replace it takes the new name and address and counts
 * as seen now.  NGX_OK when the registry changed, NGX_DECLINED when it
 * did not need to, NGX_BUSY when the zone is full.
 */
ngx_int_t
ngx_http_scale_journal_apply_locked(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_http_scale_identity_t *ident,
    uint32_t created, ngx_uint_t replace)
{
    uint32_t                 hash;
    ngx_uint_t               cap;
    ngx_http_scale_entry_t  *e, *moved;

    hash = ngx_http_scale_registry_hash(sh, ident->id.data, ident->id.len);
    e = ngx_http_scale_registry_find(shpool, sh, ident->id.data,
                                     ident->id.len, hash);

    if (e) {
        if (!replace) {
            return NGX_DECLINED;
        }

        if (ngx_http_scale_entry_name_len(e) != ident->name.len
            || e->addr_len != ident->addr.len
            || ngx_memcmp(ngx_http_scale_entry_name(e), ident->name.data,
                          ident->name.len) != 0
            || (ident->addr.len
                && ngx_memcmp(ngx_http_scale_entry_addr(e), ident->addr.data,
                              ident->addr.len) != 0))
        {
            moved = ngx_http_scale_registry_replace(shpool, sh, e, ident);
            if (moved == NULL) {
                return NGX_BUSY;
            }

            e = moved;
        }

        ngx_http_scale_registry_touch(shpool, sh, e, ngx_current_msec);

        if (sh->journal) {
            sh->journal->changes++;
        }

        return NGX_OK;
    }

    cap = sh->params.max_clients ? ngx_min(sh->params.max_clients,
                                           sh->capacity)
                                 : sh->capacity;

    if (sh->count >= cap) {
        return NGX_BUSY;
    }

    e = ngx_http_scale_registry_add(shpool, sh, ident, hash,
                                    ngx_current_msec);
    if (e == NULL) {
        return NGX_BUSY;
    }

    if (created) {
        e->created = created;
    }

    if (sh->journal) {
        sh->journal->changes++;
    }

    return NGX_OK;
}


/* another instance deleted or evicted id: NGX_OK if it was here */
ngx_int_t
ngx_http_scale_journal_remove_locked(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_str_t *id)
{
    uint32_t                 hash;
    ngx_http_scale_entry_t  *e;

    hash = ngx_http_scale_registry_hash(sh, id->data, id->len);
    e = ngx_http_scale_registry_find(shpool, sh, id->data, id->len, hash);

    if (e == NULL) {
        return NGX_DECLINED;
    }

    if (sh->journal) {
        sh->journal->changes++;

        if (sh->journal->loading) {
            ngx_http_scale_journal_forget_locked(sh->journal, e->data,
                                                 e->id_len);
        }
    }

    ngx_http_scale_registry_remove(shpool, sh, e);

    return NGX_OK;
}


/* another instance saw id: it counts as seen here too */
void
ngx_http_scale_journal_touch_locked(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_str_t *id)
{
    uint32_t                 hash;
    ngx_http_scale_entry_t  *e;

    hash = ngx_http_scale_registry_hash(sh, id->data, id->len);
    e = ngx_http_scale_registry_find(shpool, sh, id->data, id->len, hash);

    if (e) {
        ngx_http_scale_registry_touch(shpool, sh, e, ngx_current_msec);
    }
}


/* keeps the last Redis error for /status */
void
ngx_http_scale_journal_error(ngx_slab_pool_t *shpool,
    ngx_http_scale_journal_t *j, u_char *text, size_t len)
{
    len = ngx_min(len, NGX_HTTP_SCALE_ERROR_LEN - 1);

    ngx_shmtx_lock(&shpool->mutex);

    ngx_memcpy(j->redis.last_error, text, len);
    j->redis.last_error[len] = '\0';
    j->redis.last_error_time = ngx_time();
    j->redis.errors++;

    ngx_shmtx_unlock(&shpool->mutex);
}


/*
 * In the master after the zones are mapped, at start and on reload: a
 * zone made by this cycle is loaded from the data directory; a kept zone
 * (reload) is the registry already, keeps its journal or gets one, and
 * only takes the new configuration.  NGINX exits when init_module fails,
 * even on a reload, so after the first start a problem is logged and the
 * feature waits.
 */
ngx_int_t
ngx_http_scale_persist_init_module(ngx_cycle_t *cycle,
    ngx_http_scale_main_conf_t *smcf)
{
    size_t                          size;
    ngx_int_t                       failed;
    ngx_uint_t                      fresh;
    ngx_slab_pool_t                *shpool;
    ngx_http_scale_shctx_t         *sh;
    ngx_http_scale_journal_t       *j;
    ngx_http_scale_zone_ctx_t      *ctx;
    ngx_http_scale_persist_conf_t  *pcf;

    pcf = smcf->persist;
    failed = ngx_is_init_cycle(cycle->old_cycle) ? NGX_ERROR : NGX_OK;

    if (pcf == NULL || ngx_process == NGX_PROCESS_SIGNALLER) {
        return NGX_OK;
    }

    if (smcf->shm_zone == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "\"scale_data_dir\" and \"scale_redis\" need a "
                      "\"scale_zone\"");
        return failed;
    }

    ctx = smcf->shm_zone->data;
    sh = ctx->sh;
    shpool = ctx->shpool;

    if (pcf->snapshot_interval == NGX_CONF_UNSET_MSEC) {
        pcf->snapshot_interval = 5000;
    }

    size = 0;

    if (pcf->redis.len) {
        size = pcf->queue_size ? pcf->queue_size
                               : ngx_min(1024 * 1024, ctx->size / 16);
        size = ngx_max(size, 4096);
    }

    ngx_shmtx_lock(&shpool->mutex);

    j = sh->journal;
    fresh = ctx->fresh;

    if (j == NULL) {
        j = ngx_slab_calloc_locked(shpool, sizeof(ngx_http_scale_journal_t));
        if (j == NULL) {
            goto nomem;
        }

        j->started = ngx_time();
        sh->journal = j;
    }

    if (size && j->ring == NULL) {
        j->ring = ngx_slab_alloc_locked(shpool, size);
        if (j->ring == NULL) {
            goto nomem;
        }

        j->size = size;
    }

    if (size && j->gone == NULL) {
        j->gone = ngx_slab_calloc_locked(shpool,
                                         NGX_HTTP_SCALE_GONE
                                         * sizeof(uint64_t));
        if (j->gone == NULL) {
            goto nomem;
        }
    }

    j->enabled = (pcf->redis.len != 0);

    if (!j->enabled) {
        j->head = 0;
        j->sent = 0;
        j->tail = 0;
        j->records = 0;
    }

    ngx_http_scale_journal_instance(cycle, pcf, j);

    ngx_shmtx_unlock(&shpool->mutex);

    if (j->enabled && ngx_http_scale_wake[0] == -1 && !ngx_test_config) {
        if (pipe(ngx_http_scale_wake) == -1
            || ngx_nonblocking(ngx_http_scale_wake[0]) == -1
            || ngx_nonblocking(ngx_http_scale_wake[1]) == -1)
        {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "scale redis: pipe() failed");
            return failed;
        }
    }

    if (ngx_test_config) {
        return NGX_OK;
    }

    if (pcf->data_dir.len
        && ngx_http_scale_store_init_module(cycle, smcf, fresh) != NGX_OK)
    {
        return failed;
    }

    if (pcf->redis.len
        && ngx_http_scale_redis_init_module(cycle, smcf) != NGX_OK)
    {
        return failed;
    }

    return NGX_OK;

nomem:

    if (sh->journal) {
        sh->journal->enabled = 0;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                  "scale zone \"%V\" has no room for the change journal "
                  "(%uz bytes): make the zone larger or set a smaller "
                  "\"queue=\" in \"scale_redis\"",
                  &smcf->shm_zone->shm.name, size);

    return failed;
}


/*
 * This instance's name in the cluster (instance= or hostname:port of the
 * first listening socket) and the address it serves on.
 */
static void
ngx_http_scale_journal_instance(ngx_cycle_t *cycle,
    ngx_http_scale_persist_conf_t *pcf, ngx_http_scale_journal_t *j)
{
    u_char           *p, *last;
    ngx_uint_t        port;
    ngx_listening_t  *ls;

    port = 0;
    j->addr[0] = '\0';

    if (cycle->listening.nelts) {
        ls = cycle->listening.elts;
        port = ngx_inet_get_port(ls[0].sockaddr);

        last = ngx_cpymem(j->addr, ls[0].addr_text.data,
                          ngx_min(ls[0].addr_text.len,
                                  NGX_HTTP_SCALE_INSTANCE_LEN - 1));
        *last = '\0';
    }

    last = j->instance + NGX_HTTP_SCALE_INSTANCE_LEN - 1;

    if (pcf->instance.len) {
        p = ngx_cpymem(j->instance, pcf->instance.data,
                       ngx_min(pcf->instance.len,
                               NGX_HTTP_SCALE_INSTANCE_LEN - 1));

    } else {
        p = ngx_slprintf(j->instance, last, "%V:%ui", &cycle->hostname,
                         port);
    }

    *p = '\0';
}


/*
 * Worker 0 (or the single process) owns the data directory and Redis:
 * one writer, so two workers never race on the file or reorder writes.
 */
ngx_int_t
ngx_http_scale_persist_init_process(ngx_cycle_t *cycle,
    ngx_http_scale_main_conf_t *smcf)
{
    ngx_connection_t               *c;
    ngx_http_scale_zone_ctx_t      *ctx;
    ngx_http_scale_persist_conf_t  *pcf;

    pcf = smcf->persist;

    if (pcf == NULL || smcf->shm_zone == NULL) {
        return NGX_OK;
    }

    if ((ngx_process != NGX_PROCESS_WORKER
         && ngx_process != NGX_PROCESS_SINGLE)
        || ngx_worker != 0)
    {
        return NGX_OK;
    }

    ctx = smcf->shm_zone->data;

    if (ctx->sh->journal == NULL) {
        return NGX_OK;
    }

    if (pcf->redis.len && ctx->sh->journal->enabled
        && ngx_http_scale_redis_init_process(cycle, smcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (pcf->redis.len && ctx->sh->journal->enabled
        && ngx_http_scale_wake[0] != -1)
    {
        c = ngx_get_connection(ngx_http_scale_wake[0], cycle->log);
        if (c == NULL) {
            return NGX_ERROR;
        }

        c->read->handler = ngx_http_scale_persist_woken;
        c->read->log = cycle->log;

        if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_free_connection(c);
            return NGX_ERROR;
        }

        ngx_http_scale_wake_conn = c;
    }

    ngx_http_scale_tick_cycle = cycle;
    ngx_http_scale_tick_event.handler = ngx_http_scale_persist_tick;
    ngx_http_scale_tick_event.data = smcf;
    ngx_http_scale_tick_event.log = cycle->log;
    ngx_http_scale_tick_event.cancelable = 1;

    ngx_add_timer(&ngx_http_scale_tick_event, NGX_HTTP_SCALE_TICK);

    return NGX_OK;
}


/* worker 0, every 10 ms: the data directory and Redis get their turn */
static void
ngx_http_scale_persist_tick(ngx_event_t *ev)
{
    ngx_http_scale_shctx_t         *sh;
    ngx_http_scale_zone_ctx_t      *ctx;
    ngx_http_scale_main_conf_t     *smcf;
    ngx_http_scale_persist_conf_t  *pcf;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        ngx_http_scale_redis_exit_process();
        return;
    }

    if (ngx_http_scale_tick_cycle != ngx_cycle) {
        /* a reload without a master process: init_process does not run
         * again and the old configuration goes away, so start over */
        ngx_http_scale_persist_exit_process(ngx_http_scale_tick_cycle);

        smcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                                   ngx_http_scale_module);
        if (smcf && smcf->shm_zone) {
            (void) ngx_http_scale_persist_init_process(
                                          (ngx_cycle_t *) ngx_cycle, smcf);
        }

        return;
    }

    smcf = ev->data;
    pcf = smcf->persist;
    ctx = smcf->shm_zone->data;
    sh = ctx->sh;

    if (pcf->data_dir.len) {
        ngx_http_scale_store_tick(smcf, ev->log);
    }

    if (pcf->redis.len && sh->journal->enabled) {
        ngx_http_scale_redis_tick(smcf);
    }

    ngx_add_timer(ev, NGX_HTTP_SCALE_TICK);
}


/* a byte in the pipe: records are queued, drain them now */
static void
ngx_http_scale_persist_woken(ngx_event_t *ev)
{
    u_char             buf[64];
    ngx_connection_t  *c;

    c = ev->data;

    while (read(c->fd, buf, sizeof(buf)) > 0) {
        /* void */
    }

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_http_scale_redis_wake();
}


/* a worker stops: no half-written temporary file, no open sockets */
void
ngx_http_scale_persist_exit_process(ngx_cycle_t *cycle)
{
    if (ngx_http_scale_tick_event.timer_set) {
        ngx_del_timer(&ngx_http_scale_tick_event);
    }

    if (ngx_http_scale_wake_conn) {
        ngx_close_connection(ngx_http_scale_wake_conn);
        ngx_http_scale_wake_conn = NULL;

        /* the read end is gone: a single process that goes on (reload
         * with master_process off) makes a new pipe, never reuses it */
        ngx_http_scale_wake[0] = -1;

        if (ngx_http_scale_wake[1] != -1) {
            (void) close(ngx_http_scale_wake[1]);
            ngx_http_scale_wake[1] = -1;
        }
    }

    ngx_http_scale_store_exit_process();
    ngx_http_scale_redis_exit_process();
}


/*
 * The master stops (quit, TERM, INT) after every worker has exited, or
 * the single process stops: the last changes go to the data directory
 * and to Redis here, synchronously, so that a fast worker exit loses
 * nothing.
 */
void
ngx_http_scale_persist_exit_master(ngx_cycle_t *cycle)
{
    ngx_http_scale_zone_ctx_t      *ctx;
    ngx_http_scale_main_conf_t     *smcf;
    ngx_http_scale_persist_conf_t  *pcf;

    smcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_scale_module);

    if (smcf == NULL || smcf->shm_zone == NULL || smcf->persist == NULL) {
        return;
    }

    pcf = smcf->persist;
    ctx = smcf->shm_zone->data;

    if (ctx == NULL || ctx->sh == NULL || ctx->sh->journal == NULL) {
        return;
    }

    if (pcf->data_dir.len) {
        ngx_http_scale_store_exit_master(cycle, smcf);
    }

    if (pcf->redis.len) {
        ngx_http_scale_redis_exit_master(cycle, smcf);
    }
}


#define ngx_http_scale_json_int(obj, key, v)                                  \
    json_object_set_new(obj, key, json_integer((json_int_t) (v)))


/*
 * Adds "persistence", "redis" and "cluster" to the /status document.
 * The figures are copied under the lock, the JSON is built after.
 */
ngx_int_t
ngx_http_scale_persist_json(ngx_http_scale_zone_ctx_t *ctx, void *root)
{
    json_t                         *doc;
    ngx_http_scale_journal_t       *j, copy;
    ngx_http_scale_main_conf_t     *smcf;
    ngx_http_scale_persist_conf_t  *pcf;

    smcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_scale_module);
    pcf = smcf ? smcf->persist : NULL;

    if (pcf == NULL || ctx->sh->journal == NULL) {
        return NGX_OK;
    }

    j = ctx->sh->journal;

    ngx_shmtx_lock(&ctx->shpool->mutex);
    copy = *j;
    ngx_shmtx_unlock(&ctx->shpool->mutex);

    doc = ngx_http_scale_store_json(pcf, &copy);
    if (doc == NULL || json_object_set_new(root, "persistence", doc) != 0) {
        return NGX_ERROR;
    }

    if (pcf->redis.len == 0) {
        return NGX_OK;
    }

    doc = ngx_http_scale_redis_json(pcf, &copy);
    if (doc == NULL || json_object_set_new(root, "redis", doc) != 0) {
        return NGX_ERROR;
    }

    doc = ngx_http_scale_cluster_json(&copy);
    if (doc == NULL || json_object_set_new(root, "cluster", doc) != 0) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the "persistence" object: where the file is and how saves went */
static json_t *
ngx_http_scale_store_json(ngx_http_scale_persist_conf_t *pcf,
    ngx_http_scale_journal_t *j)
{
    json_t                         *obj;
    ngx_http_scale_store_status_t  *s;

    obj = json_object();
    if (obj == NULL) {
        return NULL;
    }

    s = &j->store;

    if (pcf->data_dir.len == 0) {
        json_object_set_new(obj, "enabled", json_false());
        return obj;
    }

    json_object_set_new(obj, "enabled", json_true());
    json_object_set_new(obj, "file",
                        json_stringn((char *) pcf->file.data,
                                     pcf->file.len));
    ngx_http_scale_json_int(obj, "interval", pcf->snapshot_interval);
    ngx_http_scale_json_int(obj, "pending_changes",
                            j->changes - s->saved_changes);
    ngx_http_scale_json_int(obj, "saves", s->saves);
    ngx_http_scale_json_int(obj, "save_errors", s->save_errors);
    ngx_http_scale_json_int(obj, "last_save", s->saved_at);
    ngx_http_scale_json_int(obj, "last_save_entries", s->saved_entries);
    ngx_http_scale_json_int(obj, "last_save_bytes", s->saved_bytes);
    ngx_http_scale_json_int(obj, "last_save_ms", s->save_ms);
    ngx_http_scale_json_int(obj, "loaded", s->loaded);
    ngx_http_scale_json_int(obj, "load_problems", s->load_problems);
    ngx_http_scale_json_int(obj, "load_ms", s->load_ms);

    return obj;
}


/* the "redis" object: link state, queue, and what went in and out */
static json_t *
ngx_http_scale_redis_json(ngx_http_scale_persist_conf_t *pcf,
    ngx_http_scale_journal_t *j)
{
    json_t                         *obj, *q;
    ngx_http_scale_redis_status_t  *r;

    obj = json_object();
    q = json_object();

    if (obj == NULL || q == NULL) {
        json_decref(obj);
        json_decref(q);
        return NULL;
    }

    r = &j->redis;

    json_object_set_new(obj, "address",
                        json_stringn((char *) pcf->redis.data,
                                     pcf->redis.len));
    ngx_http_scale_json_int(obj, "db", pcf->redis_db);
    json_object_set_new(obj, "prefix",
                        json_stringn((char *) pcf->redis_prefix.data,
                                     pcf->redis_prefix.len));
    json_object_set_new(obj, "connected", json_boolean(r->connected));
    json_object_set_new(obj, "subscribed", json_boolean(r->subscribed));
    json_object_set_new(obj, "syncing", json_boolean(r->syncing));

    ngx_http_scale_json_int(q, "records", j->records);
    ngx_http_scale_json_int(q, "bytes", j->head - j->tail);
    ngx_http_scale_json_int(q, "size", j->size);
    ngx_http_scale_json_int(q, "dropped", j->dropped);
    ngx_http_scale_json_int(q, "refreshes_dropped", j->refreshes_dropped);
    json_object_set_new(q, "overflow", json_boolean(j->overflow));
    json_object_set_new(obj, "queue", q);

    ngx_http_scale_json_int(obj, "written", r->written);
    ngx_http_scale_json_int(obj, "deleted", r->deleted);
    ngx_http_scale_json_int(obj, "published", r->published);
    ngx_http_scale_json_int(obj, "applied", r->applied);
    ngx_http_scale_json_int(obj, "loaded", r->loaded);
    ngx_http_scale_json_int(obj, "loads", r->loads);
    ngx_http_scale_json_int(obj, "resyncs", r->resyncs);
    ngx_http_scale_json_int(obj, "reconnects", r->reconnects);
    ngx_http_scale_json_int(obj, "errors", r->errors);
    ngx_http_scale_json_int(obj, "last_load_ms", r->last_load_ms);
    ngx_http_scale_json_int(obj, "last_load_entries", r->last_load_entries);

    if (r->last_error[0]) {
        json_object_set_new(obj, "last_error",
                            json_string((char *) r->last_error));
        ngx_http_scale_json_int(obj, "last_error_time", r->last_error_time);
    }

    return obj;
}


/* the "cluster" object: the instances whose heartbeats Redis holds */
static json_t *
ngx_http_scale_cluster_json(ngx_http_scale_journal_t *j)
{
    json_t                     *obj, *arr, *in;
    ngx_uint_t                  i;
    ngx_http_scale_instance_t  *p;

    obj = json_object();
    arr = json_array();

    if (obj == NULL || arr == NULL) {
        json_decref(obj);
        json_decref(arr);
        return NULL;
    }

    json_object_set_new(obj, "instance", json_string((char *) j->instance));
    json_object_set_new(obj, "address", json_string((char *) j->addr));

    for (i = 0; i < j->ninstances && i < NGX_HTTP_SCALE_INSTANCES_MAX; i++) {
        p = &j->instances[i];

        in = json_object();
        if (in == NULL) {
            json_decref(obj);
            json_decref(arr);
            return NULL;
        }

        json_object_set_new(in, "id", json_string((char *) p->id));
        json_object_set_new(in, "address", json_string((char *) p->addr));
        ngx_http_scale_json_int(in, "clients", p->clients);
        ngx_http_scale_json_int(in, "heartbeat", p->heartbeat);
        ngx_http_scale_json_int(in, "started", p->started);
        json_object_set_new(in, "self", json_boolean(p->self));

        json_array_append_new(arr, in);
    }

    json_object_set_new(obj, "instances", arr);

    return obj;
}


/* FNV-1a, 64 bits: the gone set holds only hashes, so they must be wide */
uint64_t
ngx_http_scale_journal_hash64(u_char *p, size_t len)
{
    uint64_t  h;

    h = 14695981039346656037ULL;

    while (len--) {
        h ^= *p++;
        h *= 1099511628211ULL;
    }

    return h ? h : 1;
}


/* remembers a removed id while a load runs; a full set forgets nothing
 * more, and the load then may bring back a few deleted ids */
static void
ngx_http_scale_journal_forget_locked(ngx_http_scale_journal_t *j,
    u_char *id, size_t len)
{
    uint64_t    h;
    ngx_uint_t  i;

    if (j->gone == NULL || j->gone_n >= NGX_HTTP_SCALE_GONE / 2) {
        return;
    }

    h = ngx_http_scale_journal_hash64(id, len);

    for (i = h % NGX_HTTP_SCALE_GONE; j->gone[i];
         i = (i + 1) % NGX_HTTP_SCALE_GONE)
    {
        if (j->gone[i] == h) {
            return;
        }
    }

    j->gone[i] = h;
    j->gone_n++;
}


/* was this id removed since the load began? */
ngx_uint_t
ngx_http_scale_journal_gone_locked(ngx_http_scale_journal_t *j, uint64_t h)
{
    ngx_uint_t  i;

    if (j->gone == NULL || j->gone_n == 0) {
        return 0;
    }

    for (i = h % NGX_HTTP_SCALE_GONE; j->gone[i];
         i = (i + 1) % NGX_HTTP_SCALE_GONE)
    {
        if (j->gone[i] == h) {
            return 1;
        }
    }

    return 0;
}


/* appends n bytes at head; the caller checked there is room */
static void
ngx_http_scale_ring_put(ngx_http_scale_journal_t *j, u_char *src, size_t n)
{
    size_t  pos, first;

    pos = (size_t) (j->head % j->size);
    first = ngx_min(n, j->size - pos);

    ngx_memcpy(j->ring + pos, src, first);
    ngx_memcpy(j->ring, src + first, n - first);

    j->head += n;
}


/* reads n bytes at sent and moves it on */
static void
ngx_http_scale_ring_get(ngx_http_scale_journal_t *j, u_char *dst, size_t n)
{
    size_t  pos, first;

    pos = (size_t) (j->sent % j->size);
    first = ngx_min(n, j->size - pos);

    ngx_memcpy(dst, j->ring + pos, first);
    ngx_memcpy(dst + first, j->ring, n - first);

    j->sent += n;
}
