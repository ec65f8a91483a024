
/*
 * A hiredis 0.14 adapter for the NGINX event loop.  hiredis owns the
 * socket (redisFree closes it); NGINX gets an ngx_connection_t around
 * the same fd so that the read and write events call
 * redisAsyncHandleRead/Write.  The events are level-triggered: hiredis
 * reads at most 16 KB per call, and an edge-triggered event would stall
 * on a larger reply.  0.14 has no timer hook, so the connect timeout and
 * the reconnect backoff are NGINX timers.  hiredis calls the cleanup hook
 * exactly once whenever a context goes away (error, close, or our own
 * free), so that is where the link learns it is down.
 */


#include "ngx_http_scale_hiredis.h"


#define NGX_HTTP_SCALE_LINK_BACKOFF_MIN  100
#define NGX_HTTP_SCALE_LINK_BACKOFF_MAX  5000


static void ngx_http_scale_link_add_read(void *privdata);
static void ngx_http_scale_link_del_read(void *privdata);
static void ngx_http_scale_link_add_write(void *privdata);
static void ngx_http_scale_link_del_write(void *privdata);
static void ngx_http_scale_link_cleanup(void *privdata);
static void ngx_http_scale_link_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_scale_link_read(ngx_event_t *ev);
static void ngx_http_scale_link_write(ngx_event_t *ev);
static void ngx_http_scale_link_timer(ngx_event_t *ev);
static void ngx_http_scale_link_retry(ngx_http_scale_link_t *link);
static void ngx_http_scale_link_error(ngx_http_scale_link_t *link,
    const char *text);


/*
 * Starts a non-blocking connect to link->ip (an address, never a name:
 * hiredis would resolve a name with a blocking call).  Any failure is
 * reported through link->lost and retried after a backoff.
 */
void
ngx_http_scale_link_start(ngx_http_scale_link_t *link)
{
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    link->timer.handler = ngx_http_scale_link_timer;
    link->timer.data = link;
    link->timer.log = link->log;
    link->timer.cancelable = 1;

    if (link->stopped || link->ac) {
        return;
    }

    link->error[0] = '\0';

    ac = redisAsyncConnect(link->ip, link->port);

    if (ac == NULL) {
        ngx_http_scale_link_error(link, "out of memory");
        goto failed;
    }

    if (ac->err) {
        ngx_http_scale_link_error(link, ac->errstr);
        redisAsyncFree(ac);
        goto failed;
    }

    c = ngx_get_connection(ac->c.fd, link->log);

    if (c == NULL) {
        ngx_http_scale_link_error(link, "no free connection in the worker");
        redisAsyncFree(ac);
        goto failed;
    }

    c->data = link;
    c->read->handler = ngx_http_scale_link_read;
    c->write->handler = ngx_http_scale_link_write;
    c->read->log = link->log;
    c->write->log = link->log;

    link->ac = ac;
    link->conn = c;
    link->state = NGX_HTTP_SCALE_LINK_CONNECTING;

    ac->data = link;
    ac->ev.data = link;
    ac->ev.addRead = ngx_http_scale_link_add_read;
    ac->ev.delRead = ngx_http_scale_link_del_read;
    ac->ev.addWrite = ngx_http_scale_link_add_write;
    ac->ev.delWrite = ngx_http_scale_link_del_write;
    ac->ev.cleanup = ngx_http_scale_link_cleanup;

    /* the first write event means connect() finished */
    (void) redisAsyncSetConnectCallback(ac, ngx_http_scale_link_connected);

    ngx_add_timer(&link->timer, link->timeout);

    return;

failed:

    link->lost(link);
    ngx_http_scale_link_retry(link);
}


/* drops the connection (from anywhere, even a hiredis callback); the
 * cleanup hook reports it lost and schedules the reconnect */
void
ngx_http_scale_link_close(ngx_http_scale_link_t *link)
{
    if (link->ac) {
        redisAsyncFree(link->ac);
    }
}


/* for good: worker exit; pending callbacks get NULL replies */
void
ngx_http_scale_link_stop(ngx_http_scale_link_t *link)
{
    link->stopped = 1;

    if (link->timer.timer_set) {
        ngx_del_timer(&link->timer);
    }

    if (link->ac) {
        redisAsyncFree(link->ac);
    }
}


/* connect() finished, well or not; the owner takes over when well */
static void
ngx_http_scale_link_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_scale_link_t  *link;

    link = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees the context right after: cleanup follows */
        ngx_http_scale_link_error(link, ac->c.errstr);
        return;
    }

    link->state = NGX_HTTP_SCALE_LINK_UP;

    if (link->timer.timer_set) {
        ngx_del_timer(&link->timer);
    }

    link->up(link);
}


/* hiredis wants to read: the hooks must be idempotent */
static void
ngx_http_scale_link_add_read(void *privdata)
{
    ngx_http_scale_link_t  *link = privdata;

    ngx_connection_t  *c;

    c = link->conn;

    if (c && !c->read->active
        && ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, link->log, 0,
                      "scale redis %s: cannot watch the socket", link->name);
    }
}


/* hiredis stops reading */
static void
ngx_http_scale_link_del_read(void *privdata)
{
    ngx_http_scale_link_t  *link = privdata;

    ngx_connection_t  *c;

    c = link->conn;

    if (c && c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


/* hiredis has output waiting */
static void
ngx_http_scale_link_add_write(void *privdata)
{
    ngx_http_scale_link_t  *link = privdata;

    ngx_connection_t  *c;

    c = link->conn;

    if (c && !c->write->active
        && ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, link->log, 0,
                      "scale redis %s: cannot watch the socket", link->name);
    }
}


/* the output is flushed */
static void
ngx_http_scale_link_del_write(void *privdata)
{
    ngx_http_scale_link_t  *link = privdata;

    ngx_connection_t  *c;

    c = link->conn;

    if (c && c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


/*
 * hiredis is about to free the context and close the fd: forget the
 * events (NGX_CLOSE_EVENT: the close removes the fd from epoll), give the
 * connection back without closing it, and report the link lost.
 */
static void
ngx_http_scale_link_cleanup(void *privdata)
{
    ngx_http_scale_link_t  *link = privdata;

    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    ac = link->ac;

    if (ac == NULL) {
        return;
    }

    c = link->conn;

    if (c) {
        if (c->read->active) {
            (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
        }

        if (c->write->active) {
            (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
        }

        if (c->read->posted) {
            ngx_delete_posted_event(c->read);
        }

        if (c->write->posted) {
            ngx_delete_posted_event(c->write);
        }

        ngx_free_connection(c);
        c->fd = (ngx_socket_t) -1;
    }

    if (link->error[0] == '\0') {
        ngx_http_scale_link_error(link, ac->c.err ? ac->c.errstr
                                                  : "connection closed");
    }

    link->ac = NULL;
    link->conn = NULL;
    link->state = NGX_HTTP_SCALE_LINK_DOWN;

    if (link->timer.timer_set) {
        ngx_del_timer(&link->timer);
    }

    if (link->stopped) {
        return;
    }

    link->lost(link);
    ngx_http_scale_link_retry(link);
}


/* readable socket: hiredis reads and runs the callbacks; it may free
 * the context (and the connection) before it returns */
static void
ngx_http_scale_link_read(ngx_event_t *ev)
{
    ngx_connection_t       *c;
    ngx_http_scale_link_t  *link;

    c = ev->data;
    link = c->data;

    if (link->ac) {
        redisAsyncHandleRead(link->ac);
    }
}


/* writable socket: the first time, the connect completed */
static void
ngx_http_scale_link_write(ngx_event_t *ev)
{
    ngx_connection_t       *c;
    ngx_http_scale_link_t  *link;

    c = ev->data;
    link = c->data;

    if (link->ac) {
        redisAsyncHandleWrite(link->ac);
    }
}


/* connect timeout while connecting, reconnect while down */
static void
ngx_http_scale_link_timer(ngx_event_t *ev)
{
    ngx_http_scale_link_t  *link;

    link = ev->data;

    if (link->stopped) {
        return;
    }

    if (link->state == NGX_HTTP_SCALE_LINK_CONNECTING) {
        ngx_http_scale_link_error(link, "connect timed out");
        ngx_http_scale_link_close(link);
        return;
    }

    if (link->state == NGX_HTTP_SCALE_LINK_DOWN) {
        ngx_http_scale_link_start(link);
    }
}


/* exponential backoff, 100 ms to 5 s; the owner resets it when the
 * link has proved useful (authenticated), not merely connected */
static void
ngx_http_scale_link_retry(ngx_http_scale_link_t *link)
{
    if (link->stopped) {
        return;
    }

    link->attempts++;
    link->backoff = link->backoff ? ngx_min(link->backoff * 2,
                                            NGX_HTTP_SCALE_LINK_BACKOFF_MAX)
                                  : NGX_HTTP_SCALE_LINK_BACKOFF_MIN;

    if (link->timer.timer_set) {
        ngx_del_timer(&link->timer);
    }

    ngx_add_timer(&link->timer, link->backoff);
}


/* keeps why the link failed, for the owner's log line */
static void
ngx_http_scale_link_error(ngx_http_scale_link_t *link, const char *text)
{
    (void) ngx_cpystrn(link->error, (u_char *) text, sizeof(link->error));
}
