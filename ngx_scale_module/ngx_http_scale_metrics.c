
/*
 * GET /metrics: the figures of /status in the Prometheus text format
 * 0.0.4.  The document is the one ngx_http_scale_stats_json() builds
 * (one short lock, then no lock at all), so JSON, page and metrics can
 * never disagree; a counter /status gains later appears here on its own
 * as ngx_scale_<name>_total.  Labels: the worker slot, nothing else, so
 * the number of series does not grow with the clients.
 */


#include <jansson.h>

#include "ngx_http_scale_module.h"


typedef struct {
    u_char                     *start;
    u_char                     *pos;
    u_char                     *end;
    ngx_pool_t                 *pool;
    ngx_uint_t                  failed;
} ngx_http_scale_metrics_buf_t;


/* a /status key and the metric it becomes */
typedef struct {
    const char                 *key;
    const char                 *name;
    const char                 *help;
} ngx_http_scale_metric_t;


/* a key of the health object: its type, and a label for a family */
typedef struct {
    const char                 *key;
    const char                 *name;
    const char                 *type;
    const char                 *label;
    const char                 *help;
} ngx_http_scale_health_metric_t;


static void ngx_http_scale_metrics_gauges(ngx_http_scale_metrics_buf_t *b,
    json_t *obj, ngx_http_scale_metric_t *m);
static void ngx_http_scale_metrics_counters(ngx_http_scale_metrics_buf_t *b,
    json_t *obj);
static void ngx_http_scale_metrics_health(ngx_http_scale_metrics_buf_t *b,
    json_t *health);
static void ngx_http_scale_metrics_latency(ngx_http_scale_metrics_buf_t *b,
    json_t *lat);
static void ngx_http_scale_metrics_workers(ngx_http_scale_metrics_buf_t *b,
    ngx_http_scale_shctx_t *sh);
static void ngx_http_scale_metrics_head(ngx_http_scale_metrics_buf_t *b,
    const char *name, const char *type, const char *help);
static void ngx_http_scale_metrics_printf(ngx_http_scale_metrics_buf_t *b,
    const char *fmt, ...);
static ngx_uint_t ngx_http_scale_metrics_name_ok(const char *key);


static ngx_http_scale_metric_t  ngx_http_scale_metrics_root[] = {
    { "clients", "ngx_scale_clients", "Registered clients." },
    { "capacity", "ngx_scale_clients_capacity",
      "Clients the zone (or scale_max_clients) admits." },
    { "uptime", "ngx_scale_uptime_seconds",
      "Seconds since the zone was created." },
    { NULL, NULL, NULL }
};


static ngx_http_scale_metric_t  ngx_http_scale_metrics_zone[] = {
    { "size", "ngx_scale_zone_size_bytes", "Size of the shared zone." },
    { "used", "ngx_scale_zone_used_bytes", "Bytes of the zone in use." },
    { "free", "ngx_scale_zone_free_bytes", "Free bytes of the zone." },
    { "entry_bytes", "ngx_scale_zone_entry_bytes",
      "Bytes of the zone held by client entries." },
    { "array_bytes", "ngx_scale_zone_array_bytes",
      "Bytes of the zone held by the index arrays." },
    { NULL, NULL, NULL }
};


static ngx_http_scale_metric_t  ngx_http_scale_metrics_counts[] = {
    { "connects", "ngx_scale_connect_requests_total",
      "POST /connect requests." },
    { "registrations", "ngx_scale_registrations_total",
      "New clients registered." },
    { "refreshes", "ngx_scale_refreshes_total",
      "Registered clients refreshed by /connect." },
    { "deletes", "ngx_scale_deletes_total", "Clients deleted." },
    { "not_found", "ngx_scale_delete_not_found_total",
      "Deletes of unknown clients." },
    { "rejected", "ngx_scale_rejected_requests_total",
      "Requests refused as invalid (400, 413)." },
    { "rate_limited", "ngx_scale_rate_limited_total",
      "Requests refused by a rate limit (429)." },
    { "full", "ngx_scale_registry_full_total",
      "New clients refused because the registry was full (503)." },
    { NULL, NULL, NULL }
};


/* series of one family are adjacent: one HELP and TYPE for both reasons */
static ngx_http_scale_health_metric_t  ngx_http_scale_health_keys[] = {
    { "healthy", "ngx_scale_clients_healthy", "gauge", NULL,
      "Clients handed out in subsets." },
    { "unhealthy", "ngx_scale_clients_unhealthy", "gauge", NULL,
      "Clients that failed their probes and are not handed out." },
    { "probes_started", "ngx_scale_probes_started_total", "counter", NULL,
      "Health probes started." },
    { "probes_passed", "ngx_scale_probes_passed_total", "counter", NULL,
      "Health probes answered 2xx in time." },
    { "probes_failed", "ngx_scale_probes_failed_total", "counter", NULL,
      "Health probes that failed (refused, not 2xx)." },
    { "probes_timed_out", "ngx_scale_probes_timed_out_total", "counter",
      NULL, "Health probes that timed out." },
    { "probes_in_flight", "ngx_scale_probes_in_flight", "gauge", NULL,
      "Health probes under way." },
    { "evicted_age", "ngx_scale_evictions_total", "counter",
      "reason=\"age\"", "Clients evicted, by reason." },
    { "evicted_failure", "ngx_scale_evictions_total", "counter",
      "reason=\"failure\"", "Clients evicted, by reason." },
    { "alive", "ngx_scale_alive_requests_total", "counter", NULL,
      "POST /alive heartbeats." },
    { "brake", "ngx_scale_eviction_brake_engaged", "gauge", NULL,
      "1 while the eviction brake holds evictions by failure." },
    { NULL, NULL, NULL, NULL, NULL }
};


/* GET/HEAD; the figures are taken once, then only formatted */
ngx_int_t
ngx_http_scale_metrics_handler(ngx_http_request_t *r)
{
    json_t                        *doc, *v;
    ngx_int_t                      rc;
    const char                    *key;
    ngx_shm_zone_t                *shm_zone;
    ngx_http_scale_zone_ctx_t     *ctx;
    ngx_http_scale_main_conf_t    *smcf;
    ngx_http_scale_metrics_buf_t   b;

    if (ngx_http_scale_read_only(r, &rc) != NGX_OK) {
        return rc;
    }

    smcf = ngx_http_get_module_main_conf(r, ngx_http_scale_module);
    shm_zone = smcf->shm_zone;
    ctx = shm_zone->data;

    doc = ngx_http_scale_stats_json(ctx, &shm_zone->shm.name);
    if (doc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b.pool = r->pool;
    b.failed = 0;
    b.start = ngx_pnalloc(r->pool, 8192);
    b.pos = b.start;
    b.end = b.start ? b.start + 8192 : NULL;

    if (b.start == NULL) {
        json_decref(doc);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_scale_metrics_gauges(&b, doc, ngx_http_scale_metrics_root);

    /* figures /status gains later (health, cluster) become gauges */
    json_object_foreach(doc, key, v) {
        if (json_is_integer(v)
            && ngx_strcmp(key, "heap_size") != 0
            && ngx_strcmp(key, "clients") != 0
            && ngx_strcmp(key, "capacity") != 0
            && ngx_strcmp(key, "uptime") != 0
            && ngx_http_scale_metrics_name_ok(key))
        {
            ngx_http_scale_metrics_printf(&b,
                "# HELP ngx_scale_%s The \"%s\" figure of /status.\n"
                "# TYPE ngx_scale_%s gauge\nngx_scale_%s %L\n",
                key, key, key, key, (int64_t) json_integer_value(v));
        }
    }

    ngx_http_scale_metrics_gauges(&b, json_object_get(doc, "zone"),
                                  ngx_http_scale_metrics_zone);
    ngx_http_scale_metrics_counters(&b, json_object_get(doc, "counters"));
    ngx_http_scale_metrics_health(&b, json_object_get(doc, "health"));
    ngx_http_scale_metrics_latency(&b, json_object_get(doc,
                                                      "connect_latency"));
    ngx_http_scale_metrics_workers(&b, ctx->sh);

    json_decref(doc);

    if (b.failed) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_scale_send_text(r, NGX_HTTP_OK,
                                    "text/plain; version=0.0.4; "
                                    "charset=utf-8",
                                    b.start, b.pos - b.start);
}


/* snapshots (clients, zone bytes): gauges under their own names */
static void
ngx_http_scale_metrics_gauges(ngx_http_scale_metrics_buf_t *b, json_t *obj,
    ngx_http_scale_metric_t *m)
{
    json_t  *v;

    for ( /* void */ ; m->key; m++) {
        v = json_object_get(obj, m->key);

        if (!json_is_integer(v)) {
            continue;
        }

        ngx_http_scale_metrics_head(b, m->name, "gauge", m->help);
        ngx_http_scale_metrics_printf(b, "%s %L\n", m->name,
                                      (int64_t) json_integer_value(v));
    }
}


/* the known counters by their own names, any other one by its key */
static void
ngx_http_scale_metrics_counters(ngx_http_scale_metrics_buf_t *b,
    json_t *obj)
{
    json_t                   *v;
    const char               *key;
    ngx_http_scale_metric_t  *m;

    json_object_foreach(obj, key, v) {

        if (!json_is_integer(v) || !ngx_http_scale_metrics_name_ok(key)) {
            continue;
        }

        for (m = ngx_http_scale_metrics_counts; m->key; m++) {
            if (ngx_strcmp(m->key, key) == 0) {
                break;
            }
        }

        if (m->key) {
            ngx_http_scale_metrics_head(b, m->name, "counter", m->help);
            ngx_http_scale_metrics_printf(b, "%s %L\n", m->name,
                                          (int64_t) json_integer_value(v));
            continue;
        }

        ngx_http_scale_metrics_printf(b,
            "# HELP ngx_scale_%s_total The \"%s\" counter of /status.\n"
            "# TYPE ngx_scale_%s_total counter\nngx_scale_%s_total %L\n",
            key, key, key, key, (int64_t) json_integer_value(v));
    }
}


/* probes, evictions and the brake; an unknown key is left out */
static void
ngx_http_scale_metrics_health(ngx_http_scale_metrics_buf_t *b,
    json_t *health)
{
    json_t                          *v;
    int64_t                          n;
    const char                      *last;
    ngx_http_scale_health_metric_t  *m;

    if (!json_is_object(health)) {
        return;
    }

    last = NULL;

    for (m = ngx_http_scale_health_keys; m->key; m++) {
        v = json_object_get(health, m->key);

        if (json_is_integer(v)) {
            n = json_integer_value(v);

        } else if (json_is_boolean(v)) {
            n = json_is_true(v);

        } else {
            continue;
        }

        if (last == NULL || ngx_strcmp(last, m->name) != 0) {
            ngx_http_scale_metrics_head(b, m->name, m->type, m->help);
            last = m->name;
        }

        if (m->label) {
            ngx_http_scale_metrics_printf(b, "%s{%s} %L\n", m->name,
                                          m->label, n);

        } else {
            ngx_http_scale_metrics_printf(b, "%s %L\n", m->name, n);
        }
    }
}


/* the /connect buckets are per range; Prometheus wants them cumulative */
static void
ngx_http_scale_metrics_latency(ngx_http_scale_metrics_buf_t *b,
    json_t *lat)
{
    json_t      *le, *counts, *v;
    size_t       i, n;
    uint64_t     total;
    json_int_t   us;

    le = json_object_get(lat, "le_us");
    counts = json_object_get(lat, "counts");

    if (!json_is_array(le) || !json_is_array(counts)) {
        return;
    }

    ngx_http_scale_metrics_head(b, "ngx_scale_connect_duration_seconds",
                                "histogram",
                                "Time to answer POST /connect.");

    n = ngx_min(json_array_size(le), json_array_size(counts));
    total = 0;

    for (i = 0; i < n; i++) {
        total += (uint64_t) json_integer_value(json_array_get(counts, i));
        v = json_array_get(le, i);

        if (!json_is_integer(v)) {
            continue;
        }

        us = json_integer_value(v);

        ngx_http_scale_metrics_printf(b,
            "ngx_scale_connect_duration_seconds_bucket{le=\"%uL.%06uL\"} "
            "%uL\n", (uint64_t) us / 1000000, (uint64_t) us % 1000000,
            total);
    }

    us = json_integer_value(json_object_get(lat, "sum_us"));

    ngx_http_scale_metrics_printf(b,
        "ngx_scale_connect_duration_seconds_bucket{le=\"+Inf\"} %uL\n"
        "ngx_scale_connect_duration_seconds_sum %uL.%06uL\n"
        "ngx_scale_connect_duration_seconds_count %uL\n",
        total, (uint64_t) us / 1000000, (uint64_t) us % 1000000, total);
}


/* read straight from the zone: /status has no per-worker time sum */
static void
ngx_http_scale_metrics_workers(ngx_http_scale_metrics_buf_t *b,
    ngx_http_scale_shctx_t *sh)
{
    ngx_uint_t                      i, n, k;
    ngx_atomic_uint_t               v;
    ngx_http_scale_worker_stats_t  *w;

    static const char  *names[] = {
        "ngx_scale_worker_requests_total",
        "ngx_scale_worker_successes_total",
        "ngx_scale_worker_failures_total",
        "ngx_scale_worker_response_seconds_total"
    };

    static const char  *helps[] = {
        "Requests answered by the worker in this slot.",
        "Requests the worker answered below 400.",
        "Requests the worker answered with 400 or above.",
        "Time the worker spent answering requests."
    };

    n = ngx_min(sh->nworkers, NGX_HTTP_SCALE_WORKERS_MAX);

    for (k = 0; k < 4; k++) {
        ngx_http_scale_metrics_head(b, names[k], "counter", helps[k]);

        for (i = 0; i < n; i++) {
            w = &sh->workers[i];

            switch (k) {
            case 0:
                v = w->requests;
                break;
            case 1:
                v = w->successes;
                break;
            case 2:
                v = w->failures;
                break;
            default:
                v = w->latency_us;
                ngx_http_scale_metrics_printf(b,
                    "%s{slot=\"%ui\"} %uA.%06uA\n", names[k], i,
                    v / 1000000, v % 1000000);
                continue;
            }

            ngx_http_scale_metrics_printf(b, "%s{slot=\"%ui\"} %uA\n",
                                          names[k], i, v);
        }
    }
}


/* every family gets HELP and TYPE, as promtool wants */
static void
ngx_http_scale_metrics_head(ngx_http_scale_metrics_buf_t *b,
    const char *name, const char *type, const char *help)
{
    ngx_http_scale_metrics_printf(b, "# HELP %s %s\n# TYPE %s %s\n",
                                  name, help, name, type);
}


/* appends to the buffer, doubling it in request memory when full */
static void
ngx_http_scale_metrics_printf(ngx_http_scale_metrics_buf_t *b,
    const char *fmt, ...)
{
    u_char   *p, *last;
    size_t    size;
    va_list   args;

    for ( ;; ) {
        if (b->failed) {
            return;
        }

        va_start(args, fmt);
        last = ngx_vslprintf(b->pos, b->end, fmt, args);
        va_end(args);

        if (last < b->end) {
            b->pos = last;
            return;
        }

        size = 2 * (b->end - b->start);

        p = ngx_pnalloc(b->pool, size);
        if (p == NULL) {
            b->failed = 1;
            return;
        }

        b->pos = ngx_cpymem(p, b->start, b->pos - b->start);
        b->start = p;
        b->end = p + size;
    }
}


/* keys become metric names: [a-z0-9_] only */
static ngx_uint_t
ngx_http_scale_metrics_name_ok(const char *key)
{
    for ( /* void */ ; *key; key++) {
        if (!((*key >= 'a' && *key <= 'z') || (*key >= '0' && *key <= '9')
              || *key == '_'))
        {
            return 0;
        }
    }

    return 1;
}
