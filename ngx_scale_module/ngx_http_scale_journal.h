
/*
 * Persistence and replication: the change journal in the zone, the
 * data-directory snapshots (ngx_http_scale_store.c) and Redis
 * (ngx_http_scale_redis.c, ngx_http_scale_hiredis.c).  The request path
 * only appends to the journal; one worker drains it.
 */


#ifndef _NGX_HTTP_SCALE_JOURNAL_H_INCLUDED_
#define _NGX_HTTP_SCALE_JOURNAL_H_INCLUDED_


#include "ngx_http_scale_registry.h"


#define NGX_HTTP_SCALE_INSTANCES_MAX   32
#define NGX_HTTP_SCALE_INSTANCE_LEN    64
#define NGX_HTTP_SCALE_ERROR_LEN       160
#define NGX_HTTP_SCALE_EPOCH_LEN       40
#define NGX_HTTP_SCALE_GONE            8192      /* deletes during a load */

/* drainer and snapshot tick, and the Redis heartbeat */
#define NGX_HTTP_SCALE_TICK            10
#define NGX_HTTP_SCALE_HEARTBEAT       1000
#define NGX_HTTP_SCALE_INSTANCE_TTL    5


/* directives' values; smcf->persist */
typedef struct {
    ngx_str_t                   data_dir;
    ngx_str_t                   file;          /* <dir>/<zone>.snapshot */
    ngx_msec_t                  snapshot_interval;

    ngx_str_t                   redis;         /* as written */
    ngx_str_t                   redis_ip;      /* null-terminated */
    ngx_int_t                   redis_port;
    ngx_int_t                   redis_db;
    ngx_str_t                   redis_password;
    ngx_str_t                   redis_prefix;
    ngx_str_t                   instance;
    size_t                      queue_size;
    ngx_msec_t                  redis_timeout;
} ngx_http_scale_persist_conf_t;


/* another instance of the service, as its last heartbeat said */
typedef struct {
    u_char                      id[NGX_HTTP_SCALE_INSTANCE_LEN];
    u_char                      addr[NGX_HTTP_SCALE_INSTANCE_LEN];
    uint64_t                    clients;
    uint64_t                    heartbeat;     /* unix ms */
    uint64_t                    started;       /* unix s */
    ngx_uint_t                  self;
} ngx_http_scale_instance_t;


/* what /status says about the data directory */
typedef struct {
    ngx_pid_t                   saving;        /* pid writing now */
    ngx_msec_t                  save_started;
    uint64_t                    saved_changes; /* j->changes at last save */
    time_t                      saved_at;
    ngx_uint_t                  saved_entries;
    size_t                      saved_bytes;
    ngx_msec_t                  save_ms;
    ngx_uint_t                  saves;
    ngx_uint_t                  save_errors;
    ngx_uint_t                  loaded;
    ngx_uint_t                  load_problems;
    ngx_msec_t                  load_ms;
} ngx_http_scale_store_status_t;


/* what /status says about Redis; written by the draining worker */
typedef struct {
    ngx_uint_t                  connected;
    ngx_uint_t                  subscribed;
    ngx_uint_t                  syncing;       /* rewrite or load running */
    uint64_t                    written;       /* entries written */
    uint64_t                    deleted;
    uint64_t                    published;     /* messages */
    uint64_t                    applied;       /* other instances' changes */
    uint64_t                    loaded;        /* entries added by a load */
    uint64_t                    resyncs;       /* full rewrites */
    uint64_t                    loads;         /* load passes */
    uint64_t                    reconnects;
    uint64_t                    errors;
    ngx_msec_t                  last_load_ms;
    ngx_uint_t                  last_load_entries;
    u_char                      last_error[NGX_HTTP_SCALE_ERROR_LEN];
    time_t                      last_error_time;
} ngx_http_scale_redis_status_t;


/*
 * Lives in the zone (sh->journal).  The ring holds records of
 * [op, id_len, id]; head counts bytes appended, sent bytes handed to
 * Redis, tail bytes Redis confirmed.  A record that does not fit is
 * counted and forces a full rewrite, so nothing waits for room.
 */
struct ngx_http_scale_journal_s {
    u_char                     *ring;
    size_t                      size;
    uint64_t                    head;
    uint64_t                    sent;
    uint64_t                    tail;
    ngx_uint_t                  records;       /* head - tail, in records */
    ngx_uint_t                  dropped;
    ngx_uint_t                  refreshes_dropped;
    ngx_uint_t                  overflow;      /* rewrite everything */
    ngx_uint_t                  enabled;       /* Redis is configured */
    ngx_uint_t                  wake;          /* the drainer was woken */
    uint64_t                    changes;       /* joins, leaves, evictions */
    ngx_uint_t                  loaded;        /* the data dir was read */

    /* ids removed while a Redis load pass runs, so that the load does
     * not bring back what was deleted after Redis answered it */
    uint64_t                   *gone;          /* open addressing, 0: free */
    ngx_uint_t                  gone_n;
    ngx_uint_t                  loading;

    ngx_pid_t                   drainer;       /* the worker draining */
    u_char                      epoch[NGX_HTTP_SCALE_EPOCH_LEN];
    u_char                      run_id[NGX_HTTP_SCALE_EPOCH_LEN + 8];
    u_char                      instance[NGX_HTTP_SCALE_INSTANCE_LEN];
    u_char                      addr[NGX_HTTP_SCALE_INSTANCE_LEN];
    time_t                      started;

    ngx_http_scale_store_status_t  store;
    ngx_http_scale_redis_status_t  redis;

    ngx_uint_t                  ninstances;
    ngx_http_scale_instance_t   instances[NGX_HTTP_SCALE_INSTANCES_MAX];
};


/* one record taken out of the ring, resolved against the registry */
typedef struct {
    ngx_uint_t                  op;
    ngx_uint_t                  exists;        /* the id is registered */
    ngx_str_t                   id;
    ngx_str_t                   name;
    ngx_str_t                   addr;
    uint32_t                    created;
    uint64_t                    seen;          /* unix ms */
} ngx_http_scale_change_t;


/* ngx_http_scale_journal.c */
uint64_t ngx_http_scale_journal_hash64(u_char *p, size_t len);
ngx_uint_t ngx_http_scale_journal_gone_locked(ngx_http_scale_journal_t *j,
    uint64_t h);
ngx_http_scale_persist_conf_t *ngx_http_scale_persist_conf(ngx_conf_t *cf,
    ngx_http_scale_main_conf_t *smcf);
ngx_uint_t ngx_http_scale_journal_take_locked(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_pool_t *pool,
    ngx_http_scale_change_t *out, ngx_uint_t max, size_t bytes_max);
void ngx_http_scale_journal_ack(ngx_slab_pool_t *shpool,
    ngx_http_scale_journal_t *j, uint64_t upto);
uint64_t ngx_http_scale_journal_seen(ngx_http_scale_entry_t *e);
ngx_int_t ngx_http_scale_journal_ident(ngx_pool_t *pool, ngx_str_t *id,
    ngx_str_t *name, ngx_str_t *addr, ngx_http_scale_identity_t *ident);
ngx_int_t ngx_http_scale_journal_apply_locked(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_http_scale_identity_t *ident,
    uint32_t created, ngx_uint_t replace);
ngx_int_t ngx_http_scale_journal_remove_locked(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_str_t *id);
void ngx_http_scale_journal_touch_locked(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_str_t *id);
void ngx_http_scale_journal_error(ngx_slab_pool_t *shpool,
    ngx_http_scale_journal_t *j, u_char *text, size_t len);

/* ngx_http_scale_store.c */
ngx_int_t ngx_http_scale_store_init_module(ngx_cycle_t *cycle,
    ngx_http_scale_main_conf_t *smcf, ngx_uint_t fresh);
void ngx_http_scale_store_tick(ngx_http_scale_main_conf_t *smcf,
    ngx_log_t *log);
void ngx_http_scale_store_exit_process(void);
void ngx_http_scale_store_exit_master(ngx_cycle_t *cycle,
    ngx_http_scale_main_conf_t *smcf);

/* ngx_http_scale_redis.c */
void ngx_http_scale_redis_wake(void);
ngx_int_t ngx_http_scale_redis_init_module(ngx_cycle_t *cycle,
    ngx_http_scale_main_conf_t *smcf);
ngx_int_t ngx_http_scale_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_scale_main_conf_t *smcf);
void ngx_http_scale_redis_tick(ngx_http_scale_main_conf_t *smcf);
void ngx_http_scale_redis_exit_process(void);
void ngx_http_scale_redis_exit_master(ngx_cycle_t *cycle,
    ngx_http_scale_main_conf_t *smcf);


#endif /* _NGX_HTTP_SCALE_JOURNAL_H_INCLUDED_ */
