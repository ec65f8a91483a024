
/*
 * Counters and the /status document.  Counters are atomics in the zone,
 * updated without the lock; registry figures and the configuration are
 * copied under the lock, and the JSON is built after it is released.
 */


#include <jansson.h>

#include "ngx_http_scale_registry.h"


/* upper bounds of the /connect latency buckets, microseconds */
static void ngx_http_scale_stats_sum(ngx_http_scale_shctx_t *sh,
    ngx_http_scale_counters_t *c, ngx_http_scale_health_stats_t *hs);


static const uint64_t  ngx_http_scale_latency_le[] = {
    10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000,
    100000, 250000, 500000, 1000000, 2500000, (uint64_t) -1
};


/* a monotonic clock in microseconds: ngx_current_msec is cached per event
 * loop turn and too coarse for a handler that runs in microseconds */
uint64_t
ngx_http_scale_stats_usec(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


/*
 * The request this worker is answering.  It is counted just before its
 * answer leaves (ngx_http_scale_send_text() calls stats_end()), so that
 * a client reading /status right after an answer always finds it
 * counted.  A worker runs one handler at a time, so one slot is enough.
 */
static struct {
    ngx_http_scale_shctx_t         *sh;
    uint64_t                        start;
    ngx_uint_t                      is_connect;
} ngx_http_scale_pending;


void
ngx_http_scale_stats_begin(ngx_http_scale_shctx_t *sh, ngx_uint_t is_connect)
{
    ngx_http_scale_pending.sh = sh;
    ngx_http_scale_pending.start = ngx_http_scale_stats_usec();
    ngx_http_scale_pending.is_connect = is_connect;
}


/* counts the pending request, once; a no-op for routes not counted */
void
ngx_http_scale_stats_end(ngx_uint_t status)
{
    ngx_http_scale_shctx_t  *sh;

    sh = ngx_http_scale_pending.sh;

    if (sh == NULL) {
        return;
    }

    ngx_http_scale_pending.sh = NULL;

    ngx_http_scale_stats_request(sh, status,
                                 ngx_http_scale_stats_usec()
                                 - ngx_http_scale_pending.start,
                                 ngx_http_scale_pending.is_connect);
}


/* records one answered request for this worker (and /connect latency) */
void
ngx_http_scale_stats_request(ngx_http_scale_shctx_t *sh, ngx_uint_t status,
    uint64_t usec, ngx_uint_t is_connect)
{
    ngx_uint_t                      i;
    ngx_http_scale_worker_stats_t  *w;

    w = ngx_http_scale_stat(sh);

    (void) ngx_atomic_fetch_add(&w->requests, 1);
    (void) ngx_atomic_fetch_add(status < 400 ? &w->successes
                                             : &w->failures, 1);
    (void) ngx_atomic_fetch_add(&w->latency_us, usec);

    if (!is_connect) {
        return;
    }

    for (i = 0; usec > ngx_http_scale_latency_le[i]; i++) {
        /* void */
    }

    (void) ngx_atomic_fetch_add(&w->counters.latency[i], 1);
    (void) ngx_atomic_fetch_add(&w->counters.latency_sum_us, usec);
    (void) ngx_atomic_fetch_add(&w->counters.latency_count, 1);
}


/*
 * The totals of every worker's counters.  Both structures hold nothing
 * but ngx_atomic_t, so they are summed as arrays of them.
 */
static void
ngx_http_scale_stats_sum(ngx_http_scale_shctx_t *sh,
    ngx_http_scale_counters_t *c, ngx_http_scale_health_stats_t *hs)
{
    ngx_uint_t     w, i;
    ngx_atomic_t  *from, *to;

    ngx_memzero(c, sizeof(ngx_http_scale_counters_t));
    ngx_memzero(hs, sizeof(ngx_http_scale_health_stats_t));

    for (w = 0; w < NGX_HTTP_SCALE_WORKERS_MAX; w++) {
        from = (ngx_atomic_t *) &sh->workers[w].counters;
        to = (ngx_atomic_t *) c;

        for (i = 0; i < sizeof(*c) / sizeof(ngx_atomic_t); i++) {
            to[i] += from[i];
        }

        from = (ngx_atomic_t *) &sh->workers[w].health;
        to = (ngx_atomic_t *) hs;

        for (i = 0; i < sizeof(*hs) / sizeof(ngx_atomic_t); i++) {
            to[i] += from[i];
        }
    }
}


#define ngx_http_scale_json_set(obj, key, v)                                  \
    json_object_set_new(obj, key, json_integer((json_int_t) (v)))


/* the /status document; NULL when memory runs out */
void *
ngx_http_scale_stats_json(ngx_http_scale_zone_ctx_t *ctx,
    ngx_str_t *zone_name)
{
    size_t                          used;
    json_t                         *root, *zone, *cnt, *conf, *workers, *w;
    json_t                         *lat, *le, *counts;
    json_t                         *health;
    ngx_uint_t                      i, count, capacity, heap, nworkers;
    ngx_uint_t                      healthy, brake;
    ngx_http_scale_health_stats_t  *hs, health_sum;
    ngx_http_scale_shctx_t         *sh;
    ngx_http_scale_params_t         params;
    ngx_http_scale_counters_t      *c, counters_sum;
    ngx_http_scale_worker_stats_t  *ws;
    size_t                          entry_bytes, array_bytes, free_bytes;

    sh = ctx->sh;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    count = sh->count;
    healthy = sh->healthy;
    brake = sh->brake_on;
    capacity = sh->capacity;
    heap = sh->count;
    params = sh->params;
    nworkers = sh->nworkers;
    entry_bytes = sh->entry_bytes;
    array_bytes = sh->array_bytes;
    free_bytes = ctx->shpool->pfree * ngx_pagesize;

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    used = ctx->size - free_bytes;

    ngx_http_scale_stats_sum(sh, &counters_sum, &health_sum);
    c = &counters_sum;

    root = json_object();
    zone = json_object();
    cnt = json_object();
    conf = json_object();
    workers = json_array();
    lat = json_object();
    le = json_array();
    counts = json_array();

    if (root == NULL || zone == NULL || cnt == NULL || conf == NULL
        || workers == NULL || lat == NULL || le == NULL || counts == NULL)
    {
        json_decref(root);
        json_decref(zone);
        json_decref(cnt);
        json_decref(conf);
        json_decref(workers);
        json_decref(lat);
        json_decref(le);
        json_decref(counts);
        return NULL;
    }

    ngx_http_scale_json_set(root, "clients", count);
    ngx_http_scale_json_set(root, "capacity",
                            params.max_clients
                            ? ngx_min(params.max_clients, capacity)
                            : capacity);
    ngx_http_scale_json_set(root, "heap_size", heap);
    ngx_http_scale_json_set(root, "uptime", ngx_time() - sh->start_time);

    json_object_set_new(zone, "name",
                        json_stringn((char *) zone_name->data,
                                     zone_name->len));
    ngx_http_scale_json_set(zone, "size", ctx->size);
    ngx_http_scale_json_set(zone, "used", used);
    ngx_http_scale_json_set(zone, "free", free_bytes);
    ngx_http_scale_json_set(zone, "entry_bytes", entry_bytes);
    ngx_http_scale_json_set(zone, "array_bytes", array_bytes);
    json_object_set_new(zone, "bytes_per_entry",
                        json_real(count ? (double) (entry_bytes
                                                    + 3 * 4 * count)
                                          / count
                                        : 0.0));
    json_object_set_new(root, "zone", zone);

    ngx_http_scale_json_set(cnt, "connects", c->connects);
    ngx_http_scale_json_set(cnt, "registrations", c->registrations);
    ngx_http_scale_json_set(cnt, "refreshes", c->refreshes);
    ngx_http_scale_json_set(cnt, "deletes", c->deletes);
    ngx_http_scale_json_set(cnt, "not_found", c->not_found);
    ngx_http_scale_json_set(cnt, "rejected", c->rejected);
    ngx_http_scale_json_set(cnt, "rate_limited", c->rate_limited);
    ngx_http_scale_json_set(cnt, "full", c->full);
    json_object_set_new(root, "counters", cnt);

    health = json_object();
    if (health == NULL) {
        json_decref(root);
        json_decref(conf);
        json_decref(workers);
        json_decref(lat);
        json_decref(le);
        json_decref(counts);
        return NULL;
    }

    hs = &health_sum;
    ngx_http_scale_json_set(health, "healthy", healthy);
    ngx_http_scale_json_set(health, "unhealthy", count - healthy);
    ngx_http_scale_json_set(health, "probes_started", hs->started);
    ngx_http_scale_json_set(health, "probes_passed", hs->passed);
    ngx_http_scale_json_set(health, "probes_failed", hs->failed);
    ngx_http_scale_json_set(health, "probes_timed_out", hs->timed_out);
    ngx_http_scale_json_set(health, "probes_in_flight", hs->in_flight);
    ngx_http_scale_json_set(health, "evicted_age", hs->evicted_age);
    ngx_http_scale_json_set(health, "evicted_failure", hs->evicted_failure);
    ngx_http_scale_json_set(health, "alive", hs->alive);
    json_object_set_new(health, "brake", json_boolean(brake));
    json_object_set_new(root, "health", health);

    for (i = 0; i < NGX_HTTP_SCALE_LATENCY_BUCKETS; i++) {
        json_array_append_new(le,
                              i + 1 < NGX_HTTP_SCALE_LATENCY_BUCKETS
                              ? json_integer(ngx_http_scale_latency_le[i])
                              : json_null());
        json_array_append_new(counts, json_integer(c->latency[i]));
    }

    json_object_set_new(lat, "le_us", le);
    json_object_set_new(lat, "counts", counts);
    ngx_http_scale_json_set(lat, "sum_us", c->latency_sum_us);
    ngx_http_scale_json_set(lat, "count", c->latency_count);
    json_object_set_new(root, "connect_latency", lat);

    ngx_http_scale_json_set(conf, "subset_size", params.subset_size);
    ngx_http_scale_json_set(conf, "max_clients", params.max_clients);
    ngx_http_scale_json_set(conf, "refresh_min", params.refresh_min);
    ngx_http_scale_json_set(conf, "rate", params.rate / 1000);
    ngx_http_scale_json_set(conf, "burst", params.burst / 1000);
    ngx_http_scale_json_set(conf, "min_age", params.min_age);
    ngx_http_scale_json_set(conf, "max_age", params.max_age);
    ngx_http_scale_json_set(conf, "health_timeout", params.health_timeout);
    ngx_http_scale_json_set(conf, "health_interval", params.health_interval);
    ngx_http_scale_json_set(conf, "cleanup_interval",
                            params.cleanup_interval);
    ngx_http_scale_json_set(conf, "health_fails", params.health_fails);
    ngx_http_scale_json_set(conf, "health_passes", params.health_passes);
    ngx_http_scale_json_set(conf, "health_concurrency",
                            params.health_concurrency);
    ngx_http_scale_json_set(conf, "eviction_brake", params.eviction_brake);
    json_object_set_new(conf, "subset_diversity",
                        json_boolean(params.subset_diversity));
    json_object_set_new(root, "config", conf);

    nworkers = ngx_min(nworkers, NGX_HTTP_SCALE_WORKERS_MAX);

    for (i = 0; i < nworkers; i++) {
        ws = &sh->workers[i];

        w = json_object();
        if (w == NULL) {
            json_decref(root);
            json_decref(workers);
            return NULL;
        }

        ngx_http_scale_json_set(w, "slot", i);
        ngx_http_scale_json_set(w, "pid", ws->pid);
        ngx_http_scale_json_set(w, "requests", ws->requests);
        ngx_http_scale_json_set(w, "successes", ws->successes);
        ngx_http_scale_json_set(w, "failures", ws->failures);
        json_object_set_new(w, "mean_response_ms",
                            json_real(ws->requests
                                      ? (double) ws->latency_us
                                        / ws->requests / 1000.0
                                      : 0.0));
        json_array_append_new(workers, w);
    }

    json_object_set_new(root, "workers", workers);

    if (ngx_http_scale_persist_json(ctx, root) != NGX_OK) {
        json_decref(root);
        return NULL;
    }

    return root;
}
