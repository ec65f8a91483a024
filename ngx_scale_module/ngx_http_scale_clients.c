
/*
 * GET /status/clients?offset=&limit=&q=: one page of the registry for
 * the dashboard.  The dense array is walked from offset under the zone
 * lock; at most limit entries are copied out, and a search looks at no
 * more than NGX_HTTP_SCALE_CLIENTS_SCAN entries per request, so a large
 * registry never holds the lock long.  The answer says where it stopped
 * ("scanned", "next_offset"): the caller asks again from there.
 *
 * Offsets are positions in the dense array, which a delete reorders
 * (swap-remove): paging is a live view, not a snapshot.
 */


#include <jansson.h>

#include "ngx_http_scale_registry.h"


#define NGX_HTTP_SCALE_CLIENTS_LIMIT    20
#define NGX_HTTP_SCALE_CLIENTS_MAX      100
#define NGX_HTTP_SCALE_CLIENTS_SCAN     10000


/* one entry copied out of the zone */
typedef struct {
    u_char                     *id;
    u_char                     *name;
    u_char                     *addr;
    size_t                      id_len;
    size_t                      name_len;
    size_t                      addr_len;
    ngx_msec_t                  last_seen;
    ngx_msec_t                  due;
    uint32_t                    created;
    ngx_uint_t                  flags;
    ngx_uint_t                  fails;
} ngx_http_scale_client_t;


typedef struct {
    ngx_uint_t                  offset;
    ngx_uint_t                  limit;
    ngx_str_t                   q;         /* lower case */
    ngx_uint_t                  total;
    ngx_uint_t                  scanned;
    ngx_uint_t                  next;      /* total: none */
    ngx_uint_t                  n;
    ngx_http_scale_client_t    *clients;
    const char                 *field;     /* the bad argument */
    const char                 *reason;
} ngx_http_scale_clients_page_t;


static ngx_int_t ngx_http_scale_clients_args(ngx_http_request_t *r,
    ngx_http_scale_clients_page_t *pg);
static ngx_int_t ngx_http_scale_clients_number(ngx_http_request_t *r,
    ngx_http_scale_clients_page_t *pg, const char *name, ngx_uint_t min,
    ngx_uint_t max, ngx_uint_t *value);
static ngx_uint_t ngx_http_scale_clients_match(ngx_http_scale_entry_t *e,
    ngx_str_t *q);
static ngx_uint_t ngx_http_scale_clients_has(u_char *s, size_t len,
    ngx_str_t *q);
static void ngx_http_scale_clients_copy(ngx_http_scale_entry_t *e,
    ngx_http_scale_client_t *c, u_char **p);
static const char *ngx_http_scale_clients_health(
    ngx_http_scale_client_t *c);
static json_t *ngx_http_scale_clients_json(ngx_http_scale_clients_page_t *pg);


/* the only lock is the walk itself; JSON is built after it */
ngx_int_t
ngx_http_scale_clients_handler(ngx_http_request_t *r)
{
    u_char                         *buf;
    json_t                         *doc;
    ngx_int_t                       rc;
    ngx_uint_t                      i, budget;
    ngx_slab_pool_t                *shpool;
    ngx_http_scale_entry_t         *e;
    ngx_http_scale_shctx_t         *sh;
    ngx_http_scale_zone_ctx_t      *ctx;
    ngx_http_scale_main_conf_t     *smcf;
    ngx_http_scale_clients_page_t   pg;

    if (ngx_http_scale_read_only(r, &rc) != NGX_OK) {
        return rc;
    }

    rc = ngx_http_scale_clients_args(r, &pg);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        doc = json_pack("{s:s,s:s}", "error", pg.reason, "field", pg.field);
        if (doc == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_scale_send_json(r, NGX_HTTP_BAD_REQUEST, doc);
    }

    /* room for the worst case, taken before the lock */
    pg.clients = ngx_palloc(r->pool,
                            pg.limit * sizeof(ngx_http_scale_client_t));
    buf = ngx_pnalloc(r->pool, pg.limit * 3 * NGX_HTTP_SCALE_NAME_MAX);
    if (pg.clients == NULL || buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    smcf = ngx_http_get_module_main_conf(r, ngx_http_scale_module);
    ctx = smcf->shm_zone->data;
    sh = ctx->sh;
    shpool = ctx->shpool;

    budget = pg.q.len ? NGX_HTTP_SCALE_CLIENTS_SCAN : pg.limit;
    pg.n = 0;

    ngx_shmtx_lock(&shpool->mutex);

    pg.total = sh->count;

    for (i = pg.offset; i < sh->count && pg.n < pg.limit && budget; i++) {
        e = ngx_http_scale_ptr(shpool, sh->dense[i]);
        budget--;

        if (pg.q.len == 0 || ngx_http_scale_clients_match(e, &pg.q)) {
            ngx_http_scale_clients_copy(e, &pg.clients[pg.n++], &buf);
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    pg.scanned = i > pg.offset ? i - pg.offset : 0;
    pg.next = i;

    doc = ngx_http_scale_clients_json(&pg);
    if (doc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_scale_send_json(r, NGX_HTTP_OK, doc);
}


/*
 * offset (default 0), limit (1..100, default 20), q (a substring).
 * NGX_DECLINED names the bad argument in pg->field and pg->reason.
 */
static ngx_int_t
ngx_http_scale_clients_args(ngx_http_request_t *r,
    ngx_http_scale_clients_page_t *pg)
{
    u_char      *dst, *src;
    ngx_int_t    rc;
    ngx_str_t    value;
    ngx_uint_t   i;

    pg->offset = 0;
    pg->limit = NGX_HTTP_SCALE_CLIENTS_LIMIT;
    ngx_str_null(&pg->q);

    pg->field = "q";
    pg->reason = "q: too long";

    rc = ngx_http_scale_clients_number(r, pg, "offset", 0, 0x7fffffff,
                                       &pg->offset);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_scale_clients_number(r, pg, "limit", 1,
                                       NGX_HTTP_SCALE_CLIENTS_MAX,
                                       &pg->limit);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_arg(r, (u_char *) "q", 1, &value) != NGX_OK
        || value.len == 0)
    {
        return NGX_OK;
    }

    if (value.len > 3 * NGX_HTTP_SCALE_NAME_MAX) {
        return NGX_DECLINED;
    }

    dst = ngx_pnalloc(r->pool, value.len);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    pg->q.data = dst;
    src = value.data;

    ngx_unescape_uri(&dst, &src, value.len, 0);

    pg->q.len = dst - pg->q.data;

    if (pg->q.len > NGX_HTTP_SCALE_NAME_MAX) {
        return NGX_DECLINED;
    }

    /* all a name may hold and a little more; always valid UTF-8 */
    for (i = 0; i < pg->q.len; i++) {
        if (pg->q.data[i] <= ' ' || pg->q.data[i] >= 0x7f) {
            pg->reason = "q: printable ASCII only, no spaces";
            return NGX_DECLINED;
        }
    }

    ngx_strlow(pg->q.data, pg->q.data, pg->q.len);

    return NGX_OK;
}


/* an absent or empty argument keeps its default */
static ngx_int_t
ngx_http_scale_clients_number(ngx_http_request_t *r,
    ngx_http_scale_clients_page_t *pg, const char *name, ngx_uint_t min,
    ngx_uint_t max, ngx_uint_t *value)
{
    u_char     *p;
    ngx_int_t   n;
    ngx_str_t   arg;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &arg) != NGX_OK
        || arg.len == 0)
    {
        return NGX_OK;
    }

    n = ngx_atoi(arg.data, arg.len);

    if (n == NGX_ERROR || (ngx_uint_t) n < min || (ngx_uint_t) n > max) {
        p = ngx_pnalloc(r->pool, 80);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(p, "%s: must be an integer from %ui to %ui%Z",
                    name, min, max);

        pg->field = name;
        pg->reason = (char *) p;

        return NGX_DECLINED;
    }

    *value = n;

    return NGX_OK;
}


/* a case-insensitive substring of the id, the name or the address */
static ngx_uint_t
ngx_http_scale_clients_match(ngx_http_scale_entry_t *e, ngx_str_t *q)
{
    return ngx_http_scale_clients_has(e->data, e->id_len, q)
           || ngx_http_scale_clients_has(e->data + e->id_len, e->name_len, q)
           || ngx_http_scale_clients_has(ngx_http_scale_entry_addr(e),
                                         e->addr_len, q);
}


/* q is lower case already: one pass, no copy */
static ngx_uint_t
ngx_http_scale_clients_has(u_char *s, size_t len, ngx_str_t *q)
{
    return len >= q->len
           && ngx_strlcasestrn(s, s + len, q->data, q->len - 1) != NULL;
}


/* under the lock: strings out of the zone, into request memory */
static void
ngx_http_scale_clients_copy(ngx_http_scale_entry_t *e,
    ngx_http_scale_client_t *c, u_char **p)
{
    c->id = *p;
    c->id_len = e->id_len;
    *p = ngx_cpymem(*p, e->data, e->id_len);

    c->name = *p;
    c->name_len = ngx_http_scale_entry_name_len(e);
    *p = ngx_cpymem(*p, ngx_http_scale_entry_name(e), c->name_len);

    c->addr = *p;
    c->addr_len = e->addr_len;
    *p = ngx_cpymem(*p, ngx_http_scale_entry_addr(e), e->addr_len);

    c->last_seen = e->last_seen;
    c->due = e->due;
    c->created = e->created;
    c->flags = e->flags;
    c->fails = e->fails;
}


/* "unprobed": no IP:port to probe, the client lives by refreshes */
static const char *
ngx_http_scale_clients_health(ngx_http_scale_client_t *c)
{
    if (c->flags & NGX_HTTP_SCALE_UNHEALTHY) {
        return "unhealthy";
    }

    if (!(c->flags & NGX_HTTP_SCALE_PROBEABLE)) {
        return "unprobed";
    }

    if (!(c->flags & NGX_HTTP_SCALE_PROBED)) {
        return "pending";
    }

    return "healthy";
}


#define ngx_http_scale_clients_set(obj, key, v)                               \
    json_object_set_new(obj, key, json_integer((json_int_t) (v)))


/* times relative to now, so the page needs no clock of its own */
static json_t *
ngx_http_scale_clients_json(ngx_http_scale_clients_page_t *pg)
{
    json_t                   *doc, *arr, *o;
    time_t                    now;
    ngx_uint_t                i;
    ngx_msec_t                msec;
    ngx_msec_int_t            due;
    ngx_http_scale_client_t  *c;

    doc = json_object();
    arr = json_array();

    if (doc == NULL || arr == NULL) {
        json_decref(doc);
        json_decref(arr);
        return NULL;
    }

    now = ngx_time();
    msec = ngx_current_msec;

    for (i = 0; i < pg->n; i++) {
        c = &pg->clients[i];

        o = json_object();
        if (o == NULL) {
            json_decref(doc);
            json_decref(arr);
            return NULL;
        }

        json_object_set_new(o, "id",
                            json_stringn_nocheck((char *) c->id, c->id_len));
        json_object_set_new(o, "name",
                            json_stringn_nocheck((char *) c->name,
                                                 c->name_len));

        if (c->addr_len) {
            json_object_set_new(o, "addr",
                                json_stringn_nocheck((char *) c->addr,
                                                     c->addr_len));
        }

        ngx_http_scale_clients_set(o, "age",
                                   now > (time_t) c->created
                                   ? now - (time_t) c->created : 0);
        ngx_http_scale_clients_set(o, "last_seen_ms",
                                   (ngx_msec_int_t) (msec - c->last_seen) > 0
                                   ? msec - c->last_seen : 0);

        due = ngx_http_scale_msec32_diff(c->due, msec);
        ngx_http_scale_clients_set(o, "next_check_ms", due > 0 ? due : 0);

        json_object_set_new(o, "health",
                            json_string(ngx_http_scale_clients_health(c)));
        ngx_http_scale_clients_set(o, "fails", c->fails);

        json_array_append_new(arr, o);
    }

    ngx_http_scale_clients_set(doc, "total", pg->total);
    ngx_http_scale_clients_set(doc, "offset", pg->offset);
    ngx_http_scale_clients_set(doc, "limit", pg->limit);
    json_object_set_new(doc, "q", pg->q.len
                                  ? json_stringn((char *) pg->q.data,
                                                 pg->q.len)
                                  : json_string(""));
    ngx_http_scale_clients_set(doc, "scanned", pg->scanned);
    ngx_http_scale_clients_set(doc, "scan_budget",
                               pg->q.len ? NGX_HTTP_SCALE_CLIENTS_SCAN
                                         : pg->limit);
    json_object_set_new(doc, "next_offset",
                        pg->next < pg->total
                        ? json_integer((json_int_t) pg->next)
                        : json_null());
    json_object_set_new(doc, "clients", arr);

    return doc;
}
