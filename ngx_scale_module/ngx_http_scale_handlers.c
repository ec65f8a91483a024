
/*
 * The request path: POST /connect, /delete and /alive, GET /status,
 * /status/check and / (health).  The zone lock is held only to look up,
 * change and copy; answers are encoded with jansson after it is
 * released (ngx_http_scale_response.c).
 */


#include <jansson.h>

#include "ngx_http_scale_identity.h"


/* one chosen peer, copied out of the zone */
typedef struct {
    u_char                     *id;
    u_char                     *name;
    u_char                     *addr;
    size_t                      id_len;
    size_t                      name_len;
    size_t                      addr_len;
} ngx_http_scale_peer_t;


typedef ngx_int_t (*ngx_http_scale_body_pt)(ngx_http_request_t *r,
    ngx_http_scale_identity_t *ident);


static void ngx_http_scale_connect_body(ngx_http_request_t *r);
static void ngx_http_scale_delete_body(ngx_http_request_t *r);
static void ngx_http_scale_body_done(ngx_http_request_t *r,
    ngx_http_scale_body_pt handler, ngx_uint_t is_connect);
static ngx_int_t ngx_http_scale_identity(ngx_http_request_t *r,
    ngx_http_scale_identity_t *ident, ngx_int_t *answered);
static ngx_int_t ngx_http_scale_connect(ngx_http_request_t *r,
    ngx_http_scale_identity_t *ident);
static ngx_int_t ngx_http_scale_delete(ngx_http_request_t *r,
    ngx_http_scale_identity_t *ident);
static ngx_int_t ngx_http_scale_connect_answer(ngx_http_request_t *r,
    ngx_http_scale_identity_t *ident, ngx_http_scale_peer_t *peers,
    ngx_uint_t n, ngx_uint_t is_new);
static void ngx_http_scale_inherit_addr(ngx_http_scale_entry_t *e,
    ngx_http_scale_identity_t *ident);
static void ngx_http_scale_copy_peers(ngx_http_scale_entry_t **picks,
    ngx_uint_t n, ngx_http_scale_peer_t *peers);
static ngx_int_t ngx_http_scale_alive(ngx_http_request_t *r,
    ngx_http_scale_identity_t *ident);
static void ngx_http_scale_alive_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_scale_reachability(ngx_http_request_t *r,
    u_char flags);
static ngx_int_t ngx_http_scale_retry_after(ngx_http_request_t *r,
    ngx_msec_t ms);


/* names of the chosen peers: at most K_MAX * 3 strings of <= 255 bytes,
 * copied here under the lock; a worker runs one handler at a time */
static u_char  ngx_http_scale_scratch[NGX_HTTP_SCALE_SUBSET_MAX
                                      * 3 * NGX_HTTP_SCALE_NAME_MAX];


/* the body handlers run once the body is in: see *_body() below */
ngx_int_t
ngx_http_scale_connect_handler(ngx_http_request_t *r)
{
    return ngx_http_scale_read_body(r, ngx_http_scale_connect_body);
}


ngx_int_t
ngx_http_scale_delete_handler(ngx_http_request_t *r)
{
    return ngx_http_scale_read_body(r, ngx_http_scale_delete_body);
}


ngx_int_t
ngx_http_scale_alive_handler(ngx_http_request_t *r)
{
    return ngx_http_scale_read_body(r, ngx_http_scale_alive_body);
}


/* GET /status: the figures, built outside the lock (stats.c) */
ngx_int_t
ngx_http_scale_status_handler(ngx_http_request_t *r)
{
    json_t                      *doc;
    ngx_int_t                    rc;
    ngx_shm_zone_t              *shm_zone;
    ngx_http_scale_main_conf_t  *smcf;

    if (ngx_http_scale_read_only(r, &rc) != NGX_OK) {
        return rc;
    }

    smcf = ngx_http_get_module_main_conf(r, ngx_http_scale_module);
    shm_zone = smcf->shm_zone;

    doc = ngx_http_scale_stats_json(shm_zone->data, &shm_zone->shm.name);
    if (doc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_scale_send_json(r, NGX_HTTP_OK, doc);
}


/*
 * GET /status/check: walks hashset, dense array and heap and reports
 * every mismatch.  O(N) under the lock: an operator's and a test's tool,
 * never on a client's path.
 */
ngx_int_t
ngx_http_scale_check_handler(ngx_http_request_t *r)
{
    json_t                      *doc;
    ngx_int_t                    rc;
    ngx_uint_t                   errors, count, healthy;
    ngx_http_scale_zone_ctx_t   *ctx;
    ngx_http_scale_main_conf_t  *smcf;

    if (ngx_http_scale_read_only(r, &rc) != NGX_OK) {
        return rc;
    }

    smcf = ngx_http_get_module_main_conf(r, ngx_http_scale_module);
    ctx = smcf->shm_zone->data;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    errors = ngx_http_scale_registry_check(ctx->shpool, ctx->sh,
                                           r->connection->log);
    count = ctx->sh->count;
    healthy = ctx->sh->healthy;

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    doc = json_pack("{s:I,s:I,s:I,s:b}", "entries", (json_int_t) count,
                    "healthy", (json_int_t) healthy,
                    "errors", (json_int_t) errors, "ok", errors == 0);
    if (doc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_scale_send_json(r, errors ? NGX_HTTP_INTERNAL_SERVER_ERROR
                                              : NGX_HTTP_OK, doc);
}


/* GET /: the load balancer's health check of this server, no zone */
ngx_int_t
ngx_http_scale_health_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    static u_char  ok[] = "{\"status\":\"ok\"}\n";

    if (ngx_http_scale_read_only(r, &rc) != NGX_OK) {
        return rc;
    }

    return ngx_http_scale_send_text(r, NGX_HTTP_OK, "application/json", ok,
                                    sizeof(ok) - 1);
}




/* read_client_request_body() callbacks: one per route */
static void
ngx_http_scale_connect_body(ngx_http_request_t *r)
{
    ngx_http_scale_body_done(r, ngx_http_scale_connect, 1);
}


static void
ngx_http_scale_delete_body(ngx_http_request_t *r)
{
    ngx_http_scale_body_done(r, ngx_http_scale_delete, 0);
}


static void
ngx_http_scale_alive_body(ngx_http_request_t *r)
{
    ngx_http_scale_body_done(r, ngx_http_scale_alive, 0);
}


/* the body is in: parse it, run the handler, count the answer */
static void
ngx_http_scale_body_done(ngx_http_request_t *r,
    ngx_http_scale_body_pt handler, ngx_uint_t is_connect)
{
    ngx_int_t                     rc;
    ngx_http_scale_zone_ctx_t    *ctx;
    ngx_http_scale_identity_t     ident;
    ngx_http_scale_main_conf_t   *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_scale_module);
    ctx = smcf->shm_zone->data;

    ngx_http_scale_stats_begin(ctx->sh, is_connect);

    if (ngx_http_scale_identity(r, &ident, &rc) == NGX_OK) {
        rc = handler(r, &ident);
    }

    /* not answered by us (an error left to NGINX): counted as such */
    ngx_http_scale_stats_end(rc >= NGX_HTTP_SPECIAL_RESPONSE ? (ngx_uint_t) rc
                             : r->headers_out.status
                             ? r->headers_out.status
                             : NGX_HTTP_INTERNAL_SERVER_ERROR);

    ngx_http_finalize_request(r, rc);
}


/*
 * Parses the body into ident.  NGX_OK: ident is ready.  Otherwise the
 * request was answered (400, 413, 500) and *answered holds the code to
 * finalize it with.
 */
static ngx_int_t
ngx_http_scale_identity(ngx_http_request_t *r,
    ngx_http_scale_identity_t *ident, ngx_int_t *answered)
{
    u_char                       *reason;
    ngx_int_t                     rc;
    ngx_str_t                     body;
    ngx_http_scale_zone_ctx_t    *ctx;
    ngx_http_scale_main_conf_t   *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_scale_module);
    ctx = smcf->shm_zone->data;

    if (ngx_http_scale_body(r, &body, answered) != NGX_OK) {
        ngx_http_scale_count(ctx->sh, counters.rejected);
        return NGX_DECLINED;
    }

    rc = ngx_http_scale_identity_parse(r->pool, body.data, body.len, ident,
                                       &reason);
    if (rc == NGX_ERROR) {
        *answered = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    if (rc == NGX_DECLINED) {
        ngx_http_scale_count(ctx->sh, counters.rejected);
        *answered = ngx_http_scale_send_error(r, NGX_HTTP_BAD_REQUEST,
                                              (const char *) reason);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Registers or refreshes the caller and answers with up to K other
 * entries.  Under the lock: one hash lookup, the limits, one insert or
 * heap fix, K random picks copied out.  O(K), whatever the registry size.
 */
static ngx_int_t
ngx_http_scale_connect(ngx_http_request_t *r, ngx_http_scale_identity_t *ident)
{
    uint32_t                      hash;
    u_char                        flags;
    ngx_uint_t                    n, is_new, remaining, limit, cap;
    ngx_msec_t                    now, retry;
    ngx_slab_pool_t              *shpool;
    const char                   *why;
    ngx_http_scale_entry_t       *e, *moved;
    ngx_http_scale_entry_t       *picks[NGX_HTTP_SCALE_SUBSET_MAX];
    ngx_http_scale_shctx_t       *sh;
    ngx_http_scale_peer_t         peers[NGX_HTTP_SCALE_SUBSET_MAX];
    ngx_http_scale_zone_ctx_t    *ctx;
    ngx_http_scale_main_conf_t   *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_scale_module);
    ctx = smcf->shm_zone->data;
    sh = ctx->sh;
    shpool = ctx->shpool;

    hash = ngx_http_scale_registry_hash(sh, ident->id.data, ident->id.len);
    now = ngx_current_msec;
    remaining = 0;
    retry = 0;
    limit = 0;

    ngx_http_scale_count(sh, counters.connects);

    ngx_shmtx_lock(&shpool->mutex);

    e = ngx_http_scale_registry_find(shpool, sh, ident->id.data,
                                     ident->id.len, hash);

    if (e) {
        is_new = 0;

        if (ngx_http_scale_limit_refresh(sh, e, now, &retry) == NGX_BUSY) {
            ngx_shmtx_unlock(&shpool->mutex);
            limit = 1;
            why = "refresh too soon: see Retry-After";
            goto limited;
        }

        if (ident->addr.len == 0 && e->addr_len) {
            ngx_http_scale_inherit_addr(e, ident);
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
            if (moved) {
                e = moved;
                ngx_http_scale_journal_add_locked(sh,
                                                  NGX_HTTP_SCALE_OP_JOIN, e);
            }
        }

        ngx_http_scale_registry_touch(shpool, sh, e, now);
        ngx_http_scale_journal_add_locked(sh, NGX_HTTP_SCALE_OP_REFRESH, e);

    } else {
        is_new = 1;

        cap = sh->params.max_clients ? ngx_min(sh->params.max_clients,
                                               sh->capacity)
                                     : sh->capacity;
        e = NULL;

        if (sh->count < cap) {
            if (ngx_http_scale_limit_new(sh, now, &remaining, &retry)
                == NGX_BUSY)
            {
                limit = sh->params.rate / 1000;
                ngx_shmtx_unlock(&shpool->mutex);
                why = "too many new registrations: see Retry-After";
                goto limited;
            }

            e = ngx_http_scale_registry_add(shpool, sh, ident, hash, now);
        }

        if (e == NULL) {
            if (now - sh->full_logged >= 10000 || sh->full_logged == 0) {
                sh->full_logged = now;
                ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                              "scale zone \"%V\" is full with %ui clients "
                              "(capacity %ui, zone free %ui bytes): "
                              "new clients get 503",
                              &smcf->shm_zone->shm.name, sh->count, cap,
                              shpool->pfree * ngx_pagesize);
            }

            ngx_shmtx_unlock(&shpool->mutex);

            ngx_http_scale_count(sh, counters.full);

            if (ngx_http_scale_retry_after(r, 1000) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return ngx_http_scale_send_error(r,
                                             NGX_HTTP_SERVICE_UNAVAILABLE,
                                             "registry full");
        }

        ngx_http_scale_journal_add_locked(sh, NGX_HTTP_SCALE_OP_JOIN, e);

        if (sh->params.rate) {
            limit = sh->params.rate / 1000;
        }
    }

    if (sh->params.subset_diversity) {
        n = ngx_http_scale_registry_sample_diverse(shpool, sh, e,
                                                   sh->params.subset_size,
                                                   picks);
    } else {
        n = ngx_http_scale_registry_sample(shpool, sh, e,
                                           sh->params.subset_size, picks);
    }

    ngx_http_scale_copy_peers(picks, n, peers);

    flags = e->flags;

    ngx_shmtx_unlock(&shpool->mutex);

    if (ngx_http_scale_reachability(r, flags) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (is_new) {
        ngx_http_scale_count(sh, counters.registrations);

    } else {
        ngx_http_scale_count(sh, counters.refreshes);
    }

    if (limit
        && ngx_http_scale_limit_headers(r, limit, remaining, 1000) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_scale_connect_answer(r, ident, peers, n, is_new);

limited:

    ngx_http_scale_count(sh, counters.rate_limited);

    if (ngx_http_scale_limit_headers(r, limit, 0, retry) != NGX_OK
        || ngx_http_scale_retry_after(r, retry) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_scale_send_error(r, NGX_HTTP_TOO_MANY_REQUESTS, why);
}


/*
 * A refresh that names no address keeps the one the client registered
 * with (a plain "curl -d id" must not make a probed client unprobeable).
 * The lock is held: ident points into the entry until it is replaced.
 */
static void
ngx_http_scale_inherit_addr(ngx_http_scale_entry_t *e,
    ngx_http_scale_identity_t *ident)
{
    ident->addr.data = ngx_http_scale_entry_addr(e);
    ident->addr.len = e->addr_len;
    ident->probeable = (e->flags & NGX_HTTP_SCALE_PROBEABLE) ? 1 : 0;
    ident->name_addr = 0;
    ident->net = e->net;
}


/* copies the picks' strings out of the zone into the scratch buffer */
static void
ngx_http_scale_copy_peers(ngx_http_scale_entry_t **picks, ngx_uint_t n,
    ngx_http_scale_peer_t *peers)
{
    u_char                  *p;
    ngx_uint_t               i;
    ngx_http_scale_entry_t  *e;

    p = ngx_http_scale_scratch;

    for (i = 0; i < n; i++) {
        e = picks[i];

        peers[i].id = p;
        peers[i].id_len = e->id_len;
        p = ngx_cpymem(p, e->data, e->id_len);

        peers[i].name = p;
        peers[i].name_len = ngx_http_scale_entry_name_len(e);
        p = ngx_cpymem(p, ngx_http_scale_entry_name(e), peers[i].name_len);

        peers[i].addr = p;
        peers[i].addr_len = e->addr_len;
        p = ngx_cpymem(p, ngx_http_scale_entry_addr(e), e->addr_len);
    }
}


/* plain callers get names, JSON callers identity objects */
static ngx_int_t
ngx_http_scale_connect_answer(ngx_http_request_t *r,
    ngx_http_scale_identity_t *ident, ngx_http_scale_peer_t *peers,
    ngx_uint_t n, ngx_uint_t is_new)
{
    json_t      *arr, *v;
    ngx_str_t    value;
    ngx_uint_t   i;

    arr = json_array();
    if (arr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (!ident->json) {
            v = json_stringn_nocheck((char *) peers[i].name,
                                     peers[i].name_len);

        } else {
            v = json_object();

            if (v) {
                json_object_set_new_nocheck(v, "id",
                    json_stringn_nocheck((char *) peers[i].id,
                                         peers[i].id_len));
                json_object_set_new_nocheck(v, "name",
                    json_stringn_nocheck((char *) peers[i].name,
                                         peers[i].name_len));

                if (peers[i].addr_len) {
                    json_object_set_new_nocheck(v, "addr",
                        json_stringn_nocheck((char *) peers[i].addr,
                                             peers[i].addr_len));
                }
            }
        }

        if (v == NULL || json_array_append_new(arr, v) != 0) {
            json_decref(arr);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (is_new) {
        ngx_str_set(&value, "new");

    } else {
        ngx_str_set(&value, "refresh");
    }

    if (ngx_http_scale_set_header(r, "X-Scale-Registered", &value)
        != NGX_OK)
    {
        json_decref(arr);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_scale_send_json(r, NGX_HTTP_OK, arr);
}


/* POST /delete: a client leaving on purpose; 404 when unknown */
static ngx_int_t
ngx_http_scale_delete(ngx_http_request_t *r, ngx_http_scale_identity_t *ident)
{
    json_t                       *doc;
    uint32_t                      hash;
    ngx_slab_pool_t              *shpool;
    ngx_http_scale_entry_t       *e;
    ngx_http_scale_shctx_t       *sh;
    ngx_http_scale_zone_ctx_t    *ctx;
    ngx_http_scale_main_conf_t   *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_scale_module);
    ctx = smcf->shm_zone->data;
    sh = ctx->sh;
    shpool = ctx->shpool;

    hash = ngx_http_scale_registry_hash(sh, ident->id.data, ident->id.len);

    ngx_shmtx_lock(&shpool->mutex);

    e = ngx_http_scale_registry_find(shpool, sh, ident->id.data,
                                     ident->id.len, hash);
    if (e) {
        ngx_http_scale_journal_add_locked(sh, NGX_HTTP_SCALE_OP_LEAVE, e);
        ngx_http_scale_registry_remove(shpool, sh, e);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (e == NULL) {
        ngx_http_scale_count(sh, counters.not_found);
        return ngx_http_scale_send_error(r, NGX_HTTP_NOT_FOUND, "not found");
    }

    ngx_http_scale_count(sh, counters.deletes);

    doc = json_pack("{s:s%}", "deleted", (char *) ident->id.data,
                    ident->id.len);
    if (doc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_scale_send_json(r, NGX_HTTP_OK, doc);
}


/*
 * POST /alive: a heartbeat that refreshes a registered client without
 * computing a subset (Eureka's renew); 404 tells the client to register.
 */
static ngx_int_t
ngx_http_scale_alive(ngx_http_request_t *r, ngx_http_scale_identity_t *ident)
{
    uint32_t                      hash;
    ngx_int_t                     rc;
    ngx_msec_t                    now, retry;
    ngx_slab_pool_t              *shpool;
    ngx_http_scale_entry_t       *e;
    ngx_http_scale_shctx_t       *sh;
    ngx_http_scale_zone_ctx_t    *ctx;
    ngx_http_scale_main_conf_t   *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_scale_module);
    ctx = smcf->shm_zone->data;
    sh = ctx->sh;
    shpool = ctx->shpool;

    hash = ngx_http_scale_registry_hash(sh, ident->id.data, ident->id.len);
    now = ngx_current_msec;
    rc = NGX_OK;
    retry = 0;

    ngx_shmtx_lock(&shpool->mutex);

    e = ngx_http_scale_registry_find(shpool, sh, ident->id.data,
                                     ident->id.len, hash);
    if (e) {
        rc = ngx_http_scale_limit_refresh(sh, e, now, &retry);

        if (rc == NGX_OK) {
            ngx_http_scale_registry_touch(shpool, sh, e, now);
            ngx_http_scale_journal_add_locked(sh,
                                              NGX_HTTP_SCALE_OP_REFRESH, e);
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (e == NULL) {
        ngx_http_scale_count(sh, counters.not_found);
        return ngx_http_scale_send_error(r, NGX_HTTP_NOT_FOUND,
                                         "not registered: POST /connect");
    }

    if (rc == NGX_BUSY) {
        ngx_http_scale_count(sh, counters.rate_limited);

        if (ngx_http_scale_limit_headers(r, 1, 0, retry) != NGX_OK
            || ngx_http_scale_retry_after(r, retry) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_scale_send_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                         "heartbeat too soon: see "
                                         "Retry-After");
    }

    ngx_http_scale_count(sh, health.alive);

    r->headers_out.status = NGX_HTTP_NO_CONTENT;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    ngx_http_scale_stats_end(NGX_HTTP_NO_CONTENT);

    return ngx_http_send_header(r);
}


/*
 * What the server sees of the caller: its address, and whether its last
 * probe passed, so a client behind NAT learns it cannot be reached.
 */
static ngx_int_t
ngx_http_scale_reachability(ngx_http_request_t *r, u_char flags)
{
    ngx_str_t  value;

    if (ngx_http_scale_set_header(r, "X-Scale-Observed",
                                  &r->connection->addr_text)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (!(flags & NGX_HTTP_SCALE_PROBED)) {
        ngx_str_set(&value, "unknown");

    } else if (flags & NGX_HTTP_SCALE_REACHABLE) {
        ngx_str_set(&value, "yes");

    } else {
        ngx_str_set(&value, "no");
    }

    return ngx_http_scale_set_header(r, "X-Scale-Reachable", &value);
}






/* Retry-After in whole seconds, rounded up */
static ngx_int_t
ngx_http_scale_retry_after(ngx_http_request_t *r, ngx_msec_t ms)
{
    ngx_str_t  value;

    value.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (value.data == NULL) {
        return NGX_ERROR;
    }

    value.len = ngx_sprintf(value.data, "%ui", (ngx_uint_t) (ms + 999) / 1000)
                - value.data;

    return ngx_http_scale_set_header(r, "Retry-After", &value);
}






