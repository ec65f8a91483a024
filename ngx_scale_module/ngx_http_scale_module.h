
/*
 * ngx_scale: a bootstrap and service-discovery server for peer-to-peer
 * systems, as an NGINX HTTP module.  Types shared by the module's files.
 */


#ifndef _NGX_HTTP_SCALE_MODULE_H_INCLUDED_
#define _NGX_HTTP_SCALE_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_HTTP_SCALE_NAME_MAX      255
#define NGX_HTTP_SCALE_SUBSET_MAX    100
#define NGX_HTTP_SCALE_WORKERS_MAX   64
#define NGX_HTTP_SCALE_LATENCY_BUCKETS  18

/* a zone kept across a reload must have been laid out by this build */
#define NGX_HTTP_SCALE_LAYOUT                                                 \
    (sizeof(ngx_http_scale_shctx_t) * 1000                                    \
     + offsetof(ngx_http_scale_entry_t, data) + 1)


/* figures that may change at run time: copied into the zone at start-up
 * and on every reload, read by all workers under the zone lock */
typedef struct {
    ngx_uint_t                  subset_size;
    ngx_uint_t                  max_clients;
    ngx_msec_t                  refresh_min;
    ngx_uint_t                  rate;          /* requests/s * 1000 */
    ngx_uint_t                  burst;         /* requests * 1000 */
    ngx_msec_t                  min_age;
    ngx_msec_t                  max_age;
    ngx_msec_t                  health_timeout;
    ngx_msec_t                  health_interval;
    ngx_msec_t                  cleanup_interval;
    ngx_uint_t                  health_fails;
    ngx_uint_t                  health_passes;
    ngx_uint_t                  health_concurrency;
    ngx_uint_t                  eviction_brake;  /* percent */
    ngx_flag_t                  subset_diversity;
} ngx_http_scale_params_t;


typedef struct {
    ngx_atomic_t                connects;
    ngx_atomic_t                registrations;
    ngx_atomic_t                refreshes;
    ngx_atomic_t                deletes;
    ngx_atomic_t                not_found;
    ngx_atomic_t                rejected;
    ngx_atomic_t                rate_limited;
    ngx_atomic_t                full;
    ngx_atomic_t                latency[NGX_HTTP_SCALE_LATENCY_BUCKETS];
    ngx_atomic_t                latency_sum_us;
    ngx_atomic_t                latency_count;
} ngx_http_scale_counters_t;


/*
 * One registered client.  Entries are allocated from the slab pool; the
 * hash chain, the dense array and the heap refer to them by their offset
 * from the start of the zone, so that 32 bits are enough.
 */
typedef struct {
    uint32_t                    next;          /* hash chain */
    uint32_t                    hash;
    uint32_t                    dense;         /* index in sh->dense */
    uint32_t                    heap;          /* index in sh->heap */
    uint32_t                    due;           /* heap key, msec mod 2^32 */
    uint32_t                    refreshed;     /* last refresh, likewise */
    ngx_msec_t                  last_seen;     /* refresh or passed probe */
    uint32_t                    created;       /* unix time */
    uint32_t                    net;           /* /24 or /48 of the addr */
    u_char                      id_len;
    u_char                      name_len;      /* 0: the name is the id */
    u_char                      addr_len;
    u_char                      flags;
    u_char                      fails;         /* consecutive */
    u_char                      passes;        /* consecutive */
    u_char                      data[1];       /* id, name, addr */
} ngx_http_scale_entry_t;


#define NGX_HTTP_SCALE_UNHEALTHY   0x01   /* not handed out */
#define NGX_HTTP_SCALE_PROBED      0x02   /* a probe has finished */
#define NGX_HTTP_SCALE_REACHABLE   0x04   /* the last probe passed */
#define NGX_HTTP_SCALE_PROBEABLE   0x08   /* the address is an IP:port */
#define NGX_HTTP_SCALE_NAME_ADDR   0x10   /* the name is the address */


/*
 * 32-bit times: compared by their signed difference, which is right while
 * they are less than 24 days apart (scale_max_age is bounded below that)
 */
#define ngx_http_scale_msec32_diff(a, b)                                      \
    ((int32_t) ((uint32_t) (a) - (uint32_t) (b)))


#define ngx_http_scale_entry_name(e)                                          \
    ((e)->name_len ? (e)->data + (e)->id_len : (e)->data)
#define ngx_http_scale_entry_name_len(e)                                      \
    ((e)->name_len ? (e)->name_len : (e)->id_len)
#define ngx_http_scale_entry_addr(e)                                          \
    ((e)->data + (e)->id_len + (e)->name_len)

/* the address a probe goes to: the given addr, else an IP:port name */
#define ngx_http_scale_entry_probe_addr(e)                                    \
    (((e)->flags & NGX_HTTP_SCALE_NAME_ADDR) ? ngx_http_scale_entry_name(e) \
                                             : ngx_http_scale_entry_addr(e))
#define ngx_http_scale_entry_probe_addr_len(e)                                \
    (((e)->flags & NGX_HTTP_SCALE_NAME_ADDR)                                  \
     ? ngx_http_scale_entry_name_len(e) : (e)->addr_len)


/* the zone's root object, stored in shpool->data */
/* probe and eviction figures, shared by all workers */
typedef struct {
    ngx_atomic_t                started;
    ngx_atomic_t                passed;
    ngx_atomic_t                failed;
    ngx_atomic_t                timed_out;
    ngx_atomic_t                in_flight;
    ngx_atomic_t                skipped;       /* no IP:port to probe */
    ngx_atomic_t                evicted_age;
    ngx_atomic_t                evicted_failure;
    ngx_atomic_t                alive;         /* POST /alive heartbeats */
} ngx_http_scale_health_stats_t;


/*
 * The figures of one worker process, indexed by ngx_worker: every counter
 * is kept per worker, on cache lines of its own, so that two workers
 * never bounce a line between them on the request path; /status sums.
 */
typedef struct {
    ngx_atomic_t                pid;
    ngx_atomic_t                requests;
    ngx_atomic_t                successes;
    ngx_atomic_t                failures;
    ngx_atomic_t                latency_us;    /* sum over requests */
    ngx_http_scale_counters_t   counters;
    ngx_http_scale_health_stats_t  health;
} __attribute__((aligned(64))) ngx_http_scale_worker_stats_t;


/* this process's figures */
#define ngx_http_scale_stat(sh)                                               \
    (&(sh)->workers[ngx_worker % NGX_HTTP_SCALE_WORKERS_MAX])

#define ngx_http_scale_count(sh, field)                                       \
    (void) ngx_atomic_fetch_add(&ngx_http_scale_stat(sh)->field, 1)


typedef struct {
    uint32_t                   *buckets;       /* nbuckets entry offsets */
    uint32_t                   *dense;         /* capacity entry offsets */
    uint32_t                   *heap;          /* capacity entry offsets */
    ngx_uint_t                  nbuckets;      /* a power of two */
    ngx_uint_t                  capacity;
    ngx_uint_t                  count;
    ngx_uint_t                  healthy;       /* dense[0 .. healthy) */
    ngx_uint_t                  layout;        /* build compatibility */
    uint32_t                    hash_seed;
    size_t                      entry_bytes;   /* slab bytes held by entries */
    size_t                      array_bytes;

    time_t                      start_time;
    ngx_msec_t                  rate_last;
    ngx_uint_t                  rate_excess;   /* requests * 1000 */
    ngx_msec_t                  full_logged;
    ngx_uint_t                  nworkers;

    ngx_msec_t                  brake_window;  /* start of the window */
    ngx_uint_t                  brake_probes;  /* this window and last */
    ngx_uint_t                  brake_fails;
    ngx_uint_t                  brake_probes_prev;
    ngx_uint_t                  brake_fails_prev;
    ngx_uint_t                  brake_on;

    ngx_http_scale_params_t     params;
    ngx_http_scale_worker_stats_t  workers[NGX_HTTP_SCALE_WORKERS_MAX];
    struct ngx_http_scale_journal_s  *journal;  /* data dir, Redis */
} ngx_http_scale_shctx_t;


typedef struct {
    ngx_http_scale_shctx_t     *sh;
    ngx_slab_pool_t            *shpool;
    size_t                      size;
    ngx_uint_t                  fresh;         /* made by this cycle */
} ngx_http_scale_zone_ctx_t;


typedef struct {
    ngx_shm_zone_t             *shm_zone;
    ngx_http_scale_params_t     params;
    size_t                      body_max;
    ngx_str_t                   health_uri;
    ngx_uint_t                  handlers;      /* locations using the zone */
    void                       *persist;       /* scale_data_dir, _redis */
} ngx_http_scale_main_conf_t;


extern ngx_module_t  ngx_http_scale_module;


ngx_int_t ngx_http_scale_connect_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_scale_delete_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_scale_status_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_scale_health_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_scale_alive_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_scale_check_handler(ngx_http_request_t *r);

/* ngx_http_scale_health.c */
ngx_int_t ngx_http_scale_health_init_process(ngx_cycle_t *cycle,
    ngx_http_scale_main_conf_t *smcf);
void ngx_http_scale_health_exit_process(ngx_cycle_t *cycle);

/* ngx_http_scale_response.c */
ngx_int_t ngx_http_scale_read_only(ngx_http_request_t *r,
    ngx_int_t *answered);
ngx_int_t ngx_http_scale_read_body(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt post);
ngx_int_t ngx_http_scale_body(ngx_http_request_t *r, ngx_str_t *body,
    ngx_int_t *answered);
ngx_int_t ngx_http_scale_set_header(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);
ngx_int_t ngx_http_scale_not_allowed(ngx_http_request_t *r,
    const char *allow);
ngx_int_t ngx_http_scale_send_json(ngx_http_request_t *r, ngx_uint_t status,
    void *json);
ngx_int_t ngx_http_scale_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *reason);
ngx_int_t ngx_http_scale_send_text(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, u_char *data, size_t len);

/* ngx_http_scale_limit.c */
ngx_int_t ngx_http_scale_limit_refresh(ngx_http_scale_shctx_t *sh,
    ngx_http_scale_entry_t *e, ngx_msec_t now, ngx_msec_t *retry);
ngx_int_t ngx_http_scale_limit_new(ngx_http_scale_shctx_t *sh,
    ngx_msec_t now, ngx_uint_t *remaining, ngx_msec_t *retry);
ngx_int_t ngx_http_scale_limit_headers(ngx_http_request_t *r,
    ngx_uint_t limit, ngx_uint_t remaining, ngx_msec_t reset);

/* ngx_http_scale_stats.c */
void ngx_http_scale_stats_request(ngx_http_scale_shctx_t *sh,
    ngx_uint_t status, uint64_t usec, ngx_uint_t is_connect);
uint64_t ngx_http_scale_stats_usec(void);
void ngx_http_scale_stats_begin(ngx_http_scale_shctx_t *sh,
    ngx_uint_t is_connect);
void ngx_http_scale_stats_end(ngx_uint_t status);
void *ngx_http_scale_stats_json(ngx_http_scale_zone_ctx_t *ctx,
    ngx_str_t *zone_name);

/* the dashboard: ngx_http_scale_{page,config,clients,metrics,admin}.c */
ngx_int_t ngx_http_scale_page_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_scale_config_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_scale_clients_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_scale_metrics_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_scale_admin_allowed(ngx_http_request_t *r);
ngx_int_t ngx_http_scale_admin_refuse(ngx_http_request_t *r);
ngx_str_t *ngx_http_scale_admin_manager_uri(ngx_http_request_t *r);
const char *ngx_http_scale_admin_mode(ngx_http_request_t *r);

/* ngx_http_scale_{journal,store,redis}.c: data dir and Redis */
#define NGX_HTTP_SCALE_OP_JOIN     1      /* new, or new name/address */
#define NGX_HTTP_SCALE_OP_REFRESH  2
#define NGX_HTTP_SCALE_OP_LEAVE    3      /* POST /delete */
#define NGX_HTTP_SCALE_OP_EVICT    4      /* health eviction */

#define NGX_HTTP_SCALE_JOURNALED   0x80   /* a refresh is queued */

typedef struct ngx_http_scale_journal_s  ngx_http_scale_journal_t;

void ngx_http_scale_journal_add_locked(ngx_http_scale_shctx_t *sh,
    ngx_uint_t op, ngx_http_scale_entry_t *e);
ngx_int_t ngx_http_scale_persist_init_module(ngx_cycle_t *cycle,
    ngx_http_scale_main_conf_t *smcf);
ngx_int_t ngx_http_scale_persist_init_process(ngx_cycle_t *cycle,
    ngx_http_scale_main_conf_t *smcf);
void ngx_http_scale_persist_exit_process(ngx_cycle_t *cycle);
void ngx_http_scale_persist_exit_master(ngx_cycle_t *cycle);
ngx_int_t ngx_http_scale_persist_json(ngx_http_scale_zone_ctx_t *ctx,
    void *root);
char *ngx_http_scale_data_dir(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_scale_snapshot_interval(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_scale_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);


#endif /* _NGX_HTTP_SCALE_MODULE_H_INCLUDED_ */
