/*
 * scale-client: HTTP server helpers (routing, JSON bodies and answers)
 * and the outgoing request path with its connection cache.
 */

#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <event2/buffer.h>

#include "http.h"


#define SC_CONN_BUCKETS  4096


struct sc_conn_s {
    struct evhttp_connection  *evcon;
    sc_conn_t                 *next;
    unsigned                   inflight;
    int64_t                    used;
    char                       key[SC_ADDR_MAX + 8];
};


static struct {
    struct event_base         *base;
    struct timeval             timeout;
    unsigned                   max;
    unsigned                   n;
    sc_conn_t                 *buckets[SC_CONN_BUCKETS];
} sc_http;


static const char *sc_http_reason(int code);
static void sc_http_call_cb(struct evhttp_request *req, void *arg);
static void sc_http_call_error(enum evhttp_request_error error, void *arg);
static void sc_http_call_fail(evutil_socket_t fd, short what, void *arg);
static void sc_http_call_finish(sc_call_t *call, int status,
    struct evhttp_request *req);
static sc_conn_t *sc_http_conn_get(const char *host, unsigned port);
static int sc_http_conn_evict(void);
static uint32_t sc_http_hash(const char *s);


/* The cache and all connections hang off the one event base. */
int
sc_http_init(struct event_base *base, int64_t timeout_ms, unsigned max_conns)
{
    sc_http.base = base;
    sc_tv_ms(&sc_http.timeout, timeout_ms);
    sc_http.max = max_conns;
    sc_http.n = 0;

    return 0;
}


/* Frees idle cached connections at exit; busy ones die with the base. */
void
sc_http_done(void)
{
    unsigned    i;
    sc_conn_t  *c, *next;

    for (i = 0; i < SC_CONN_BUCKETS; i++) {
        for (c = sc_http.buckets[i]; c; c = next) {
            next = c->next;
            evhttp_connection_free(c->evcon);
            free(c);
        }
        sc_http.buckets[i] = NULL;
    }

    sc_http.n = 0;
}


/*
 * A loopback listener whose every request goes to one callback. Our own
 * code answers wrong methods and oversize bodies, so libevent is told to
 * pass nearly everything through.
 */
struct evhttp *
sc_http_listen(const char *host, unsigned port, size_t body_max,
    void (*cb)(struct evhttp_request *, void *), void *data)
{
    struct evhttp  *http;

    http = evhttp_new(sc_http.base);
    if (http == NULL) {
        return NULL;
    }

    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST
                               | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT
                               | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS
                               | EVHTTP_REQ_PATCH);
    evhttp_set_max_body_size(http, body_max * 4 + 4096);
    evhttp_set_max_headers_size(http, 16384);
    evhttp_set_timeout(http, 120);
    evhttp_set_gencb(http, cb, data);

    if (evhttp_bind_socket_with_handle(http, host, port) == NULL) {
        evhttp_free(http);
        return NULL;
    }

    return http;
}


/*
 * Every listener's single entry: exact path match, then method, then the
 * query string; unknown routes get 404, wrong methods 405 with Allow.
 */
void
sc_http_dispatch(struct evhttp_request *req, const sc_route_t *routes,
    void *data, size_t body_max)
{
    char                     allow[64];
    unsigned                 method;
    const char              *query;
    sc_http_req_t            r;
    const sc_route_t        *rt;
    const struct evhttp_uri *uri;

    memset(&r, 0, sizeof(sc_http_req_t));
    TAILQ_INIT(&r.args);
    r.req = req;
    r.data = data;
    r.body_max = body_max;

    uri = evhttp_request_get_evhttp_uri(req);
    r.path = uri ? evhttp_uri_get_path(uri) : NULL;

    if (r.path == NULL || r.path[0] == '\0') {
        r.path = "/";
    }

    for (rt = routes; rt->path; rt++) {
        if (strcmp(rt->path, r.path) == 0) {
            break;
        }
    }

    if (rt->path == NULL) {
        sc_http_error(req, 404, "no such route: %.64s", r.path);
        return;
    }

    method = evhttp_request_get_command(req);

    if (!(method & rt->methods)) {
        snprintf(allow, sizeof(allow), "%s%s",
                 (rt->methods & EVHTTP_REQ_GET) ? "GET, HEAD" : "",
                 (rt->methods & EVHTTP_REQ_POST)
                 ? ((rt->methods & EVHTTP_REQ_GET) ? ", POST" : "POST") : "");
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "Allow", allow);
        sc_http_error(req, 405, "method not allowed, use %s", allow);
        return;
    }

    query = uri ? evhttp_uri_get_query(uri) : NULL;

    if (query && evhttp_parse_query_str(query, &r.args) != 0) {
        sc_http_error(req, 400, "malformed query string");
        return;
    }

    rt->handler(&r);

    evhttp_clear_headers(&r.args);
}


/*
 * The request body as a JSON object, or NULL after a 4xx answer. An empty
 * body stands for {} where the route allows it.
 */
json_t *
sc_http_body(sc_http_req_t *r, int empty_ok)
{
    size_t            len;
    json_t           *json;
    unsigned char    *data;
    json_error_t      err;
    struct evbuffer  *buf;

    buf = evhttp_request_get_input_buffer(r->req);
    len = evbuffer_get_length(buf);

    if (len > r->body_max) {
        sc_http_error(r->req, 413, "body of %zu bytes exceeds %zu",
                      len, r->body_max);
        return NULL;
    }

    if (len == 0) {
        if (empty_ok) {
            return json_object();
        }

        sc_http_error(r->req, 400, "a JSON object body is required");
        return NULL;
    }

    data = evbuffer_pullup(buf, len);

    json = json_loadb((const char *) data, len, JSON_REJECT_DUPLICATES,
                      &err);
    if (json == NULL) {
        sc_http_error(r->req, 400, "invalid JSON: %s", err.text);
        return NULL;
    }

    if (!json_is_object(json)) {
        json_decref(json);
        sc_http_error(r->req, 400, "the body must be a JSON object");
        return NULL;
    }

    return json;
}


/* Sends a JSON answer and releases the caller's reference. */
void
sc_http_json(struct evhttp_request *req, int code, json_t *json)
{
    char  *s;

    s = json ? json_dumps(json, JSON_COMPACT) : NULL;
    json_decref(json);

    if (s == NULL) {
        sc_http_raw(req, 500, "application/json",
                    "{\"error\":\"out of memory\"}", 25);
        return;
    }

    sc_http_raw(req, code, "application/json", s, strlen(s));
    free(s);
}


/* Every 4xx/5xx of ours has the same shape: {"error": "..."}. */
void
sc_http_error(struct evhttp_request *req, int code, const char *fmt, ...)
{
    char      msg[256];
    va_list   ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    sc_http_json(req, code, json_pack("{ss}", "error", msg));
}


/* The one place that sends an answer: headers, body, reply. */
void
sc_http_raw(struct evhttp_request *req, int code, const char *type,
    const void *data, size_t len)
{
    struct evbuffer    *buf;
    struct evkeyvalq   *h;

    h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");

    buf = evbuffer_new();
    if (buf == NULL) {
        evhttp_send_reply(req, 500, "Internal Server Error", NULL);
        return;
    }

    evbuffer_add(buf, data, len);
    evhttp_send_reply(req, code, sc_http_reason(code), buf);
    evbuffer_free(buf);
}


/* Reason phrases for the codes we send. */
static const char *
sc_http_reason(int code)
{
    switch (code) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    default:  return code < 400 ? "OK" : "Error";
    }
}


/*
 * Sends one request; done() runs exactly once, later, unless the owner
 * cancels first. Peer traffic shares cached keep-alive connections so a
 * swarm does not burn an ephemeral port per message; SC_CALL_FRESH takes
 * a connection of its own (bootstrap requests, /delete at exit).
 */
int
sc_http_call(sc_calls_t *owner, const char *host, unsigned port,
    int method, const char *path, json_t *body, unsigned flags,
    sc_call_done_pt done, void *data)
{
    char                      *s, hostport[SC_ADDR_MAX + 8];
    sc_call_t                 *call;
    sc_conn_t                 *conn;
    struct timeval             now;
    struct evkeyvalq          *h;
    struct evhttp_request     *req;
    struct evhttp_connection  *evcon;

    call = calloc(1, sizeof(sc_call_t));
    if (call == NULL) {
        return -1;
    }

    call->done = done;
    call->data = data;
    call->owner = owner;

    if (owner) {
        call->next = owner->head;
        if (owner->head) {
            owner->head->prev = call;
        }
        owner->head = call;
        owner->n++;
    }

    conn = (flags & SC_CALL_FRESH) ? NULL : sc_http_conn_get(host, port);

    if (conn) {
        evcon = conn->evcon;
        conn->inflight++;
        call->conn = conn;

    } else {
        evcon = evhttp_connection_base_new(sc_http.base, NULL, host, port);
        if (evcon == NULL) {
            goto failed;
        }
        evhttp_connection_set_timeout_tv(evcon, &sc_http.timeout);
    }

    req = evhttp_request_new(sc_http_call_cb, call);
    if (req == NULL) {
        goto failed;
    }

    evhttp_request_set_error_cb(req, sc_http_call_error);

    snprintf(hostport, sizeof(hostport), strchr(host, ':') ? "[%s]:%u"
             : "%s:%u", host, port);

    h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", hostport);
    evhttp_add_header(h, "Accept", "application/json");

    if (conn == NULL) {
        /* else libevent keeps the auto-free connection until the peer
         * closes it (nginx: keepalive_timeout later) */
        evhttp_add_header(h, "Connection", "close");
    }

    if (body) {
        s = json_dumps(body, JSON_COMPACT);
        if (s == NULL) {
            evhttp_request_free(req);
            goto failed;
        }

        evhttp_add_header(h, "Content-Type", "application/json");
        evbuffer_add(evhttp_request_get_output_buffer(req), s, strlen(s));
        free(s);
    }

    if (evhttp_make_request(evcon, req, method, path) != 0) {
        evcon = conn ? NULL : evcon;
        goto failed;
    }

    if (conn == NULL) {
        evhttp_connection_free_on_completion(evcon);
    }

    return 0;

failed:

    sc_log(SC_LOG_WARN, "request to %s:%u%s could not be sent", host, port,
           path);

    if (conn == NULL && evcon) {
        evhttp_connection_free(evcon);
    }

    call->error = "request could not be sent";
    now.tv_sec = 0;
    now.tv_usec = 0;

    if (event_base_once(sc_http.base, -1, EV_TIMEOUT, sc_http_call_fail,
                        call, &now) != 0)
    {
        call->done = NULL;
        sc_http_call_finish(call, 0, NULL);
    }

    return 0;
}


/* A peer that goes away keeps its calls alive but no longer listens. */
void
sc_http_calls_cancel(sc_calls_t *owner)
{
    sc_call_t  *call, *next;

    for (call = owner->head; call; call = next) {
        next = call->next;
        call->done = NULL;
        call->owner = NULL;
        call->prev = NULL;
        call->next = NULL;
    }

    owner->head = NULL;
    owner->n = 0;
}


/* Parses a reply body of any JSON type; NULL when absent or too big. */
json_t *
sc_http_reply_json(struct evhttp_request *req, size_t max)
{
    size_t            len;
    unsigned char    *data;
    struct evbuffer  *buf;

    if (req == NULL) {
        return NULL;
    }

    buf = evhttp_request_get_input_buffer(req);
    len = evbuffer_get_length(buf);

    if (len == 0 || len > max) {
        return NULL;
    }

    data = evbuffer_pullup(buf, len);

    return json_loadb((const char *) data, len, JSON_DECODE_ANY, NULL);
}


/* libevent's completion callback: a NULL request is a failure. */
static void
sc_http_call_cb(struct evhttp_request *req, void *arg)
{
    sc_call_t  *call = arg;

    sc_http_call_finish(call, req ? evhttp_request_get_response_code(req)
                                  : 0, req);
}


/* libevent names the failure before it calls back; keep the name. */
static void
sc_http_call_error(enum evhttp_request_error error, void *arg)
{
    sc_call_t  *call = arg;

    switch (error) {
    case EVREQ_HTTP_TIMEOUT:
        call->error = "timeout";
        break;
    case EVREQ_HTTP_EOF:
        call->error = "connection closed";
        break;
    case EVREQ_HTTP_INVALID_HEADER:
        call->error = "invalid reply header";
        break;
    case EVREQ_HTTP_DATA_TOO_LONG:
        call->error = "reply too long";
        break;
    case EVREQ_HTTP_REQUEST_CANCEL:
        call->error = "cancelled";
        break;
    default:
        call->error = "connection error";
        break;
    }
}


/* A request that could not be sent still completes, later. */
static void
sc_http_call_fail(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;

    sc_http_call_finish(arg, 0, NULL);
}


/* Runs done() once (unless orphaned) and frees the call. */
static void
sc_http_call_finish(sc_call_t *call, int status, struct evhttp_request *req)
{
    if (call->conn) {
        call->conn->inflight--;
        call->conn->used = sc_now_ms();
    }

    if (call->owner) {
        if (call->prev) {
            call->prev->next = call->next;
        } else {
            call->owner->head = call->next;
        }
        if (call->next) {
            call->next->prev = call->prev;
        }
        call->owner->n--;
    }

    if (status == 0 && call->error == NULL) {
        call->error = "connection refused or reset";
    }

    if (call->done) {
        call->done(call->data, status, req, status ? NULL : call->error);
    }

    free(call);
}


/*
 * The cached connection for host:port, created on first use. When the
 * cache is full and nothing idle can go, returns NULL: the caller then
 * uses a connection of its own for this one request.
 */
static sc_conn_t *
sc_http_conn_get(const char *host, unsigned port)
{
    char        key[SC_ADDR_MAX + 8];
    uint32_t    b;
    sc_conn_t  *c;

    snprintf(key, sizeof(key), "%s:%u", host, port);
    b = sc_http_hash(key) % SC_CONN_BUCKETS;

    for (c = sc_http.buckets[b]; c; c = c->next) {
        if (strcmp(c->key, key) == 0) {
            return c;
        }
    }

    if (sc_http.n >= sc_http.max && sc_http_conn_evict() != 0) {
        return NULL;
    }

    c = calloc(1, sizeof(sc_conn_t));
    if (c == NULL) {
        return NULL;
    }

    c->evcon = evhttp_connection_base_new(sc_http.base, NULL, host, port);
    if (c->evcon == NULL) {
        free(c);
        return NULL;
    }

    evhttp_connection_set_timeout_tv(c->evcon, &sc_http.timeout);
    strcpy(c->key, key);
    c->next = sc_http.buckets[b];
    sc_http.buckets[b] = c;
    sc_http.n++;

    return c;
}


/* Frees the least recently used idle connection; O(cache), rare. */
static int
sc_http_conn_evict(void)
{
    unsigned     i;
    sc_conn_t  **pp, **victim, *c;

    victim = NULL;

    for (i = 0; i < SC_CONN_BUCKETS; i++) {
        for (pp = &sc_http.buckets[i]; *pp; pp = &(*pp)->next) {
            if ((*pp)->inflight == 0
                && (victim == NULL || (*pp)->used < (*victim)->used))
            {
                victim = pp;
            }
        }
    }

    if (victim == NULL) {
        return -1;
    }

    c = *victim;
    *victim = c->next;
    evhttp_connection_free(c->evcon);
    free(c);
    sc_http.n--;

    return 0;
}


/* FNV-1a over "host:port". */
static uint32_t
sc_http_hash(const char *s)
{
    uint32_t  h = 2166136261u;

    while (*s) {
        h = (h ^ (unsigned char) *s++) * 16777619u;
    }

    return h;
}
