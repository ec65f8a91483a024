
/*
 * GET /status-page: the dashboard.  The HTML, CSS and JavaScript of
 * ngx_scale_module/html/ are turned into one static array at build time
 * (scripts/gen-page.pl), so the page is served like empty_gif serves its
 * image: no file, no formatting, no lock.  Also the small helpers the
 * dashboard's other endpoints share: text answers and 405.
 */


#include "ngx_http_scale_module.h"

#include <ngx_http_scale_page_html.h>


static ngx_int_t ngx_http_scale_page_header(ngx_http_request_t *r,
    const char *name, const char *value);


/* GET/HEAD only; the page needs no lock and no request memory */
ngx_int_t
ngx_http_scale_page_handler(ngx_http_request_t *r)
{
    ngx_int_t         rc;
    ngx_table_elt_t  *h;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_scale_not_allowed_json(r, "GET, HEAD");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /* the hashes of the inline script and style are the only code the
     * page may run: nothing from elsewhere, even if a name got through */
    if (ngx_http_scale_page_header(r, "Content-Security-Policy",
                                   NGX_HTTP_SCALE_PAGE_CSP) != NGX_OK
        || ngx_http_scale_page_header(r, "X-Content-Type-Options",
                                      "nosniff") != NGX_OK
        || ngx_http_scale_page_header(r, "Referrer-Policy",
                                      "no-referrer") != NGX_OK
        || ngx_http_scale_page_header(r, "Cache-Control",
                                      "no-cache") != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a strong validator: the not_modified filter answers 304 for us */
    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "ETag");
    ngx_str_set(&h->value, NGX_HTTP_SCALE_PAGE_ETAG);
    r->headers_out.etag = h;

    return ngx_http_scale_send_text(r, NGX_HTTP_OK,
                                    "text/html; charset=utf-8",
                                    ngx_http_scale_page_html,
                                    sizeof(ngx_http_scale_page_html) - 1);
}


/* static strings only: the values live as long as the module */
static ngx_int_t
ngx_http_scale_page_header(ngx_http_request_t *r, const char *name,
    const char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);

    return NGX_OK;
}


/* sends data (static or request memory) as the whole response body */
ngx_int_t
ngx_http_scale_send_text(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, u_char *data, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type.len = ngx_strlen(type);
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = data;
    b->last = data + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* 405 with Allow and a JSON reason, after the body is dropped */
ngx_int_t
ngx_http_scale_not_allowed_json(ngx_http_request_t *r, const char *allow)
{
    ngx_int_t  rc;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_scale_page_header(r, "Allow", allow) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_scale_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                     "method not allowed");
}
