
/*
 * Who may change things.  Admin actions (POST /config, the client
 * manager's location) need "Authorization: Bearer <scale_admin_token>";
 * without the directive they are closed, and "scale_admin_token off"
 * opens them to whoever NGINX's allow/deny lets in.  A module of its own
 * in the same .so, because the check of a proxied location runs in the
 * access phase and needs a location configuration.
 */


#include "ngx_http_scale_module.h"


#define NGX_HTTP_SCALE_ADMIN_CLOSED  0
#define NGX_HTTP_SCALE_ADMIN_TOKEN   1
#define NGX_HTTP_SCALE_ADMIN_OPEN    2


typedef struct {
    ngx_uint_t                  mode;
    ngx_str_t                   token;
    ngx_str_t                   manager;
} ngx_http_scale_admin_main_conf_t;


typedef struct {
    ngx_flag_t                  admin;
} ngx_http_scale_admin_loc_conf_t;


static ngx_int_t ngx_http_scale_admin_verdict(ngx_http_request_t *r,
    const char **reason, const char **challenge);
static ngx_int_t ngx_http_scale_admin_access(ngx_http_request_t *r);
static ngx_int_t ngx_http_scale_admin_deny(ngx_http_request_t *r,
    ngx_uint_t status, const char *reason, const char *challenge);
static void *ngx_http_scale_admin_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_scale_admin_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_scale_admin_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_scale_admin_token(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_scale_admin_manager(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_scale_admin_init(ngx_conf_t *cf);


static ngx_command_t  ngx_http_scale_admin_commands[] = {

    { ngx_string("scale_admin_token"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_scale_admin_token,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("scale_admin"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_scale_admin_loc_conf_t, admin),
      NULL },

    { ngx_string("scale_client_manager"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_scale_admin_manager,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_scale_admin_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_scale_admin_init,             /* postconfiguration */

    ngx_http_scale_admin_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_scale_admin_create_loc_conf,  /* create location configuration */
    ngx_http_scale_admin_merge_loc_conf    /* merge location configuration */
};


ngx_module_t  ngx_http_scale_admin_module = {
    NGX_MODULE_V1,
    &ngx_http_scale_admin_module_ctx,      /* module context */
    ngx_http_scale_admin_commands,         /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* NGX_OK when the request may act as admin, NGX_DECLINED otherwise */
ngx_int_t
ngx_http_scale_admin_allowed(ngx_http_request_t *r)
{
    const char  *reason, *challenge;

    return ngx_http_scale_admin_verdict(r, &reason, &challenge) == NGX_OK
           ? NGX_OK : NGX_DECLINED;
}


/*
 * Sends the 401/403 JSON answer (the body discarded) to a request that
 * ngx_http_scale_admin_allowed() refused; a content handler returns what
 * this returns.
 */
ngx_int_t
ngx_http_scale_admin_refuse(ngx_http_request_t *r)
{
    ngx_int_t    rc;
    const char  *reason, *challenge;

    rc = ngx_http_scale_admin_verdict(r, &reason, &challenge);
    if (rc == NGX_OK) {
        rc = NGX_HTTP_FORBIDDEN;
        reason = "forbidden";
    }

    return ngx_http_scale_admin_deny(r, rc, reason, challenge);
}


/* NGX_OK, or 401/403 with the reason and the WWW-Authenticate value */
static ngx_int_t
ngx_http_scale_admin_verdict(ngx_http_request_t *r, const char **reason,
    const char **challenge)
{
    u_char                            *p, *last, diff;
    size_t                             i, len;
    ngx_http_scale_admin_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_scale_admin_module);

    *challenge = NULL;

    if (amcf->mode == NGX_HTTP_SCALE_ADMIN_OPEN) {
        return NGX_OK;
    }

    if (amcf->mode == NGX_HTTP_SCALE_ADMIN_CLOSED) {
        *reason = "admin actions are disabled: set scale_admin_token";
        return NGX_HTTP_FORBIDDEN;
    }

    *reason = "admin token required: Authorization: Bearer <token>";
    *challenge = "Bearer realm=\"ngx_scale\"";

    if (r->headers_in.authorization == NULL) {
        return NGX_HTTP_UNAUTHORIZED;
    }

    p = r->headers_in.authorization->value.data;
    last = p + r->headers_in.authorization->value.len;

    if (last - p < 7 || ngx_strncasecmp(p, (u_char *) "Bearer ", 7) != 0) {
        return NGX_HTTP_UNAUTHORIZED;
    }

    p += 7;

    while (p < last && *p == ' ') {
        p++;
    }

    while (last > p && last[-1] == ' ') {
        last--;
    }

    len = last - p;

    /* the comparison takes the same time wherever the first
     * difference is, so the token cannot be guessed byte by byte */
    diff = (len != amcf->token.len);

    for (i = 0; i < amcf->token.len; i++) {
        diff |= amcf->token.data[i] ^ (i < len ? p[i] : 0);
    }

    if (diff) {
        *reason = "invalid admin token";
        *challenge = "Bearer realm=\"ngx_scale\", error=\"invalid_token\"";
        return NGX_HTTP_FORBIDDEN;
    }

    return NGX_OK;
}


/* the location the dashboard's client manager talks to; empty if none */
ngx_str_t *
ngx_http_scale_admin_manager_uri(ngx_http_request_t *r)
{
    ngx_http_scale_admin_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_scale_admin_module);

    return &amcf->manager;
}


/* "token", "open" or "closed", for GET /config and the page */
const char *
ngx_http_scale_admin_mode(ngx_http_request_t *r)
{
    ngx_http_scale_admin_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_scale_admin_module);

    switch (amcf->mode) {
    case NGX_HTTP_SCALE_ADMIN_TOKEN:
        return "token";
    case NGX_HTTP_SCALE_ADMIN_OPEN:
        return "open";
    default:
        return "closed";
    }
}


/*
 * "scale_admin on" guards a whole location, e.g. one that proxies to the
 * swarm's control API.  With "satisfy any" the standard codes go back to
 * the access phase, so that allow/deny can still let a request in.
 */
static ngx_int_t
ngx_http_scale_admin_access(ngx_http_request_t *r)
{
    const char                       *reason, *challenge;
    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_scale_admin_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_scale_admin_module);

    if (!alcf->admin || r != r->main) {
        return NGX_DECLINED;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->satisfy == NGX_HTTP_SATISFY_ANY) {
        return ngx_http_scale_admin_verdict(r, &reason, &challenge);
    }

    if (ngx_http_scale_admin_allowed(r) == NGX_OK) {
        return NGX_OK;
    }

    ngx_http_finalize_request(r, ngx_http_scale_admin_refuse(r));

    return NGX_DONE;
}


/* the refusal is JSON like every other answer of the module */
static ngx_int_t
ngx_http_scale_admin_deny(ngx_http_request_t *r, ngx_uint_t status,
    const char *reason, const char *challenge)
{
    ngx_int_t         rc;
    ngx_table_elt_t  *h;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (challenge) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "WWW-Authenticate");
        h->value.data = (u_char *) challenge;
        h->value.len = ngx_strlen(challenge);
        r->headers_out.www_authenticate = h;
    }

    return ngx_http_scale_send_error(r, status, reason);
}


/* no token: closed, so a forgotten directive never opens anything */
static void *
ngx_http_scale_admin_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_scale_admin_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_scale_admin_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     amcf->mode = NGX_HTTP_SCALE_ADMIN_CLOSED;
     *     amcf->token = { 0, NULL };
     *     amcf->manager = { 0, NULL };
     */

    return amcf;
}


/* unset, so that a location inherits "scale_admin" from its server */
static void *
ngx_http_scale_admin_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_scale_admin_loc_conf_t  *alcf;

    alcf = ngx_palloc(cf->pool, sizeof(ngx_http_scale_admin_loc_conf_t));
    if (alcf == NULL) {
        return NULL;
    }

    alcf->admin = NGX_CONF_UNSET;

    return alcf;
}


/* off unless asked: only chosen locations are admin-only */
static char *
ngx_http_scale_admin_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_scale_admin_loc_conf_t  *prev = parent;
    ngx_http_scale_admin_loc_conf_t  *conf = child;

    ngx_conf_merge_value(conf->admin, prev->admin, 0);

    return NGX_CONF_OK;
}


/* scale_admin_token <token>|off; tokens are 16..256 visible bytes */
static char *
ngx_http_scale_admin_token(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_scale_admin_main_conf_t  *amcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (amcf->mode != NGX_HTTP_SCALE_ADMIN_CLOSED) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        amcf->mode = NGX_HTTP_SCALE_ADMIN_OPEN;
        return NGX_CONF_OK;
    }

    if (value[1].len < 16 || value[1].len > 256) {
        return "must be 16 to 256 bytes long (or \"off\")";
    }

    for (i = 0; i < value[1].len; i++) {
        if (value[1].data[i] <= ' ' || value[1].data[i] >= 0x7f) {
            return "must be visible ASCII without spaces";
        }
    }

    amcf->token = value[1];
    amcf->mode = NGX_HTTP_SCALE_ADMIN_TOKEN;

    return NGX_CONF_OK;
}


/* scale_client_manager </location/>: where the page finds the swarm */
static char *
ngx_http_scale_admin_manager(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_scale_admin_main_conf_t  *amcf = conf;

    u_char       c;
    ngx_str_t   *value;
    ngx_uint_t   i;

    if (amcf->manager.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].data[0] != '/' || value[1].data[value[1].len - 1] != '/') {
        return "must be a location path that starts and ends with \"/\"";
    }

    for (i = 0; i < value[1].len; i++) {
        c = value[1].data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || ngx_strchr("/-_.~", c)))
        {
            return "may hold letters, digits and \"/-_.~\" only";
        }
    }

    amcf->manager = value[1];

    return NGX_CONF_OK;
}


/* the gate runs in the access phase, beside allow/deny */
static ngx_int_t
ngx_http_scale_admin_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_scale_admin_access;

    return NGX_OK;
}
