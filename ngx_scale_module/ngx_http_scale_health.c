
/*
 * Active health checks and evictions.  Every worker runs two timers.
 * The health tick takes due entries from the zone's min-heap under the
 * lock, claims them by moving their due time past the probe's deadline
 * (so no other worker probes them, and a worker that dies leaves claims
 * that simply fall due again), and probes them with non-blocking
 * "GET <scale_health_uri>" requests on NGINX's own event loop.  The
 * cleanup tick evicts entries not seen for max_age, in bounded batches,
 * and keeps the eviction brake up to date.
 */


#include "ngx_http_scale_registry.h"


#define NGX_HTTP_SCALE_CLAIMS_MAX     256
#define NGX_HTTP_SCALE_EVICT_BATCH    1024
#define NGX_HTTP_SCALE_REFILE_MAX     4096
#define NGX_HTTP_SCALE_BRAKE_MIN      10     /* probes before judging */


typedef struct {
    uint32_t                    hash;
    u_char                      id_len;
    u_char                      addr_len;
    u_char                      id[NGX_HTTP_SCALE_NAME_MAX];
    u_char                      addr[NGX_HTTP_SCALE_NAME_MAX];
} ngx_http_scale_claim_t;


/* one probe in flight; its pool holds it and dies with it */
typedef struct {
    ngx_queue_t                 queue;
    ngx_peer_connection_t       pc;
    ngx_pool_t                 *pool;
    ngx_str_t                   addr_text;
    ngx_buf_t                  *request;
    size_t                      got;
    u_char                      head[16];      /* "HTTP/1.1 200 " */
    ngx_http_scale_claim_t      claim;
} ngx_http_scale_probe_t;


static void ngx_http_scale_health_tick(ngx_event_t *ev);
static void ngx_http_scale_health_refill(ngx_event_t *ev);
static void ngx_http_scale_cleanup_tick(ngx_event_t *ev);
static ngx_uint_t ngx_http_scale_health_take(ngx_http_scale_zone_ctx_t *ctx,
    ngx_msec_t now, ngx_uint_t budget, ngx_http_scale_claim_t *claims);
static void ngx_http_scale_health_evict(ngx_http_scale_zone_ctx_t *ctx,
    ngx_http_scale_entry_t *e);
static void ngx_http_scale_brake_update(ngx_http_scale_zone_ctx_t *ctx,
    ngx_msec_t now, ngx_log_t *log);
static void ngx_http_scale_probe_start(ngx_http_scale_claim_t *claim,
    ngx_log_t *log);
static void ngx_http_scale_probe_write(ngx_event_t *wev);
static void ngx_http_scale_probe_read(ngx_event_t *rev);
static void ngx_http_scale_probe_finish(ngx_http_scale_probe_t *pr,
    ngx_int_t rc);
static void ngx_http_scale_probe_record(ngx_http_scale_claim_t *claim,
    ngx_int_t rc);
static void ngx_http_scale_probe_close(ngx_http_scale_probe_t *pr);


static ngx_event_t                  ngx_http_scale_health_timer;
static ngx_event_t                  ngx_http_scale_cleanup_timer;
static ngx_queue_t                  ngx_http_scale_probes;
static ngx_event_t                  ngx_http_scale_refill_event;
static ngx_uint_t                   ngx_http_scale_in_flight;
static ngx_uint_t                   ngx_http_scale_backlog;
static ngx_http_scale_main_conf_t  *ngx_http_scale_health_conf;
static ngx_http_scale_claim_t       ngx_http_scale_claims[
                                        NGX_HTTP_SCALE_CLAIMS_MAX];


/* arms both timers in a worker, at a random phase so workers interleave */
ngx_int_t
ngx_http_scale_health_init_process(ngx_cycle_t *cycle,
    ngx_http_scale_main_conf_t *smcf)
{
    ngx_event_t                *ev;
    ngx_http_scale_zone_ctx_t  *ctx;

    ngx_http_scale_health_conf = smcf;
    ngx_queue_init(&ngx_http_scale_probes);

    ctx = smcf->shm_zone->data;
    ngx_http_scale_stat(ctx->sh)->health.in_flight = 0;

    ev = &ngx_http_scale_health_timer;
    ev->handler = ngx_http_scale_health_tick;
    ev->data = smcf;
    ev->log = cycle->log;
    ev->cancelable = 1;
    ngx_add_timer(ev, 1 + ngx_random() % smcf->params.health_interval);

    ev = &ngx_http_scale_refill_event;
    ev->handler = ngx_http_scale_health_refill;
    ev->data = smcf;
    ev->log = cycle->log;

    ev = &ngx_http_scale_cleanup_timer;
    ev->handler = ngx_http_scale_cleanup_tick;
    ev->data = smcf;
    ev->log = cycle->log;
    ev->cancelable = 1;
    ngx_add_timer(ev, 1 + ngx_random() % smcf->params.cleanup_interval);

    return NGX_OK;
}


/* a worker leaving: its probes are dropped unrecorded, their claims lapse */
void
ngx_http_scale_health_exit_process(ngx_cycle_t *cycle)
{
    ngx_queue_t             *q;
    ngx_http_scale_probe_t  *pr;

    if (ngx_http_scale_health_conf == NULL) {
        return;
    }

    ngx_http_scale_backlog = 0;

    if (ngx_http_scale_refill_event.posted) {
        ngx_delete_posted_event(&ngx_http_scale_refill_event);
    }

    while (!ngx_queue_empty(&ngx_http_scale_probes)) {
        q = ngx_queue_head(&ngx_http_scale_probes);
        pr = ngx_queue_data(q, ngx_http_scale_probe_t, queue);
        ngx_http_scale_probe_close(pr);
    }
}


/* the scheduler tick: probe what is due, then come back an interval on */
static void
ngx_http_scale_health_tick(ngx_event_t *ev)
{
    ngx_msec_t                   interval;
    ngx_http_scale_zone_ctx_t   *ctx;
    ngx_http_scale_main_conf_t  *smcf;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    smcf = ev->data;
    ctx = smcf->shm_zone->data;

    ngx_http_scale_health_refill(ev);

    interval = ctx->sh->params.health_interval;
    ngx_add_timer(ev, interval ? interval : 100);
}


/*
 * Claims as many due entries as the concurrency allows and probes them.
 * Called by the tick, and as a posted event when probes finish while
 * due entries wait, so throughput follows probe latency, not the tick.
 */
static void
ngx_http_scale_health_refill(ngx_event_t *ev)
{
    ngx_uint_t                   i, n, budget;
    ngx_http_scale_zone_ctx_t   *ctx;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ctx = ngx_http_scale_health_conf->shm_zone->data;

    budget = ctx->sh->params.health_concurrency;
    budget = budget > ngx_http_scale_in_flight
             ? budget - ngx_http_scale_in_flight : 0;
    budget = ngx_min(budget, NGX_HTTP_SCALE_CLAIMS_MAX);

    n = ngx_http_scale_health_take(ctx, ngx_current_msec, budget,
                                   ngx_http_scale_claims);

    ngx_http_scale_backlog = (budget && n == budget);

    for (i = 0; i < n; i++) {
        ngx_http_scale_probe_start(&ngx_http_scale_claims[i], ev->log);
    }
}


/* the eviction pass: the brake's window first, then expired entries */
static void
ngx_http_scale_cleanup_tick(ngx_event_t *ev)
{
    ngx_msec_t                   interval;
    ngx_http_scale_zone_ctx_t   *ctx;
    ngx_http_scale_main_conf_t  *smcf;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    smcf = ev->data;
    ctx = smcf->shm_zone->data;

    ngx_http_scale_brake_update(ctx, ngx_current_msec, ev->log);
    (void) ngx_http_scale_health_take(ctx, ngx_current_msec, 0, NULL);

    interval = ctx->sh->params.cleanup_interval;
    ngx_add_timer(ev, interval ? interval : 1000);
}


/*
 * Under the lock: walks the heap from its minimum while entries are due.
 * An entry unseen for max_age is evicted (at most a batch per call); a
 * probeable one is claimed while the budget lasts.  Returns the claims.
 */
static ngx_uint_t
ngx_http_scale_health_take(ngx_http_scale_zone_ctx_t *ctx, ngx_msec_t now,
    ngx_uint_t budget, ngx_http_scale_claim_t *claims)
{
    u_char                   *addr;
    ngx_uint_t                n, evicted, refiled;
    ngx_msec_t                claim_until, hold, due;
    ngx_slab_pool_t          *shpool;
    ngx_http_scale_entry_t   *e;
    ngx_http_scale_shctx_t   *sh;
    ngx_http_scale_claim_t   *cl;

    sh = ctx->sh;
    shpool = ctx->shpool;
    n = 0;
    evicted = 0;
    refiled = 0;

    ngx_shmtx_lock(&shpool->mutex);

    claim_until = now + sh->params.health_timeout
                  + 2 * sh->params.health_interval + 1000;
    hold = ngx_max(sh->params.min_age, sh->params.cleanup_interval);

    while (evicted < NGX_HTTP_SCALE_EVICT_BATCH) {
        e = ngx_http_scale_registry_heap_min(shpool, sh);

        if (e == NULL || ngx_http_scale_msec32_diff(e->due, now) > 0) {
            break;
        }

        if ((ngx_msec_int_t) (now - e->last_seen)
            >= (ngx_msec_int_t) sh->params.max_age)
        {
            if (sh->brake_on && e->fails
                && (e->flags & NGX_HTTP_SCALE_PROBEABLE))
            {
                /* probe failures might be ours: keep it, probe it again */

                if (++refiled > NGX_HTTP_SCALE_REFILE_MAX) {
                    break;
                }

                ngx_http_scale_registry_set_due(shpool, sh, e, now + hold);
                continue;
            }

            ngx_http_scale_health_evict(ctx, e);
            evicted++;
            continue;
        }

        if (!(e->flags & NGX_HTTP_SCALE_PROBEABLE)
            || (!(e->flags & NGX_HTTP_SCALE_UNHEALTHY)
                && (ngx_msec_int_t) (e->last_seen + sh->params.min_age - now)
                   > 0))
        {
            /* refreshed since it was filed: re-file it, a bounded number */

            if (++refiled > NGX_HTTP_SCALE_REFILE_MAX) {
                break;
            }

            due = ngx_http_scale_registry_due(sh, e, e->last_seen);
            ngx_http_scale_registry_set_due(shpool, sh, e, due);
            continue;
        }

        if (n >= budget) {
            if (claims) {
                break;
            }

            /*
             * the cleanup pass claims nothing: it steps over a probe that
             * waits for a free slot, so evictions behind it go on
             */

            if (++refiled > NGX_HTTP_SCALE_REFILE_MAX) {
                break;
            }

            due = ngx_min(now + sh->params.health_interval,
                          e->last_seen + sh->params.max_age);
            ngx_http_scale_registry_set_due(shpool, sh, e, due);
            continue;
        }

        cl = &claims[n++];
        cl->hash = e->hash;
        cl->id_len = e->id_len;
        ngx_memcpy(cl->id, e->data, e->id_len);

        addr = ngx_http_scale_entry_probe_addr(e);
        cl->addr_len = (u_char) ngx_http_scale_entry_probe_addr_len(e);
        ngx_memcpy(cl->addr, addr, cl->addr_len);

        ngx_http_scale_registry_set_due(shpool, sh, e, claim_until);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return n;
}


/* removes an entry whose time is up, counting why; the lock is held */
static void
ngx_http_scale_health_evict(ngx_http_scale_zone_ctx_t *ctx,
    ngx_http_scale_entry_t *e)
{
    ngx_http_scale_shctx_t  *sh;

    sh = ctx->sh;

    if (e->fails) {
        ngx_http_scale_count(sh, health.evicted_failure);

    } else {
        ngx_http_scale_count(sh, health.evicted_age);
    }

    ngx_http_scale_journal_add_locked(sh, NGX_HTTP_SCALE_OP_EVICT, e);
    ngx_http_scale_registry_remove(ctx->shpool, sh, e);
}


/*
 * The eviction brake (Eureka's self-preservation): when more than
 * scale_eviction_brake percent of the probes of the last two windows
 * (max_age each) failed, the failures are more likely ours than the
 * clients', so entries that fail probes are neither marked unhealthy nor
 * evicted until the ratio recovers.
 */
static void
ngx_http_scale_brake_update(ngx_http_scale_zone_ctx_t *ctx, ngx_msec_t now,
    ngx_log_t *log)
{
    ngx_uint_t               probes, fails, on;
    ngx_http_scale_shctx_t  *sh;

    sh = ctx->sh;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    if (now - sh->brake_window >= sh->params.max_age) {
        sh->brake_window = now;
        sh->brake_probes_prev = sh->brake_probes;
        sh->brake_fails_prev = sh->brake_fails;
        sh->brake_probes = 0;
        sh->brake_fails = 0;
    }

    probes = sh->brake_probes + sh->brake_probes_prev;
    fails = sh->brake_fails + sh->brake_fails_prev;

    on = probes >= NGX_HTTP_SCALE_BRAKE_MIN
         && fails * 100 > sh->params.eviction_brake * probes;

    if (on == sh->brake_on) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return;
    }

    sh->brake_on = on;

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    if (on) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "scale: eviction brake engaged: %ui of %ui recent "
                      "probes failed (limit %ui%%); no evictions by probe "
                      "failure until it recovers",
                      fails, probes, sh->params.eviction_brake);

    } else {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "scale: eviction brake released: %ui of %ui recent "
                      "probes failed", fails, probes);
    }
}


/*
 * Connects to a claimed entry's address with NGINX's own peer connection
 * and queues the request; a failure to even start counts as a failed
 * probe, so the entry is not left claimed and unjudged.
 */
static void
ngx_http_scale_probe_start(ngx_http_scale_claim_t *claim, ngx_log_t *log)
{
    ngx_int_t                    rc;
    ngx_addr_t                   addr;
    ngx_pool_t                  *pool;
    ngx_connection_t            *c;
    ngx_http_scale_probe_t      *pr;
    ngx_http_scale_shctx_t      *sh;
    ngx_http_scale_zone_ctx_t   *ctx;
    ngx_http_scale_main_conf_t  *smcf;

    smcf = ngx_http_scale_health_conf;
    ctx = smcf->shm_zone->data;
    sh = ctx->sh;

    pool = ngx_create_pool(1024, log);
    if (pool == NULL) {
        return;
    }

    pr = ngx_pcalloc(pool, sizeof(ngx_http_scale_probe_t));
    if (pr == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    pr->pool = pool;
    pr->claim = *claim;
    pr->addr_text.data = pr->claim.addr;
    pr->addr_text.len = claim->addr_len;

    ngx_http_scale_count(sh, health.started);

    if (ngx_parse_addr_port(pool, &addr, pr->addr_text.data,
                            pr->addr_text.len)
        != NGX_OK)
    {
        ngx_http_scale_probe_record(&pr->claim, NGX_ERROR);
        ngx_destroy_pool(pool);
        return;
    }

    pr->request = ngx_create_temp_buf(pool, sizeof("GET  HTTP/1.1" CRLF)
                                      + smcf->health_uri.len
                                      + sizeof("Host: " CRLF)
                                      + pr->addr_text.len
                                      + sizeof("User-Agent: ngx_scale" CRLF
                                               "Connection: close" CRLF CRLF));
    if (pr->request == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    pr->request->last = ngx_sprintf(pr->request->last,
                                     "GET %V HTTP/1.1" CRLF
                                     "Host: %V" CRLF
                                     "User-Agent: ngx_scale" CRLF
                                     "Connection: close" CRLF CRLF,
                                     &smcf->health_uri, &pr->addr_text);

    pr->pc.sockaddr = addr.sockaddr;
    pr->pc.socklen = addr.socklen;
    pr->pc.name = &pr->addr_text;
    pr->pc.get = ngx_event_get_peer;
    pr->pc.log = log;
    pr->pc.log_error = NGX_ERROR_INFO;

    rc = ngx_event_connect_peer(&pr->pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        if (pr->pc.connection) {
            ngx_close_connection(pr->pc.connection);
        }

        ngx_http_scale_probe_record(&pr->claim, NGX_ERROR);
        ngx_destroy_pool(pool);
        return;
    }

    c = pr->pc.connection;
    c->data = pr;
    c->pool = pool;
    c->read->handler = ngx_http_scale_probe_read;
    c->write->handler = ngx_http_scale_probe_write;
    c->read->cancelable = 1;
    c->write->cancelable = 1;

    ngx_add_timer(c->read, sh->params.health_timeout);

    ngx_queue_insert_tail(&ngx_http_scale_probes, &pr->queue);
    ngx_http_scale_in_flight++;
    ngx_http_scale_stat(sh)->health.in_flight = ngx_http_scale_in_flight;

    if (rc == NGX_OK) {
        ngx_http_scale_probe_write(c->write);
    }
}


/* sends the request once connected; an error here is a failed probe */
static void
ngx_http_scale_probe_write(ngx_event_t *wev)
{
    ssize_t                  n;
    ngx_buf_t               *b;
    ngx_connection_t        *c;
    ngx_http_scale_probe_t  *pr;

    c = wev->data;
    pr = c->data;
    b = pr->request;

    if (b->pos == b->last) {
        return;
    }

    n = c->send(c, b->pos, b->last - b->pos);

    if (n == NGX_ERROR) {
        ngx_http_scale_probe_finish(pr, NGX_ERROR);
        return;
    }

    if (n > 0) {
        b->pos += n;
    }

    if (b->pos < b->last && ngx_handle_write_event(wev, 0) != NGX_OK) {
        ngx_http_scale_probe_finish(pr, NGX_ERROR);
    }
}


/* the status line is all a probe needs: 2xx passes */
static void
ngx_http_scale_probe_read(ngx_event_t *rev)
{
    ssize_t                  n;
    ngx_int_t                status;
    ngx_connection_t        *c;
    ngx_http_scale_probe_t  *pr;

    c = rev->data;
    pr = c->data;

    if (rev->timedout) {
        ngx_http_scale_probe_finish(pr, NGX_ETIMEDOUT);
        return;
    }

    for ( ;; ) {
        n = c->recv(c, pr->head + pr->got, sizeof(pr->head) - pr->got);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_http_scale_probe_finish(pr, NGX_ERROR);
            }

            return;
        }

        if (n == NGX_ERROR || n == 0) {
            break;
        }

        pr->got += n;

        if (pr->got == sizeof(pr->head)) {
            break;
        }
    }

    if (pr->got < sizeof("HTTP/1.1 200") - 1
        || ngx_strncmp(pr->head, "HTTP/1.", 7) != 0)
    {
        ngx_http_scale_probe_finish(pr, NGX_ERROR);
        return;
    }

    status = ngx_atoi(pr->head + 9, 3);

    ngx_http_scale_probe_finish(pr, status >= 200 && status < 300
                                    ? NGX_OK : NGX_ERROR);
}


/* closes first (the probe's memory goes with it), then records, unless
 * the worker is leaving: its claims simply lapse */
static void
ngx_http_scale_probe_finish(ngx_http_scale_probe_t *pr, ngx_int_t rc)
{
    ngx_http_scale_claim_t  claim;

    claim = pr->claim;

    ngx_http_scale_probe_close(pr);

    if (!ngx_exiting && !ngx_terminate) {
        ngx_http_scale_probe_record(&claim, rc);
    }
}


/*
 * Applies a probe's outcome to the entry, if it still exists: passes
 * make it seen and, after scale_health_passes, healthy again; failures
 * make it unhealthy after scale_health_fails (not under the brake).
 */
static void
ngx_http_scale_probe_record(ngx_http_scale_claim_t *claim, ngx_int_t rc)
{
    ngx_msec_t                   now;
    ngx_slab_pool_t             *shpool;
    ngx_http_scale_entry_t      *e;
    ngx_http_scale_shctx_t      *sh;
    ngx_http_scale_zone_ctx_t   *ctx;

    ctx = ngx_http_scale_health_conf->shm_zone->data;
    sh = ctx->sh;
    shpool = ctx->shpool;
    now = ngx_current_msec;

    if (rc == NGX_OK) {
        ngx_http_scale_count(sh, health.passed);

    } else if (rc == NGX_ETIMEDOUT) {
        ngx_http_scale_count(sh, health.timed_out);

    } else {
        ngx_http_scale_count(sh, health.failed);
    }

    ngx_shmtx_lock(&shpool->mutex);

    sh->brake_probes++;

    if (rc != NGX_OK) {
        sh->brake_fails++;
    }

    e = ngx_http_scale_registry_find(shpool, sh, claim->id, claim->id_len,
                                     claim->hash);
    if (e == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);
        return;
    }

    e->flags |= NGX_HTTP_SCALE_PROBED;

    if (rc == NGX_OK) {
        e->flags |= NGX_HTTP_SCALE_REACHABLE;
        e->fails = 0;
        e->passes += (e->passes < 255);
        e->last_seen = now;

        /* a client living on probes alone: keep its 32-bit refresh time
         * near now, where it cannot wrap into a spurious 429 */
        if (ngx_http_scale_msec32_diff(now, e->refreshed)
            > (int32_t) (sh->params.refresh_min + 86400000))
        {
            e->refreshed = (uint32_t) (now - sh->params.refresh_min);
        }

        if (e->passes >= sh->params.health_passes) {
            ngx_http_scale_registry_set_health(sh, shpool, e, 1);
        }

    } else {
        e->flags &= ~NGX_HTTP_SCALE_REACHABLE;
        e->passes = 0;
        e->fails += (e->fails < 255);

        if (e->fails >= sh->params.health_fails && !sh->brake_on) {
            ngx_http_scale_registry_set_health(sh, shpool, e, 0);
        }
    }

    ngx_http_scale_registry_set_due(shpool, sh, e,
                                    ngx_http_scale_registry_due(sh, e, now));

    ngx_shmtx_unlock(&shpool->mutex);
}


/* frees a probe; refills when due entries wait for free slots */
static void
ngx_http_scale_probe_close(ngx_http_scale_probe_t *pr)
{
    ngx_http_scale_zone_ctx_t  *ctx;

    ctx = ngx_http_scale_health_conf->shm_zone->data;

    ngx_queue_remove(&pr->queue);
    ngx_http_scale_in_flight--;
    ngx_http_scale_stat(ctx->sh)->health.in_flight = ngx_http_scale_in_flight;

    ngx_close_connection(pr->pc.connection);
    ngx_destroy_pool(pr->pool);

    if (ngx_http_scale_backlog && !ngx_http_scale_refill_event.posted
        && ngx_http_scale_in_flight <= ctx->sh->params.health_concurrency / 2)
    {
        ngx_post_event(&ngx_http_scale_refill_event, &ngx_posted_events);
    }
}
