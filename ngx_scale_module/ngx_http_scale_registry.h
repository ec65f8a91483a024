
/*
 * The shared-memory registry: a chained hashset of identities, a dense
 * array for uniform sampling and a binary min-heap ordered by due time.
 * Every function here expects the caller to hold the zone lock.
 */


#ifndef _NGX_HTTP_SCALE_REGISTRY_H_INCLUDED_
#define _NGX_HTTP_SCALE_REGISTRY_H_INCLUDED_


#include "ngx_http_scale_module.h"


#define ngx_http_scale_ptr(pool, off)                                         \
    ((ngx_http_scale_entry_t *) ((u_char *) (pool) + (off)))
#define ngx_http_scale_off(pool, e)                                           \
    ((uint32_t) ((u_char *) (e) - (u_char *) (pool)))


typedef struct {
    ngx_str_t                   id;
    ngx_str_t                   name;
    ngx_str_t                   addr;
    uint32_t                    net;           /* see entry->net */
    unsigned                    json:1;
    unsigned                    probeable:1;   /* an IP:port to probe */
    unsigned                    name_addr:1;   /* ... which is the name */
} ngx_http_scale_identity_t;


ngx_uint_t ngx_http_scale_registry_capacity(size_t zone_size);
ngx_int_t ngx_http_scale_registry_init(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_uint_t capacity);
uint32_t ngx_http_scale_registry_hash(ngx_http_scale_shctx_t *sh, u_char *key,
    size_t len);
ngx_http_scale_entry_t *ngx_http_scale_registry_find(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, u_char *key, size_t len, uint32_t hash);
ngx_http_scale_entry_t *ngx_http_scale_registry_add(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_http_scale_identity_t *ident,
    uint32_t hash, ngx_msec_t now);
ngx_http_scale_entry_t *ngx_http_scale_registry_replace(
    ngx_slab_pool_t *shpool, ngx_http_scale_shctx_t *sh,
    ngx_http_scale_entry_t *old, ngx_http_scale_identity_t *ident);
ngx_msec_t ngx_http_scale_registry_due(ngx_http_scale_shctx_t *sh,
    ngx_http_scale_entry_t *e, ngx_msec_t from);
void ngx_http_scale_registry_set_health(ngx_http_scale_shctx_t *sh,
    ngx_slab_pool_t *shpool, ngx_http_scale_entry_t *e, ngx_uint_t healthy);
ngx_uint_t ngx_http_scale_registry_sample_diverse(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_http_scale_entry_t *self, ngx_uint_t k,
    ngx_http_scale_entry_t **out);
void ngx_http_scale_registry_touch(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_http_scale_entry_t *e, ngx_msec_t now);
void ngx_http_scale_registry_set_due(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_http_scale_entry_t *e, ngx_msec_t due);
void ngx_http_scale_registry_remove(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_http_scale_entry_t *e);
ngx_uint_t ngx_http_scale_registry_sample(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_http_scale_entry_t *self, ngx_uint_t k,
    ngx_http_scale_entry_t **out);
ngx_http_scale_entry_t *ngx_http_scale_registry_heap_min(
    ngx_slab_pool_t *shpool, ngx_http_scale_shctx_t *sh);
ngx_uint_t ngx_http_scale_registry_check(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_log_t *log);


#endif /* _NGX_HTTP_SCALE_REGISTRY_H_INCLUDED_ */
