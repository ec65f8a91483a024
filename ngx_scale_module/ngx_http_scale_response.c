
/*
 * Reading request bodies and writing answers, shared by every handler of
 * the module: bodies bounded by scale_body_max, JSON encoded by jansson
 * into request memory, errors as {"error": reason}, 405 with Allow.
 */


#include <jansson.h>

#include "ngx_http_scale_module.h"


/*
 * GET and HEAD only, any body dropped: what every read-only route checks
 * first.  NGX_OK: go on.  NGX_DECLINED: the request was answered (405)
 * or failed, and *answered is the code the handler returns.
 */
ngx_int_t
ngx_http_scale_read_only(ngx_http_request_t *r, ngx_int_t *answered)
{
    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        *answered = ngx_http_scale_not_allowed(r, "GET, HEAD");
        return NGX_DECLINED;
    }

    *answered = ngx_http_discard_request_body(r);

    return *answered == NGX_OK ? NGX_OK : NGX_DECLINED;
}


/* POST only, and a body no larger than scale_body_max */
ngx_int_t
ngx_http_scale_read_body(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt post)
{
    ngx_int_t                    rc;
    ngx_http_scale_main_conf_t  *smcf;

    if (!(r->method & NGX_HTTP_POST)) {
        return ngx_http_scale_not_allowed(r, "POST");
    }

    smcf = ngx_http_get_module_main_conf(r, ngx_http_scale_module);

    if (r->headers_in.content_length_n > (off_t) smcf->body_max) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        r->keepalive = 0;
        return ngx_http_scale_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                         "request body is too large");
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, post);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * The body read by ngx_http_scale_read_body() as one string in request
 * memory (it may sit in a temporary file when the client body buffer is
 * small, and a chunked body has no Content-Length to check in advance).
 * NGX_OK, or NGX_DECLINED when the request was answered (413, 500) and
 * *answered holds the code to finalize it with.
 */
ngx_int_t
ngx_http_scale_body(ngx_http_request_t *r, ngx_str_t *body,
    ngx_int_t *answered)
{
    off_t                         len;
    u_char                       *p;
    ssize_t                       n;
    ngx_buf_t                    *b;
    ngx_chain_t                  *cl;
    ngx_http_scale_main_conf_t   *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_scale_module);

    len = 0;

    if (r->request_body) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            len += ngx_buf_size(cl->buf);
        }
    }

    if (len > (off_t) smcf->body_max) {
        r->keepalive = 0;
        *answered = ngx_http_scale_send_error(r,
                                         NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                         "request body is too large");
        return NGX_DECLINED;
    }

    body->data = ngx_pnalloc(r->pool, len + 1);
    if (body->data == NULL) {
        *answered = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_DECLINED;
    }

    p = body->data;

    if (r->request_body) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            b = cl->buf;

            if (b->in_file) {
                n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                                  b->file_pos);
                if (n != b->file_last - b->file_pos) {
                    *answered = NGX_HTTP_INTERNAL_SERVER_ERROR;
                    return NGX_DECLINED;
                }

                p += n;
                continue;
            }

            /* the last buffer of a chunked body may be empty, pos NULL */
            if (b->last != b->pos) {
                p = ngx_cpymem(p, b->pos, b->last - b->pos);
            }
        }
    }

    body->len = p - body->data;

    return NGX_OK;
}


/* the value must live as long as the request (static or r->pool) */
ngx_int_t
ngx_http_scale_set_header(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;

    return NGX_OK;
}


/* 405 with Allow and a JSON reason, after the body is dropped */
ngx_int_t
ngx_http_scale_not_allowed(ngx_http_request_t *r, const char *allow)
{
    ngx_int_t  rc;
    ngx_str_t  value;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    value.data = (u_char *) allow;
    value.len = ngx_strlen(allow);

    if (ngx_http_scale_set_header(r, "Allow", &value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_scale_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                     "method not allowed");
}


/* {"error": reason}, escaped by jansson */
ngx_int_t
ngx_http_scale_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *reason)
{
    json_t  *doc;

    doc = json_pack("{s:s}", "error", reason);
    if (doc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_scale_send_json(r, status, doc);
}


/* encodes into request memory and sends; takes the reference to json */
ngx_int_t
ngx_http_scale_send_json(ngx_http_request_t *r, ngx_uint_t status,
    void *json)
{
    u_char  *buf;
    size_t   size, len;

    size = 512;

    for ( ;; ) {
        buf = ngx_pnalloc(r->pool, size);
        if (buf == NULL) {
            json_decref(json);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        len = json_dumpb(json, (char *) buf, size - 1,
                         JSON_COMPACT | JSON_REAL_PRECISION(6));

        if (len == 0) {
            json_decref(json);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (len < size) {
            break;
        }

        size = len + 1;
    }

    json_decref(json);

    buf[len++] = '\n';

    return ngx_http_scale_send_text(r, status, "application/json", buf, len);
}


/* sends data (static or request memory) as the whole response body */
ngx_int_t
ngx_http_scale_send_text(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, u_char *data, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    ngx_http_scale_stats_end(status);

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
