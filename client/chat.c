/*
 * scale-client: chat delivery. A message {id, from, to, text, ts} goes
 * straight to its one contact, or to every known peer for "*". A
 * broadcast carries the sender's Bloom digest of the peers it knows
 * ("known"); a peer that receives a new broadcast relays it to up to
 * --fanout peers the sender does not know (gossip: no duplicate traffic
 * once membership is full), and ids de-duplicate. Failed deliveries are
 * retried with backoff; what finally failed is counted on the message and
 * shown. Storage is chat_store.c.
 */

#include <stdio.h>
#include <stdlib.h>

#include "peer.h"
#include "digest.h"
#include "metrics.h"


#define SC_CHAT_HOPS_MAX       16
#define SC_CHAT_RETRY_MS       200
#define SC_CHAT_RETRY_MAX_MS   5000


struct sc_delivery_s {
    sc_peer_t          *peer;
    sc_msg_t           *msg;
    sc_delivery_t      *prev;
    sc_delivery_t      *next;
    struct event       *timer;
    unsigned            attempts;
    unsigned            max;
    unsigned            port;
    char                target[SC_NAME_MAX + 1];
    char                host[SC_ADDR_MAX + 1];
};


static void sc_chat_deliver(sc_peer_t *peer, sc_msg_t *m, sc_known_t *k,
    unsigned max);
static void sc_chat_attempt(sc_delivery_t *d);
static void sc_chat_retry(evutil_socket_t fd, short what, void *arg);
static void sc_chat_delivered(void *data, int status,
    struct evhttp_request *req, const char *error);
static void sc_chat_finish(sc_delivery_t *d, int ok, const char *why);
static void sc_chat_relay(sc_peer_t *peer, sc_msg_t *m, const char *via,
    sc_digest_t *known);
static int sc_chat_match(sc_msg_t *m, const char *id, const char *with);


/* Chat state is the store; deliveries start empty. */
int
sc_chat_init(sc_peer_t *peer)
{
    return sc_chat_store_init(peer);
}


/* Drops pending deliveries and the store; safe to call twice. */
void
sc_chat_free(sc_peer_t *peer)
{
    sc_chat_t      *c = &peer->chat;
    sc_delivery_t  *d, *next;

    for (d = c->deliveries; d; d = next) {
        next = d->next;
        event_free(d->timer);
        sc_chat_msg_unref(d->msg);
        free(d);
    }

    c->deliveries = NULL;
    c->ndeliveries = 0;

    sc_chat_store_free(peer);
}


/*
 * Creates and sends a message. Returns the HTTP status for the caller
 * (202, or 4xx) and, in *reply, the answer body.
 */
int
sc_chat_send(sc_peer_t *peer, const char *to, const char *text, size_t len,
    json_t **reply)
{
    char         id[SC_MSG_ID_MAX + 1];
    unsigned     i;
    int64_t      ts;
    sc_msg_t    *m;
    sc_chat_t   *c = &peer->chat;
    sc_known_t  *k;

    *reply = NULL;
    k = NULL;

    if (to == NULL || strcmp(to, "all") == 0) {
        to = "*";
    }

    if (len == 0 || len > peer->conf->msg_max) {
        *reply = json_pack("{ss}", "error", "text must be 1..msg-max bytes");
        return 400;
    }

    if (strcmp(to, peer->id) == 0) {
        *reply = json_pack("{ss}", "error", "cannot message yourself");
        return 400;
    }

    if (strcmp(to, "*") != 0) {
        k = sc_peers_find(&peer->peers, to);
        if (k == NULL) {
            *reply = json_pack("{ss}", "error", "unknown contact");
            return 404;
        }
    }

    ts = sc_wall_ms();
    snprintf(id, sizeof(id), "%s-%lld-%llu", peer->id, (long long) ts,
             (unsigned long long) ++c->seq);

    m = sc_chat_msg_new(id, peer->id, to, text, ts);
    if (m == NULL) {
        *reply = json_pack("{ss}", "error", "out of memory");
        return 503;
    }

    m->mine = 1;
    m->recv = ts;

    if (k == NULL) {
        m->known = sc_digest_hex(&peer->peers, peer->id);
    }

    sc_chat_store(peer, m, 1);

    c->sent++;
    sc_metrics.msgs_sent++;

    if (k) {
        sc_chat_deliver(peer, m, k, peer->conf->msg_retries);

    } else {
        for (i = 0; i < peer->peers.n; i++) {
            sc_chat_deliver(peer, m, peer->peers.items[i],
                            peer->conf->msg_retries);
        }
    }

    if (m->pending == 0 && !m->final) {
        if (m->targets == 0) {
            snprintf(m->error, sizeof(m->error), "no known peers to send to");
        }
        sc_chat_final(peer, m);
    }

    *reply = json_pack("{sssssIsi}", "id", m->id, "to", m->to,
                       "ts", (json_int_t) m->ts, "targets", (int) m->targets);
    sc_chat_msg_unref(m);

    return 202;
}


/* POST /chat/send {"to": "<id>" | "*" (default), "text": "..."} */
void
sc_chat_send_handler(sc_http_req_t *r)
{
    int          code;
    json_t      *body, *reply, *text;
    sc_peer_t   *peer = r->data;
    const char  *to, *err;

    body = sc_http_body(r, 0);
    if (body == NULL) {
        return;
    }

    to = sc_json_string(body, "to", SC_NAME_MAX, 0, &err);
    if (err) {
        sc_http_error(r->req, 400, "to: %s", err);
        goto done;
    }

    if (to && strcmp(to, "*") != 0 && !sc_valid_name(to, strlen(to))) {
        sc_http_error(r->req, 400, "to: not a valid peer id");
        goto done;
    }

    text = json_object_get(body, "text");

    if (!json_is_string(text)
        || strlen(json_string_value(text)) != json_string_length(text))
    {
        sc_http_error(r->req, 400, "text: must be a string");
        goto done;
    }

    if (json_string_length(text) > peer->conf->msg_max) {
        sc_http_error(r->req, 413, "text: longer than %zu bytes",
                      peer->conf->msg_max);
        goto done;
    }

    code = sc_chat_send(peer, to, json_string_value(text),
                        json_string_length(text), &reply);
    sc_http_json(r->req, code, reply);

done:

    json_decref(body);
}


/*
 * POST /chat/message: a message from another peer (first hand or
 * relayed). New ones are stored, counted for latency, and broadcasts are
 * relayed on; duplicates are acknowledged and ignored.
 */
void
sc_chat_message_handler(sc_http_req_t *r)
{
    json_t       *body, *ts, *hops, *jknown;
    sc_msg_t     *m;
    sc_peer_t    *peer = r->data;
    const char   *id, *from, *to, *text, *via, *err, *what;
    sc_digest_t   known;

    known.bits = NULL;

    body = sc_http_body(r, 0);
    if (body == NULL) {
        return;
    }

    what = "id";
    id = sc_json_string(body, "id", SC_MSG_ID_MAX, 1, &err);
    if (id == NULL || !sc_chat_valid_id(id)) {
        goto invalid;
    }

    what = "from";
    from = sc_json_string(body, "from", SC_NAME_MAX, 1, &err);
    if (from == NULL || !sc_valid_name(from, strlen(from))) {
        goto invalid;
    }

    what = "to";
    to = sc_json_string(body, "to", SC_NAME_MAX, 1, &err);
    if (to == NULL
        || (strcmp(to, "*") != 0 && !sc_valid_name(to, strlen(to))))
    {
        goto invalid;
    }

    what = "via";
    via = sc_json_string(body, "via", SC_NAME_MAX, 0, &err);
    if (err || (via && !sc_valid_name(via, strlen(via)))) {
        goto invalid;
    }

    what = "text";
    text = sc_json_string(body, "text", peer->conf->msg_max, 1, &err);
    if (text == NULL) {
        goto invalid;
    }

    what = "ts";
    ts = json_object_get(body, "ts");
    if (!json_is_integer(ts) || json_integer_value(ts) < 0) {
        err = "must be a non-negative integer";
        goto invalid;
    }

    what = "hops";
    hops = json_object_get(body, "hops");
    if (hops && (!json_is_integer(hops) || json_integer_value(hops) < 0
                 || json_integer_value(hops) > SC_CHAT_HOPS_MAX))
    {
        err = "must be an integer 0..16";
        goto invalid;
    }

    what = "known";
    jknown = json_object_get(body, "known");
    if (jknown && sc_digest_parse(jknown, &known, &err) != 0) {
        goto invalid;
    }

    if (strcmp(to, "*") != 0 && strcmp(to, peer->id) != 0) {
        sc_http_error(r->req, 404, "not the recipient");
        goto done;
    }

    if (sc_chat_find(&peer->chat, id)) {
        sc_metrics.msgs_duplicate++;
        sc_http_json(r->req, 200, json_pack("{ss}", "status", "duplicate"));
        goto done;
    }

    m = sc_chat_msg_new(id, from, to, text, json_integer_value(ts));
    if (m == NULL) {
        sc_http_error(r->req, 503, "out of memory");
        goto done;
    }

    m->recv = sc_wall_ms();
    m->hops = hops ? json_integer_value(hops) : 0;

    if (jknown) {
        m->known = strdup(json_string_value(json_object_get(jknown,
                                                            "bits")));
    }

    sc_chat_store(peer, m, 1);

    if (strcmp(from, peer->id) != 0) {
        peer->chat.received++;
        sc_metrics.msgs_delivered++;
        sc_metrics_latency(m->recv - m->ts);
    }

    if (strcmp(to, "*") == 0 && m->hops < SC_CHAT_HOPS_MAX) {
        sc_chat_relay(peer, m, via, jknown ? &known : NULL);
    }

    sc_chat_msg_unref(m);
    sc_http_json(r->req, 200, json_pack("{ss}", "status", "stored"));
    goto done;

invalid:

    sc_http_error(r->req, 400, "%s: %s", what,
                  err ? err : "has characters outside [A-Za-z0-9._:@-]");

done:

    sc_digest_free(&known);
    json_decref(body);
}


/* GET /chat/messages[?limit=N][&with=ID][&id=MSG], oldest first. */
void
sc_chat_messages_handler(sc_http_req_t *r)
{
    unsigned long     limit;
    unsigned          i, got, first;
    json_t           *list, *reply;
    sc_msg_t         *m;
    sc_peer_t        *peer = r->data;
    sc_chat_t        *c = &peer->chat;
    const char       *with, *id;
    struct evkeyval  *kv;

    limit = 100;
    with = NULL;
    id = NULL;

    TAILQ_FOREACH(kv, &r->args, next) {
        if (strcmp(kv->key, "limit") == 0) {
            if (sc_parse_uint(kv->value, c->cap, &limit) != 0 || !limit) {
                sc_http_error(r->req, 400, "limit: an integer 1..%u",
                              c->cap);
                return;
            }

        } else if (strcmp(kv->key, "with") == 0
                   && sc_valid_name(kv->value, strlen(kv->value)))
        {
            with = kv->value;

        } else if (strcmp(kv->key, "id") == 0 && sc_chat_valid_id(kv->value))
        {
            id = kv->value;

        } else {
            sc_http_error(r->req, 400, "bad query parameter: %.32s",
                          kv->key);
            return;
        }
    }

    /* walk back to the oldest of the newest `limit` matches, then forth */

    got = 0;

    for (first = c->n; first > 0 && got < limit; first--) {
        got += sc_chat_match(c->ring[(c->head + first - 1) % c->cap], id,
                             with);
    }

    list = json_array();

    for (i = first; i < c->n; i++) {
        m = c->ring[(c->head + i) % c->cap];

        if (sc_chat_match(m, id, with)) {
            json_array_append_new(list, sc_chat_msg_json(m, SC_MSG_API));
        }
    }

    reply = json_pack("{sisisIsIsIso}", "count", (int) got,
                      "stored", (int) c->n,
                      "sent", (json_int_t) c->sent,
                      "received", (json_int_t) c->received,
                      "failed", (json_int_t) c->failed,
                      "messages", list);

    sc_http_json(r->req, 200, reply);
}


/* A delivery is one message to one peer, with its own retries. */
static void
sc_chat_deliver(sc_peer_t *peer, sc_msg_t *m, sc_known_t *k, unsigned max)
{
    sc_chat_t      *c = &peer->chat;
    sc_delivery_t  *d;

    if (m->mine) {
        m->targets++;
    }

    d = calloc(1, sizeof(sc_delivery_t));
    if (d == NULL || c->ndeliveries >= 8 * peer->peers.max + 1024) {
        free(d);
        if (m->mine) {
            m->failed++;
            snprintf(m->error, sizeof(m->error),
                     "to %.64s: delivery queue full", k->id);
        }
        sc_metrics.deliveries_failed++;
        return;
    }

    d->timer = evtimer_new(peer->base, sc_chat_retry, d);
    if (d->timer == NULL) {
        free(d);
        return;
    }

    d->peer = peer;
    d->msg = m;
    d->max = max;
    d->port = k->port;
    snprintf(d->target, sizeof(d->target), "%s", k->id);
    snprintf(d->host, sizeof(d->host), "%s", k->host);
    m->refs++;

    if (m->mine) {
        m->pending++;
    }

    d->next = c->deliveries;
    if (d->next) {
        d->next->prev = d;
    }
    c->deliveries = d;
    c->ndeliveries++;

    sc_chat_attempt(d);
}


/* One try: the wire message, signed with our id as "via". */
static void
sc_chat_attempt(sc_delivery_t *d)
{
    json_t  *body;

    body = sc_chat_msg_json(d->msg, SC_MSG_WIRE);

    if (body) {
        json_object_set_new(body, "via", json_string(d->peer->id));
        json_object_set_new(body, "hops",
                            json_integer(d->msg->mine ? 0
                                                      : d->msg->hops + 1));
    }

    d->attempts++;

    if (body == NULL
        || sc_http_call(&d->peer->calls, d->host, d->port, EVHTTP_REQ_POST,
                        "/chat/message", body, 0, sc_chat_delivered, d)
           != 0)
    {
        json_decref(body);
        sc_chat_finish(d, 0, "out of memory");
        return;
    }

    json_decref(body);
}


/* The backoff timer of a delivery fired: try again. */
static void
sc_chat_retry(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;

    sc_chat_attempt(arg);
}


/*
 * 200 (stored or duplicate) is success; another 4xx is final, since the
 * receiver will not change its mind; anything else is retried with
 * backoff and counts against the receiver's liveness.
 */
static void
sc_chat_delivered(void *data, int status, struct evhttp_request *req,
    const char *error)
{
    char            why[96];
    int64_t         ms;
    json_t         *reply;
    const char     *msg;
    struct timeval  tv;
    sc_delivery_t  *d = data;

    if (status == 200) {
        sc_peer_contact_ok(d->peer, d->target);
        sc_chat_finish(d, 1, NULL);
        return;
    }

    if (status) {
        reply = sc_http_reply_json(req, 4096);
        msg = json_string_value(json_object_get(reply, "error"));
        snprintf(why, sizeof(why), "HTTP %d%s%s", status, msg ? ": " : "",
                 msg ? msg : "");
        json_decref(reply);

    } else {
        snprintf(why, sizeof(why), "%s", error);
    }

    if (status >= 400 && status < 500 && status != 408 && status != 429) {
        sc_peer_contact_ok(d->peer, d->target);
        sc_chat_finish(d, 0, why);
        return;
    }

    sc_peer_contact_failed(d->peer, d->target, why);

    if (d->attempts > d->max) {
        sc_chat_finish(d, 0, why);
        return;
    }

    sc_metrics.deliveries_retried++;

    ms = SC_CHAT_RETRY_MS << (d->attempts - 1);
    if (ms > SC_CHAT_RETRY_MAX_MS) {
        ms = SC_CHAT_RETRY_MAX_MS;
    }

    sc_tv_ms(&tv, ms);
    evtimer_add(d->timer, &tv);
}


/* A delivery is over: count it on its message, free it. */
static void
sc_chat_finish(sc_delivery_t *d, int ok, const char *why)
{
    sc_msg_t   *m = d->msg;
    sc_peer_t  *peer = d->peer;
    sc_chat_t  *c = &peer->chat;

    if (d->prev) {
        d->prev->next = d->next;
    } else {
        c->deliveries = d->next;
    }

    if (d->next) {
        d->next->prev = d->prev;
    }

    c->ndeliveries--;

    if (!ok) {
        sc_metrics.deliveries_failed++;
    }

    if (m->mine) {
        m->pending--;

        if (ok) {
            m->delivered++;

        } else {
            m->failed++;
            snprintf(m->error, sizeof(m->error), "to %.40s: %.80s", d->target,
                     why);
        }

        if (m->pending == 0) {
            sc_chat_final(peer, m);
        }
    }

    event_free(d->timer);
    sc_chat_msg_unref(m);
    free(d);
}


/*
 * Gossip: a new broadcast goes on to up to --fanout random peers that
 * the sender's digest says it does not know; without a digest, to any.
 */
static void
sc_chat_relay(sc_peer_t *peer, sc_msg_t *m, const char *via,
    sc_digest_t *known)
{
    unsigned      i, n, sent;
    sc_known_t  **pick;

    pick = malloc((peer->conf->fanout + 1) * sizeof(sc_known_t *));
    if (pick == NULL) {
        return;
    }

    n = sc_peers_sample(&peer->peers, pick, peer->conf->fanout + 1, via,
                        known ? sc_digest_lacks : NULL, known,
                        known == NULL);
    sent = 0;

    for (i = 0; i < n && sent < peer->conf->fanout; i++) {
        if (strcmp(pick[i]->id, m->from) == 0) {
            continue;
        }

        sc_chat_deliver(peer, m, pick[i], peer->conf->msg_retries);
        sc_metrics.relays++;
        sent++;
    }

    free(pick);
}


/* The filters of GET /chat/messages: one id, or a conversation. */
static int
sc_chat_match(sc_msg_t *m, const char *id, const char *with)
{
    if (id && strcmp(m->id, id) != 0) {
        return 0;
    }

    return with == NULL || strcmp(m->from, with) == 0
           || strcmp(m->to, with) == 0;
}

