/*
 * scale-client: peer exchange, the eventual-consistency mechanism. Every
 * --exchange-interval a peer asks the head of its query queue (the peer
 * it has gone longest without asking) with POST /contacts, carrying
 * itself, a random subset of live peers and (unless --digest off) a
 * Bloom filter of the ids it knows; the receiver merges and answers with
 * a subset of its own, peers the asker lacks first.
 */

#include <stdio.h>
#include <stdlib.h>

#include "peer.h"
#include "digest.h"
#include "metrics.h"


#define SC_EXCHANGE_ENTRIES_MAX  1000


static void sc_exchange_arm(sc_peer_t *peer, int64_t ms);
static void sc_exchange_tick(evutil_socket_t fd, short what, void *arg);
static void sc_exchange_done(void *data, int status,
    struct evhttp_request *req, const char *error);
static int sc_exchange_merge(sc_peer_t *peer, json_t *list, int dry,
    const char **err, size_t *bad);
static json_t *sc_exchange_subset(sc_peer_t *peer, const char *skip,
    sc_digest_t *lacks);


/* The first tick is spread over one interval so a swarm does not pulse. */
void
sc_exchange_start(sc_peer_t *peer)
{
    peer->exchange_ev = evtimer_new(peer->base, sc_exchange_tick, peer);

    if (peer->exchange_ev) {
        sc_exchange_arm(peer, sc_rand_below(peer->conf->exchange_ms) + 1);
    }
}


/* (Re)arms the exchange timer. */
static void
sc_exchange_arm(sc_peer_t *peer, int64_t ms)
{
    struct timeval  tv;

    sc_tv_ms(&tv, ms);
    evtimer_add(peer->exchange_ev, &tv);
}


/* One exchange at a time; a slow partner just delays the next one. */
static void
sc_exchange_tick(evutil_socket_t fd, short what, void *arg)
{
    json_t      *body, *list;
    sc_peer_t   *peer = arg;
    sc_known_t  *k;

    (void) fd;
    (void) what;

    sc_exchange_arm(peer, peer->conf->exchange_ms
                          * (80 + sc_rand_below(41)) / 100);

    if (peer->asking[0] != '\0') {
        return;
    }

    k = sc_peers_next(&peer->peers);
    if (k == NULL) {
        return;
    }

    list = sc_exchange_subset(peer, k->id, NULL);
    body = json_pack("{soso}", "from", sc_peer_self_json(peer),
                     "peers", list);
    if (body == NULL) {
        return;
    }

    if (peer->conf->digest) {
        json_object_set_new(body, "digest",
                            sc_digest_json(&peer->peers, peer->id));
    }

    snprintf(peer->asking, sizeof(peer->asking), "%s", k->id);
    peer->exchanges++;
    sc_metrics.exchanges++;

    sc_http_call(&peer->calls, k->host, k->port, EVHTTP_REQ_POST,
                 "/contacts", body, 0, sc_exchange_done, peer);
    json_decref(body);
}


/*
 * Success moves the partner to the back of the queue; a failure leaves
 * it at the front, so a dead peer is retried at once and dropped after
 * --peer-fails ticks.
 */
static void
sc_exchange_done(void *data, int status, struct evhttp_request *req,
    const char *error)
{
    char         why[64];
    size_t       bad;
    json_t      *reply;
    sc_peer_t   *peer = data;
    sc_known_t  *k;
    const char  *err;

    reply = (status == 200)
            ? sc_http_reply_json(req, peer->conf->body_max) : NULL;

    if (status == 200 && json_is_object(reply)
        && sc_exchange_merge(peer, json_object_get(reply, "peers"), 0,
                             &err, &bad) == 0)
    {
        sc_peer_contact_ok(peer, peer->asking);

        k = sc_peers_find(&peer->peers, peer->asking);
        if (k) {
            sc_peers_asked(&peer->peers, k, sc_now_ms());
        }

    } else {
        peer->exchanges_failed++;
        sc_metrics.exchanges_failed++;

        if (status) {
            snprintf(why, sizeof(why), "/contacts answered %d", status);
        }

        sc_log(SC_LOG_DEBUG, "peer %s: exchange with %s failed: %s",
               peer->id, peer->asking, status ? why : error);
        sc_peer_contact_failed(peer, peer->asking, status ? why : error);
    }

    json_decref(reply);
    peer->asking[0] = '\0';
}


/*
 * POST /contacts {"from":{id,name,addr},"peers":[...],"digest":{..}}:
 * everything is checked before anything is merged, so a bad request
 * changes nothing.
 */
void
sc_exchange_handler(sc_http_req_t *r)
{
    size_t        bad;
    json_t       *body, *from, *list, *digest;
    sc_peer_t    *peer = r->data;
    sc_entry_t    self;
    const char   *err;
    sc_digest_t   lacks;

    lacks.bits = NULL;

    body = sc_http_body(r, 0);
    if (body == NULL) {
        return;
    }

    from = json_object_get(body, "from");
    list = json_object_get(body, "peers");
    digest = json_object_get(body, "digest");

    if (sc_peer_entry(peer, from, &self, &err) != 0) {
        sc_http_error(r->req, 400, "from: %s", err);
        goto done;
    }

    if (strcmp(self.id, peer->id) == 0) {
        sc_http_error(r->req, 400, "from: that is this peer's own id");
        goto done;
    }

    if (sc_exchange_merge(peer, list, 1, &err, &bad) != 0) {
        if (bad == (size_t) -1) {
            sc_http_error(r->req, 400, "peers: %s", err);
        } else {
            sc_http_error(r->req, 400, "peers[%zu]: %s", bad, err);
        }
        goto done;
    }

    if (digest && sc_digest_parse(digest, &lacks, &err) != 0) {
        sc_http_error(r->req, 400, "digest: %s", err);
        goto done;
    }

    sc_peer_learn(peer, &self, 1);
    sc_peer_contact_ok(peer, self.id);
    sc_exchange_merge(peer, list, 0, &err, &bad);
    peer->contacts_in++;

    sc_http_json(r->req, 200,
                 json_pack("{ssso}", "id", peer->id,
                           "peers", sc_exchange_subset(peer, self.id,
                                                       digest ? &lacks
                                                              : NULL)));

done:

    sc_digest_free(&lacks);
    json_decref(body);
}


/*
 * Up to --share live peers, never the one we are talking to; with the
 * asker's digest, peers it lacks come first.
 */
static json_t *
sc_exchange_subset(sc_peer_t *peer, const char *skip, sc_digest_t *lacks)
{
    unsigned      i, n;
    json_t       *list;
    sc_known_t  **pick;

    list = json_array();
    pick = malloc(peer->conf->share * sizeof(sc_known_t *));

    if (list == NULL || pick == NULL) {
        free(pick);
        return list;
    }

    n = sc_peers_sample(&peer->peers, pick, peer->conf->share, skip,
                        lacks ? sc_digest_lacks : NULL, lacks, 1);

    for (i = 0; i < n; i++) {
        json_array_append_new(list,
                              json_pack("{ssssss}", "id", pick[i]->id,
                                        "name", pick[i]->name,
                                        "addr", pick[i]->addr));
    }

    free(pick);
    return list;
}


/*
 * Checks (dry) or merges a "peers" array; absent means empty. On a bad
 * entry returns -1 with *err and its index in *bad ((size_t) -1 when the
 * array itself is wrong).
 */
static int
sc_exchange_merge(sc_peer_t *peer, json_t *list, int dry, const char **err,
    size_t *bad)
{
    size_t       i;
    json_t      *e;
    sc_entry_t   entry;

    *bad = 0;

    if (list == NULL) {
        return 0;
    }

    if (!json_is_array(list)) {
        *bad = (size_t) -1;
        *err = "must be an array";
        return -1;
    }

    if (json_array_size(list) > SC_EXCHANGE_ENTRIES_MAX) {
        *bad = (size_t) -1;
        *err = "more than 1000 entries";
        return -1;
    }

    json_array_foreach(list, i, e) {
        if (sc_peer_entry(peer, e, &entry, err) != 0) {
            *bad = i;
            return -1;
        }

        if (!dry) {
            sc_peer_learn(peer, &entry, 0);
        }
    }

    return 0;
}
