
/*
 * GET /config and POST /config: the effective run-time configuration.
 * A POST names some fields of ngx_http_scale_params_t; every field is
 * checked and the first bad one is named in a 400.  A valid change is
 * written into the zone under its lock, so every worker uses it from its
 * next request on.  It lasts until the next reload: init_module copies
 * nginx.conf's figures into the zone again.
 */


#include <jansson.h>

#include "ngx_http_scale_module.h"


typedef struct {
    const char                 *name;
    size_t                      offset;
    json_int_t                  min;
    json_int_t                  max;
    ngx_uint_t                  scale;     /* stored value per unit; */
                                           /* 0: a JSON boolean */
} ngx_http_scale_config_field_t;


static void ngx_http_scale_config_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_scale_config_post(ngx_http_request_t *r);
static ngx_int_t ngx_http_scale_config_apply(ngx_http_request_t *r,
    json_t *body);
static ngx_int_t ngx_http_scale_config_invalid(ngx_http_request_t *r,
    const char *field, const char *fmt, ...);
static ngx_int_t ngx_http_scale_config_send(ngx_http_request_t *r,
    ngx_uint_t status);


#define ngx_http_scale_config_param(p, f)                                     \
    (*(ngx_uint_t *) ((u_char *) (p) + (f)->offset))

#define NGX_HTTP_SCALE_DAY_MS  86400000


/* what POST /config may change; times are milliseconds, rate is r/s */
static ngx_http_scale_config_field_t  ngx_http_scale_config_fields[] = {

    { "subset_size", offsetof(ngx_http_scale_params_t, subset_size),
      1, NGX_HTTP_SCALE_SUBSET_MAX, 1 },

    { "max_clients", offsetof(ngx_http_scale_params_t, max_clients),
      0, 0x7fffffff, 1 },

    { "refresh_min", offsetof(ngx_http_scale_params_t, refresh_min),
      0, NGX_HTTP_SCALE_DAY_MS, 1 },

    { "rate", offsetof(ngx_http_scale_params_t, rate),
      0, 1000000, 1000 },

    { "burst", offsetof(ngx_http_scale_params_t, burst),
      0, 1000000, 1000 },

    { "min_age", offsetof(ngx_http_scale_params_t, min_age),
      0, NGX_HTTP_SCALE_DAY_MS, 1 },

    { "max_age", offsetof(ngx_http_scale_params_t, max_age),
      1, NGX_HTTP_SCALE_DAY_MS, 1 },

    { "health_timeout", offsetof(ngx_http_scale_params_t, health_timeout),
      1, 600000, 1 },

    { "health_interval", offsetof(ngx_http_scale_params_t, health_interval),
      1, 3600000, 1 },

    { "cleanup_interval",
      offsetof(ngx_http_scale_params_t, cleanup_interval),
      1, 3600000, 1 },

    { "health_fails", offsetof(ngx_http_scale_params_t, health_fails),
      1, 1000, 1 },

    { "health_passes", offsetof(ngx_http_scale_params_t, health_passes),
      1, 1000, 1 },

    { "health_concurrency",
      offsetof(ngx_http_scale_params_t, health_concurrency),
      1, 1000, 1 },

    { "eviction_brake", offsetof(ngx_http_scale_params_t, eviction_brake),
      0, 100, 1 },

    { "subset_diversity",
      offsetof(ngx_http_scale_params_t, subset_diversity),
      0, 1, 0 },

    { NULL, 0, 0, 0, 0 }
};


/* GET reads, POST changes; nothing else */
ngx_int_t
ngx_http_scale_config_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_scale_config_send(r, NGX_HTTP_OK);
    }

    if (r->method & NGX_HTTP_POST) {
        return ngx_http_scale_config_post(r);
    }

    return ngx_http_scale_not_allowed(r, "GET, HEAD, POST");
}


/*
 * The admin check comes before the body is read.  JSON only: a browser
 * cannot send that type to another site without asking it first, so a
 * page elsewhere cannot post a form here (the token aside).
 */
static ngx_int_t
ngx_http_scale_config_post(ngx_http_request_t *r)
{
    ngx_int_t   rc;
    ngx_str_t  *type;

    if (ngx_http_scale_admin_allowed(r) != NGX_OK) {
        return ngx_http_scale_admin_refuse(r);
    }

    type = r->headers_in.content_type ? &r->headers_in.content_type->value
                                      : NULL;

    if (type == NULL || type->len < 16
        || ngx_strncasecmp(type->data, (u_char *) "application/json", 16)
           != 0
        || (type->len > 16 && type->data[16] != ';' && type->data[16] != ' '))
    {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_scale_send_error(r,
                   NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                   "Content-Type must be application/json");
    }

    return ngx_http_scale_read_body(r, ngx_http_scale_config_body);
}


/* the body is in: gather it (memory or file), parse, apply, answer */
static void
ngx_http_scale_config_body(ngx_http_request_t *r)
{
    json_t        *doc;
    ngx_int_t      rc;
    ngx_str_t      body;
    json_error_t   err;

    if (ngx_http_scale_body(r, &body, &rc) != NGX_OK) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    doc = json_loadb((char *) body.data, body.len, JSON_REJECT_DUPLICATES,
                     &err);

    if (doc == NULL) {
        rc = ngx_http_scale_config_invalid(r, NULL, "invalid JSON: %s",
                                           err.text);

    } else if (!json_is_object(doc)) {
        rc = ngx_http_scale_config_invalid(r, NULL,
                                           "the body must be a JSON object");

    } else {
        rc = ngx_http_scale_config_apply(r, doc);
    }

    json_decref(doc);

    ngx_http_finalize_request(r, rc);
}


/*
 * Checks every field against its bounds, then, under the lock, merges
 * them into a copy of the zone's figures, checks what depends on two
 * fields, and stores the copy: all or nothing.
 */
static ngx_int_t
ngx_http_scale_config_apply(ngx_http_request_t *r, json_t *body)
{
    json_t                         *v;
    ngx_uint_t                      ok;
    json_int_t                      n;
    const char                     *key;
    ngx_slab_pool_t                *shpool;
    ngx_http_scale_params_t         params;
    ngx_http_scale_zone_ctx_t      *ctx;
    ngx_http_scale_main_conf_t     *smcf;
    ngx_http_scale_config_field_t  *f;

    if (json_object_size(body) == 0) {
        return ngx_http_scale_config_invalid(r, NULL,
                                             "no configuration field given");
    }

    json_object_foreach(body, key, v) {

        for (f = ngx_http_scale_config_fields; f->name; f++) {
            if (ngx_strcmp(f->name, key) == 0) {
                break;
            }
        }

        if (f->name == NULL) {
            return ngx_http_scale_config_invalid(r, key, "unknown field");
        }

        if (f->scale == 0) {
            if (!json_is_boolean(v)) {
                return ngx_http_scale_config_invalid(r, f->name,
                           "%s: must be true or false", f->name);
            }

            continue;
        }

        if (!json_is_integer(v)) {
            return ngx_http_scale_config_invalid(r, f->name,
                       "%s: must be an integer from %L to %L",
                       f->name, (int64_t) f->min, (int64_t) f->max);
        }

        n = json_integer_value(v);

        if (n < f->min || n > f->max) {
            return ngx_http_scale_config_invalid(r, f->name,
                       "%s: %L is out of range %L..%L", f->name,
                       (int64_t) n, (int64_t) f->min, (int64_t) f->max);
        }
    }

    smcf = ngx_http_get_module_main_conf(r, ngx_http_scale_module);
    ctx = smcf->shm_zone->data;
    shpool = ctx->shpool;

    ngx_shmtx_lock(&shpool->mutex);

    params = ctx->sh->params;

    for (f = ngx_http_scale_config_fields; f->name; f++) {
        v = json_object_get(body, f->name);

        if (v == NULL) {
            continue;
        }

        ngx_http_scale_config_param(&params, f) =
            f->scale ? (ngx_uint_t) json_integer_value(v) * f->scale
                     : (ngx_uint_t) json_is_true(v);
    }

    ok = (params.min_age < params.max_age);

    if (ok) {
        ctx->sh->params = params;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (!ok) {
        key = json_object_get(body, "min_age") ? "min_age" : "max_age";

        return ngx_http_scale_config_invalid(r, key,
                   "%s: min_age (%M ms) must be less than max_age (%M ms)",
                   key, params.min_age, params.max_age);
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "scale: configuration changed at run time "
                  "(until the next reload)");

    return ngx_http_scale_config_send(r, NGX_HTTP_OK);
}


/* 400 {"error":"<field>: why","field":"<field>"}; ngx_vslprintf format */
static ngx_int_t
ngx_http_scale_config_invalid(ngx_http_request_t *r, const char *field,
    const char *fmt, ...)
{
    u_char   *last, buf[256];
    json_t   *doc, *msg;
    va_list   args;

    va_start(args, fmt);
    last = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    doc = json_object();
    if (doc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* jansson's own error text may quote bytes that are not UTF-8 */
    msg = json_stringn((char *) buf, last - buf);
    if (msg == NULL) {
        msg = json_string("invalid request body");
    }

    json_object_set_new(doc, "error", msg);
    json_object_set_new(doc, "field", field ? json_string(field)
                                            : json_null());

    return ngx_http_scale_send_json(r, NGX_HTTP_BAD_REQUEST, doc);
}


/*
 * {"config":{...},"overridden":[...],"client_manager":..,"admin":..}:
 * the zone's figures, the fields where they differ from nginx.conf, and
 * what the page needs to know about the admin side.
 */
static ngx_int_t
ngx_http_scale_config_send(ngx_http_request_t *r, ngx_uint_t status)
{
    json_t                         *doc, *conf, *over;
    ngx_str_t                      *mgr;
    ngx_uint_t                      value, file;
    ngx_http_scale_params_t         params;
    ngx_http_scale_zone_ctx_t      *ctx;
    ngx_http_scale_main_conf_t     *smcf;
    ngx_http_scale_config_field_t  *f;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_scale_module);
    ctx = smcf->shm_zone->data;

    ngx_shmtx_lock(&ctx->shpool->mutex);
    params = ctx->sh->params;
    ngx_shmtx_unlock(&ctx->shpool->mutex);

    doc = json_object();
    conf = json_object();
    over = json_array();

    if (doc == NULL || conf == NULL || over == NULL) {
        json_decref(doc);
        json_decref(conf);
        json_decref(over);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (f = ngx_http_scale_config_fields; f->name; f++) {
        value = ngx_http_scale_config_param(&params, f);
        file = ngx_http_scale_config_param(&smcf->params, f);

        json_object_set_new(conf, f->name,
                            f->scale
                            ? json_integer((json_int_t) (value / f->scale))
                            : json_boolean(value));

        if (value != file) {
            json_array_append_new(over, json_string(f->name));
        }
    }

    json_object_set_new(doc, "config", conf);
    json_object_set_new(doc, "overridden", over);
    json_object_set_new(doc, "lasts_until", json_string("reload"));

    mgr = ngx_http_scale_admin_manager_uri(r);

    json_object_set_new(doc, "client_manager",
                        mgr->len ? json_stringn((char *) mgr->data, mgr->len)
                                 : json_null());
    json_object_set_new(doc, "admin",
                        json_string(ngx_http_scale_admin_mode(r)));

    return ngx_http_scale_send_json(r, status, doc);
}
