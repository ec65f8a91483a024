
/*
 * GET /status-page: the dashboard.  The HTML, CSS and JavaScript of
 * ngx_scale_module/html/ are turned into one static array at build time
 * (scripts/gen-page.pl), so the page is served like empty_gif serves its
 * image: no file, no formatting, no lock.
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

    if (ngx_http_scale_read_only(r, &rc) != NGX_OK) {
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




