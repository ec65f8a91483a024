/*
 * scale-client: the HTTP API of one peer. The route table below is the
 * whole surface; larger handlers live with their feature (exchange.c,
 * chat.c).
 */

#include <stdlib.h>

#include "peer.h"
#include "metrics.h"
#include "ui_html.h"


struct sc_probe_s {
    sc_probe_t             *prev;
    sc_probe_t             *next;
    sc_peer_t              *peer;
    struct evhttp_request  *req;
    struct event           *ev;
};


static void sc_http_api_ui(sc_http_req_t *r);
static void sc_http_api_probe(sc_http_req_t *r);
static void sc_http_api_probe_answer(sc_peer_t *peer,
    struct evhttp_request *req);
static void sc_http_api_probe_late(evutil_socket_t fd, short what,
    void *arg);
static void sc_http_api_state(sc_http_req_t *r);
static void sc_http_api_peers(sc_http_req_t *r);
static void sc_http_api_connect(sc_http_req_t *r);
static void sc_http_api_disconnect(sc_http_req_t *r);
static void sc_http_api_disconnected(void *data, int status,
    const char *error);
static int sc_http_api_no_args(sc_http_req_t *r);


static const sc_route_t  sc_http_api_routes[] = {
    { "/",                     SC_GET,  sc_http_api_ui },
    { "/alive",                SC_GET,  sc_http_api_probe },
    { "/health",               SC_GET,  sc_http_api_probe },
    { "/state",                SC_GET,  sc_http_api_state },
    { "/peers",                SC_GET,  sc_http_api_peers },
    { "/contacts",             SC_POST, sc_exchange_handler },
    { "/chat/send",            SC_POST, sc_chat_send_handler },
    { "/chat/message",         SC_POST, sc_chat_message_handler },
    { "/chat/messages",        SC_GET,  sc_chat_messages_handler },
    { "/bootstrap/connect",    SC_POST, sc_http_api_connect },
    { "/bootstrap/disconnect", SC_POST, sc_http_api_disconnect },
    { NULL, 0, NULL }
};


/* The peer's listener callback. */
void
sc_http_api_handler(struct evhttp_request *req, void *data)
{
    sc_peer_t  *peer = data;

    sc_http_dispatch(req, sc_http_api_routes, peer, peer->conf->body_max);
}


/* The page ships inside the binary (ui.html -> ui_html.h at build). */
static void
sc_http_api_ui(sc_http_req_t *r)
{
    if (sc_http_api_no_args(r) != 0) {
        return;
    }

    sc_http_raw(r->req, 200, "text/html; charset=utf-8", sc_ui_html,
                sizeof(sc_ui_html));
}


/*
 * GET /alive and /health: what the server's health checker asks. The
 * swarm's fault knobs make chosen peers fail (503) or answer late.
 */
static void
sc_http_api_probe(sc_http_req_t *r)
{
    sc_peer_t       *peer = r->data;
    sc_probe_t      *p;
    struct timeval   tv;

    sc_metrics.probes++;

    if (!peer->slow) {
        sc_http_api_probe_answer(peer, r->req);
        return;
    }

    p = calloc(1, sizeof(sc_probe_t));
    if (p == NULL) {
        sc_http_api_probe_answer(peer, r->req);
        return;
    }

    p->ev = evtimer_new(peer->base, sc_http_api_probe_late, p);
    if (p->ev == NULL) {
        free(p);
        sc_http_api_probe_answer(peer, r->req);
        return;
    }

    p->peer = peer;
    p->req = r->req;
    p->next = peer->probes;
    if (p->next) {
        p->next->prev = p;
    }
    peer->probes = p;

    sc_tv_ms(&tv, peer->conf->delay_ms);
    evtimer_add(p->ev, &tv);
}


/* The probe answer itself: 200, or 503 for a faulty peer. */
static void
sc_http_api_probe_answer(sc_peer_t *peer, struct evhttp_request *req)
{
    peer->probes_answered++;

    if (peer->faulty) {
        sc_http_error(req, 503, "failing on purpose (--fail-rate)");
        return;
    }

    sc_http_json(req, 200, json_pack("{ssss}", "status", "ok",
                                     "id", peer->id));
}


/* The --delay timer of a slow peer fired: answer now. */
static void
sc_http_api_probe_late(evutil_socket_t fd, short what, void *arg)
{
    sc_probe_t  *p = arg;
    sc_peer_t   *peer = p->peer;

    (void) fd;
    (void) what;

    if (p->prev) {
        p->prev->next = p->next;
    } else {
        peer->probes = p->next;
    }

    if (p->next) {
        p->next->prev = p->prev;
    }

    sc_http_api_probe_answer(peer, p->req);
    event_free(p->ev);
    free(p);
}


/* Late answers die with the listener, which frees their requests. */
void
sc_http_api_cancel_probes(sc_peer_t *peer)
{
    sc_probe_t  *p, *next;

    for (p = peer->probes; p; p = next) {
        next = p->next;
        event_free(p->ev);
        free(p);
    }

    peer->probes = NULL;
}


/* GET /state: who we are and how registration goes. */
static void
sc_http_api_state(sc_http_req_t *r)
{
    if (sc_http_api_no_args(r) == 0) {
        sc_http_json(r->req, 200, sc_peer_state_json(r->data));
    }
}


/* GET /peers: known peers in query-queue order. */
static void
sc_http_api_peers(sc_http_req_t *r)
{
    if (sc_http_api_no_args(r) == 0) {
        sc_http_json(r->req, 200, sc_peer_peers_json(r->data));
    }
}


/* The UI's connect button: (re)start registration now. */
static void
sc_http_api_connect(sc_http_req_t *r)
{
    size_t      n;
    json_t     *body;
    sc_peer_t  *peer = r->data;

    body = sc_http_body(r, 1);
    if (body == NULL) {
        return;
    }

    n = json_object_size(body);
    json_decref(body);

    if (n != 0) {
        sc_http_error(r->req, 400, "no parameters expected");
        return;
    }

    if (peer->boot.inflight || (peer->boot.wanted && peer->boot.registered))
    {
        sc_http_json(r->req, 200, sc_boot_json(peer));
        return;
    }

    sc_boot_connect(peer);
    sc_http_json(r->req, 202, sc_boot_json(peer));
}


/* The UI's disconnect button: answers once /delete has been answered. */
static void
sc_http_api_disconnect(sc_http_req_t *r)
{
    json_t     *body;
    size_t      n;

    body = sc_http_body(r, 1);
    if (body == NULL) {
        return;
    }

    n = json_object_size(body);
    json_decref(body);

    if (n != 0) {
        sc_http_error(r->req, 400, "no parameters expected");
        return;
    }

    sc_boot_disconnect(r->data, sc_http_api_disconnected, r->req);
}


/* The /delete of a disconnect is answered: reply to the UI. */
static void
sc_http_api_disconnected(void *data, int status, const char *error)
{
    struct evhttp_request  *req = data;

    sc_http_json(req, 200, json_pack("{siss?}", "delete_status", status,
                                     "error", error));
}


/* GET routes without parameters refuse a query string. */
static int
sc_http_api_no_args(sc_http_req_t *r)
{
    if (TAILQ_FIRST(&r->args)) {
        sc_http_error(r->req, 400, "this route takes no query parameters");
        return -1;
    }

    return 0;
}
