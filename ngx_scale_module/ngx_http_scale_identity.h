
/*
 * Reading a client's identity from a request body: a plain name, or a
 * JSON object with id, name and address.  Pure functions of the bytes, so
 * that they can be fuzzed outside NGINX.
 */


#ifndef _NGX_HTTP_SCALE_IDENTITY_H_INCLUDED_
#define _NGX_HTTP_SCALE_IDENTITY_H_INCLUDED_


#include "ngx_http_scale_registry.h"


ngx_int_t ngx_http_scale_identity_parse(ngx_pool_t *pool, u_char *body,
    size_t len, ngx_http_scale_identity_t *ident, u_char **reason);
ngx_int_t ngx_http_scale_identity_valid_name(u_char *p, size_t len);
ngx_int_t ngx_http_scale_identity_valid_addr(u_char *p, size_t len);


#endif /* _NGX_HTTP_SCALE_IDENTITY_H_INCLUDED_ */
