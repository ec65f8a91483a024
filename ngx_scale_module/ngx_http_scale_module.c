
/*
 * ngx_scale: the module definition, its directives, the shared zone and
 * process start-up.  The request path lives in ngx_http_scale_handlers.c.
 */


#include "ngx_http_scale_registry.h"


static char *ngx_http_scale_check_bounds(ngx_conf_t *cf, void *post,
    void *data);
static ngx_int_t ngx_http_scale_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void *ngx_http_scale_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_scale_init_main_conf(ngx_conf_t *cf, void *conf);
static char *ngx_http_scale_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_scale_rate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_scale_handler(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_scale_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_scale_init_process(ngx_cycle_t *cycle);
static void ngx_http_scale_exit_process(ngx_cycle_t *cycle);


static ngx_conf_num_bounds_t  ngx_http_scale_subset_bounds = {
    ngx_http_scale_check_bounds, 1, NGX_HTTP_SCALE_SUBSET_MAX
};

static ngx_conf_num_bounds_t  ngx_http_scale_count_bounds = {
    ngx_http_scale_check_bounds, 1, 1000
};

static ngx_conf_num_bounds_t  ngx_http_scale_percent_bounds = {
    ngx_http_scale_check_bounds, 0, 100
};

static ngx_conf_num_bounds_t  ngx_http_scale_clients_bounds = {
    ngx_http_scale_check_bounds, 0, 0x7fffffff
};


#define ngx_http_scale_param(field)                                           \
    offsetof(ngx_http_scale_main_conf_t, params)                              \
    + offsetof(ngx_http_scale_params_t, field)


static ngx_command_t  ngx_http_scale_commands[] = {

    { ngx_string("scale_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_scale_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("scale_max_clients"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      ngx_http_scale_param(max_clients),
      &ngx_http_scale_clients_bounds },

    { ngx_string("scale_subset_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      ngx_http_scale_param(subset_size),
      &ngx_http_scale_subset_bounds },

    { ngx_string("scale_refresh_min"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      ngx_http_scale_param(refresh_min),
      NULL },

    { ngx_string("scale_rate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_scale_rate,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("scale_body_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_scale_main_conf_t, body_max),
      NULL },

    { ngx_string("scale_min_age"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      ngx_http_scale_param(min_age),
      NULL },

    { ngx_string("scale_max_age"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      ngx_http_scale_param(max_age),
      NULL },

    { ngx_string("scale_health_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      ngx_http_scale_param(health_timeout),
      NULL },

    { ngx_string("scale_health_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      ngx_http_scale_param(health_interval),
      NULL },

    { ngx_string("scale_cleanup_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      ngx_http_scale_param(cleanup_interval),
      NULL },

    { ngx_string("scale_health_uri"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_scale_main_conf_t, health_uri),
      NULL },

    { ngx_string("scale_health_fails"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      ngx_http_scale_param(health_fails),
      &ngx_http_scale_count_bounds },

    { ngx_string("scale_health_passes"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      ngx_http_scale_param(health_passes),
      &ngx_http_scale_count_bounds },

    { ngx_string("scale_health_concurrency"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      ngx_http_scale_param(health_concurrency),
      &ngx_http_scale_count_bounds },

    { ngx_string("scale_eviction_brake"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      ngx_http_scale_param(eviction_brake),
      &ngx_http_scale_percent_bounds },

    { ngx_string("scale_subset_diversity"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      ngx_http_scale_param(subset_diversity),
      NULL },

    { ngx_string("scale_connect"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_scale_handler,
      0,
      0,
      ngx_http_scale_connect_handler },

    { ngx_string("scale_delete"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_scale_handler,
      0,
      0,
      ngx_http_scale_delete_handler },

    { ngx_string("scale_alive"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_scale_handler,
      0,
      0,
      ngx_http_scale_alive_handler },

    { ngx_string("scale_check"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_scale_handler,
      0,
      0,
      ngx_http_scale_check_handler },

    { ngx_string("scale_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_scale_handler,
      0,
      0,
      ngx_http_scale_status_handler },

    { ngx_string("scale_health"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_scale_handler,
      0,
      0,
      ngx_http_scale_health_handler },

    { ngx_string("scale_status_page"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_scale_handler,
      0,
      0,
      ngx_http_scale_page_handler },

    { ngx_string("scale_config"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_scale_handler,
      0,
      0,
      ngx_http_scale_config_handler },

    { ngx_string("scale_clients"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_scale_handler,
      0,
      0,
      ngx_http_scale_clients_handler },

    { ngx_string("scale_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_scale_handler,
      0,
      0,
      ngx_http_scale_metrics_handler },

    { ngx_string("scale_data_dir"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_scale_data_dir,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("scale_snapshot_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_scale_snapshot_interval,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("scale_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_scale_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_scale_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_scale_create_main_conf,       /* create main configuration */
    ngx_http_scale_init_main_conf,         /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_scale_module = {
    NGX_MODULE_V1,
    &ngx_http_scale_module_ctx,            /* module context */
    ngx_http_scale_commands,               /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_scale_init_module,            /* init module */
    ngx_http_scale_init_process,           /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_scale_exit_process,           /* exit process */
    ngx_http_scale_persist_exit_master,    /* exit master */
    NGX_MODULE_V1_PADDING
};


/* ngx_conf_check_num_bounds(), with the directive's name in the message */
static char *
ngx_http_scale_check_bounds(ngx_conf_t *cf, void *post, void *data)
{
    ngx_conf_num_bounds_t  *bounds = post;
    ngx_int_t              *np = data;

    ngx_str_t  *value;

    if (*np >= bounds->low && *np <= bounds->high) {
        return NGX_CONF_OK;
    }

    value = cf->args->elts;

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"%V\" must be between %i and %i, not \"%V\"",
                       &value[0], bounds->low, bounds->high, &value[1]);

    return NGX_CONF_ERROR;
}


/*
 * A reload with the same zone name and size hands us the old zone: the
 * registry survives.  A fresh zone gets its arrays sized once, here.
 */
static ngx_int_t
ngx_http_scale_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_scale_zone_ctx_t  *octx = data;

    size_t                      len;
    ngx_slab_pool_t            *shpool;
    ngx_http_scale_shctx_t     *sh;
    ngx_http_scale_zone_ctx_t  *ctx;

    ctx = shm_zone->data;

    if (octx) {
        if (octx->sh->layout != NGX_HTTP_SCALE_LAYOUT) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "scale zone \"%V\" was made by another build of "
                          "the module: restart nginx, or rename the zone",
                          &shm_zone->shm.name);
            return NGX_ERROR;
        }

        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    ctx->shpool = shpool;

    if (shm_zone->shm.exists) {
        ctx->sh = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_scale_shctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ctx->fresh = 1;

    ctx->sh = sh;
    shpool->data = sh;

    len = sizeof(" in scale zone \"\"") + shm_zone->shm.name.len;

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in scale zone \"%V\"%Z",
                &shm_zone->shm.name);

    shpool->log_nomem = 0;

    sh->start_time = ngx_time();
    sh->layout = NGX_HTTP_SCALE_LAYOUT;
    sh->hash_seed = (uint32_t) ((uintptr_t) sh ^ ngx_pid ^ ngx_time()
                                ^ ngx_current_msec ^ ngx_random());

    if (ngx_http_scale_registry_init(shpool, sh,
            ngx_http_scale_registry_capacity(ctx->size))
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "scale zone \"%V\" is too small for its arrays",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* every figure unset, so init_main_conf() knows what nginx.conf gave */
static void *
ngx_http_scale_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_scale_main_conf_t  *smcf;

    smcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_scale_main_conf_t));
    if (smcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     smcf->shm_zone = NULL;
     *     smcf->health_uri = { 0, NULL };
     *     smcf->params.rate = 0;
     *     smcf->params.burst = 0;
     *     smcf->handlers = 0;
     */

    smcf->params.subset_size = NGX_CONF_UNSET_UINT;
    smcf->params.max_clients = NGX_CONF_UNSET_UINT;
    smcf->params.refresh_min = NGX_CONF_UNSET_MSEC;
    smcf->params.min_age = NGX_CONF_UNSET_MSEC;
    smcf->params.max_age = NGX_CONF_UNSET_MSEC;
    smcf->params.health_timeout = NGX_CONF_UNSET_MSEC;
    smcf->params.health_interval = NGX_CONF_UNSET_MSEC;
    smcf->params.cleanup_interval = NGX_CONF_UNSET_MSEC;
    smcf->params.health_fails = NGX_CONF_UNSET_UINT;
    smcf->params.health_passes = NGX_CONF_UNSET_UINT;
    smcf->params.health_concurrency = NGX_CONF_UNSET_UINT;
    smcf->params.eviction_brake = NGX_CONF_UNSET_UINT;
    smcf->params.subset_diversity = NGX_CONF_UNSET;
    smcf->body_max = NGX_CONF_UNSET_SIZE;

    return smcf;
}


/* defaults, and the checks that span directives, at the end of http{} */
static char *
ngx_http_scale_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_scale_main_conf_t  *smcf = conf;

    ngx_http_scale_params_t  *p;

    p = &smcf->params;

    ngx_conf_init_uint_value(p->subset_size, 5);
    ngx_conf_init_uint_value(p->max_clients, 0);
    ngx_conf_init_msec_value(p->refresh_min, 1000);
    ngx_conf_init_msec_value(p->min_age, 2000);
    ngx_conf_init_msec_value(p->max_age, 10000);
    ngx_conf_init_msec_value(p->health_timeout, 5000);
    ngx_conf_init_msec_value(p->health_interval, 100);
    ngx_conf_init_msec_value(p->cleanup_interval, 1000);
    ngx_conf_init_uint_value(p->health_fails, 2);
    ngx_conf_init_uint_value(p->health_passes, 1);
    ngx_conf_init_uint_value(p->health_concurrency, 64);
    ngx_conf_init_uint_value(p->eviction_brake, 50);
    ngx_conf_init_value(p->subset_diversity, 0);
    ngx_conf_init_size_value(smcf->body_max, 4096);

    if (smcf->health_uri.len == 0) {
        ngx_str_set(&smcf->health_uri, "/alive");
    }

    if (smcf->health_uri.data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"scale_health_uri\" must start with \"/\"");
        return NGX_CONF_ERROR;
    }

    /* zone times are 32-bit: keep every span far below 24 days */

    if (p->max_age > 86400000 || p->refresh_min > 86400000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"scale_max_age\" and \"scale_refresh_min\" "
                           "must be at most 1d");
        return NGX_CONF_ERROR;
    }

    if (p->health_interval > 3600000 || p->cleanup_interval > 3600000
        || p->health_timeout > 600000)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"scale_health_interval\" and "
                           "\"scale_cleanup_interval\" must be at most 1h, "
                           "\"scale_health_timeout\" at most 10m");
        return NGX_CONF_ERROR;
    }

    if (p->min_age >= p->max_age) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"scale_min_age\" (%M ms) must be less than "
                           "\"scale_max_age\" (%M ms)",
                           p->min_age, p->max_age);
        return NGX_CONF_ERROR;
    }

    if (p->health_interval == 0 || p->cleanup_interval == 0
        || p->health_timeout == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"scale_health_interval\", "
                           "\"scale_cleanup_interval\" and "
                           "\"scale_health_timeout\" must not be zero");
        return NGX_CONF_ERROR;
    }

    if (smcf->body_max < 16 || smcf->body_max > 1024 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"scale_body_max\" must be 16 to 1m bytes");
        return NGX_CONF_ERROR;
    }

    if (smcf->handlers && smcf->shm_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"scale_connect\", \"scale_delete\" and "
                           "\"scale_status\" need a \"scale_zone\" in the "
                           "http block");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* scale_zone name=<name> size=<size> */
static char *
ngx_http_scale_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_scale_main_conf_t  *smcf = conf;

    ssize_t                     size;
    ngx_str_t                  *value, name, s;
    ngx_uint_t                  i;
    ngx_http_scale_zone_ctx_t  *ctx;

    if (smcf->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;
    ngx_str_null(&name);
    size = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "name=", 5) == 0) {
            name.data = value[i].data + 5;
            name.len = value[i].len - 5;
            continue;
        }

        if (ngx_strncmp(value[i].data, "size=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            size = ngx_parse_size(&s);
            if (size == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"%V\": invalid zone size \"%V\"",
                                   &cmd->name, &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": invalid parameter \"%V\"",
                           &cmd->name, &value[i]);
        return NGX_CONF_ERROR;
    }

    if (name.len == 0 || size == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"name=\" and \"size=\"",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (name.len > 64) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": zone name \"%V\" is longer than 64 "
                           "bytes", &cmd->name, &name);
        return NGX_CONF_ERROR;
    }

    if (size < 128 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": zone \"%V\" is too small: 128k at "
                           "least", &cmd->name, &name);
        return NGX_CONF_ERROR;
    }

    if ((uint64_t) size > 0xffffffffULL - ngx_pagesize) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": zone \"%V\" is too large: less than "
                           "4g", &cmd->name, &name);
        return NGX_CONF_ERROR;
    }

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_scale_zone_ctx_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    ctx->size = size;

    smcf->shm_zone = ngx_shared_memory_add(cf, &name, size,
                                           &ngx_http_scale_module);
    if (smcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (smcf->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already in use", &name);
        return NGX_CONF_ERROR;
    }

    smcf->shm_zone->init = ngx_http_scale_init_zone;
    smcf->shm_zone->data = ctx;

    return NGX_CONF_OK;
}


/* scale_rate rate=<n>r/s|r/m [burst=<n>] */
static char *
ngx_http_scale_rate(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_scale_main_conf_t  *smcf = conf;

    u_char     *p;
    size_t      len;
    ngx_int_t   rate, scale, burst;
    ngx_str_t  *value;
    ngx_uint_t  i;

    if (smcf->params.rate) {
        return "is duplicate";
    }

    value = cf->args->elts;
    rate = 0;
    burst = 0;
    scale = 1;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {
            len = value[i].len;
            p = value[i].data + len - 3;

            if (len > 8 && ngx_strncmp(p, "r/s", 3) == 0) {
                scale = 1;

            } else if (len > 8 && ngx_strncmp(p, "r/m", 3) == 0) {
                scale = 60;

            } else {
                return "invalid rate: \"rate=<n>r/s\" or \"rate=<n>r/m\"";
            }

            rate = ngx_atoi(value[i].data + 5, len - 8);
            if (rate <= 0) {
                return "invalid rate";
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0) {
            burst = ngx_atoi(value[i].data + 6, value[i].len - 6);
            if (burst < 0) {
                return "invalid burst";
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": invalid parameter \"%V\"",
                           &cmd->name, &value[i]);
        return NGX_CONF_ERROR;
    }

    if (rate == 0) {
        return "needs \"rate=\"";
    }

    smcf->params.rate = rate * 1000 / scale;
    smcf->params.burst = burst * 1000;

    if (smcf->params.rate == 0) {
        smcf->params.rate = 1;
    }

    return NGX_CONF_OK;
}


/* scale_connect, scale_delete, scale_status, scale_health */
static char *
ngx_http_scale_handler(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_scale_main_conf_t  *smcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate: the location has a handler already";
    }

    clcf->handler = (ngx_http_handler_pt) cmd->post;

    if (cmd->post != ngx_http_scale_health_handler) {
        smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_scale_module);
        smcf->handlers++;
    }

    return NGX_CONF_OK;
}


/*
 * Runs in the master at start and on every reload, after the zones are
 * mapped: nginx.conf's figures become the zone's effective configuration,
 * replacing what POST /config changed at run time.
 */
static ngx_int_t
ngx_http_scale_init_module(ngx_cycle_t *cycle)
{
    ngx_core_conf_t             *ccf;
    ngx_http_scale_zone_ctx_t   *ctx;
    ngx_http_scale_main_conf_t  *smcf;

    smcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_scale_module);
    if (smcf == NULL || smcf->shm_zone == NULL) {
        return smcf ? ngx_http_scale_persist_init_module(cycle, smcf)
                    : NGX_OK;
    }

    ctx = smcf->shm_zone->data;
    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    ctx->sh->params = smcf->params;
    ctx->sh->nworkers = ccf->master ? ccf->worker_processes : 1;

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    if (smcf->params.max_clients > ctx->sh->capacity) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "scale zone \"%V\" holds %ui clients at most; "
                      "\"scale_max_clients %ui\" is capped there",
                      &smcf->shm_zone->shm.name, ctx->sh->capacity,
                      smcf->params.max_clients);
    }

    return ngx_http_scale_persist_init_module(cycle, smcf);
}


/* a worker (or the single process) starts: its slot, its timers */
static ngx_int_t
ngx_http_scale_init_process(ngx_cycle_t *cycle)
{
    ngx_http_scale_zone_ctx_t   *ctx;
    ngx_http_scale_main_conf_t  *smcf;

    if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    smcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_scale_module);
    if (smcf == NULL || smcf->shm_zone == NULL) {
        return NGX_OK;
    }

    ctx = smcf->shm_zone->data;

    if (ngx_worker < NGX_HTTP_SCALE_WORKERS_MAX) {
        ctx->sh->workers[ngx_worker].pid = ngx_pid;
    }

    if (ngx_http_scale_persist_init_process(cycle, smcf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_scale_health_init_process(cycle, smcf);
}


/* a worker leaves: no probe connection may outlive it */
static void
ngx_http_scale_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_scale_health_exit_process(cycle);
    ngx_http_scale_persist_exit_process(cycle);
}
