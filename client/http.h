/*
 * scale-client: the HTTP plumbing on libevent. The server side routes a
 * request to a handler and answers JSON; the client side sends requests
 * over a bounded cache of keep-alive connections, one per target address.
 */

#ifndef SC_HTTP_H
#define SC_HTTP_H


#include <sys/queue.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "core.h"


#define SC_GET     (EVHTTP_REQ_GET | EVHTTP_REQ_HEAD)
#define SC_POST    EVHTTP_REQ_POST

#define SC_CALL_FRESH   1


typedef struct sc_http_req_s  sc_http_req_t;
typedef struct sc_call_s      sc_call_t;
typedef struct sc_calls_s     sc_calls_t;
typedef struct sc_conn_s      sc_conn_t;

typedef void (*sc_route_handler_pt)(sc_http_req_t *r);

typedef void (*sc_call_done_pt)(void *data, int status,
    struct evhttp_request *req, const char *error);


struct sc_http_req_s {
    struct evhttp_request  *req;
    const char             *path;
    struct evkeyvalq        args;
    void                   *data;
    size_t                  body_max;
};


typedef struct {
    const char             *path;
    unsigned                methods;
    sc_route_handler_pt     handler;
} sc_route_t;


/* Outgoing calls owned by one peer, so its removal can orphan them. */
struct sc_calls_s {
    sc_call_t              *head;
    unsigned                n;
};


struct sc_call_s {
    sc_call_done_pt         done;
    void                   *data;
    sc_calls_t             *owner;
    sc_call_t              *prev;
    sc_call_t              *next;
    sc_conn_t              *conn;
    const char             *error;
};


int sc_http_init(struct event_base *base, int64_t timeout_ms,
    unsigned max_conns);
void sc_http_done(void);
struct evhttp *sc_http_listen(const char *host, unsigned port,
    size_t body_max, void (*cb)(struct evhttp_request *, void *),
    void *data);

void sc_http_dispatch(struct evhttp_request *req, const sc_route_t *routes,
    void *data, size_t body_max);
json_t *sc_http_body(sc_http_req_t *r, int empty_ok);
void sc_http_json(struct evhttp_request *req, int code, json_t *json);
void sc_http_error(struct evhttp_request *req, int code, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));
void sc_http_raw(struct evhttp_request *req, int code, const char *type,
    const void *data, size_t len);

int sc_http_call(sc_calls_t *owner, const char *host, unsigned port,
    int method, const char *path, json_t *body, unsigned flags,
    sc_call_done_pt done, void *data);
void sc_http_calls_cancel(sc_calls_t *owner);
json_t *sc_http_reply_json(struct evhttp_request *req, size_t max);


#endif /* SC_HTTP_H */
