
/*
 * A hiredis (0.14) asynchronous connection driven by the NGINX event
 * loop: a "link" that connects, reconnects with backoff and tells its
 * owner when it is up and when it is lost.
 */


#ifndef _NGX_HTTP_SCALE_HIREDIS_H_INCLUDED_
#define _NGX_HTTP_SCALE_HIREDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


#define NGX_HTTP_SCALE_LINK_DOWN        0
#define NGX_HTTP_SCALE_LINK_CONNECTING  1
#define NGX_HTTP_SCALE_LINK_UP          2


typedef struct ngx_http_scale_link_s  ngx_http_scale_link_t;

typedef void (*ngx_http_scale_link_pt)(ngx_http_scale_link_t *link);


struct ngx_http_scale_link_s {
    redisAsyncContext          *ac;            /* NULL while down */
    ngx_connection_t           *conn;          /* ac's socket for NGINX */
    ngx_event_t                 timer;         /* connect timeout, retry */
    ngx_log_t                  *log;
    const char                 *name;          /* for the log */
    char                       *ip;
    int                         port;
    ngx_uint_t                  state;
    ngx_msec_t                  timeout;
    ngx_msec_t                  backoff;
    ngx_uint_t                  attempts;      /* failed in a row */
    void                       *data;
    ngx_http_scale_link_pt      up;            /* connected */
    ngx_http_scale_link_pt      lost;          /* was up, or failed */
    u_char                      error[128];    /* why it went down */
    unsigned                    stopped:1;
};


void ngx_http_scale_link_start(ngx_http_scale_link_t *link);
void ngx_http_scale_link_close(ngx_http_scale_link_t *link);
void ngx_http_scale_link_stop(ngx_http_scale_link_t *link);


#endif /* _NGX_HTTP_SCALE_HIREDIS_H_INCLUDED_ */
