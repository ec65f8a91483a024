/*
 * scale-client: the life of one peer, from its listener to its /delete,
 * and what it learns about other peers.
 */

#include <stdio.h>
#include <stdlib.h>
#include <errno.h>

#include "peer.h"
#include "swarm.h"
#include "metrics.h"


static void sc_peer_finish(void *data, int status, const char *error);
static void sc_peer_finish_ev(evutil_socket_t fd, short what, void *arg);
static void sc_peer_free(sc_peer_t *peer);
static int sc_peer_queue_cmp(const void *a, const void *b);


/*
 * Binds the peer's listener and prepares its state; nothing is sent
 * until sc_peer_start(). Returns NULL with *err on failure.
 */
sc_peer_t *
sc_peer_create(sc_swarm_t *swarm, const char *id, const char *name,
    const char *host, unsigned port, const char **err)
{
    sc_peer_t        *peer;
    const sc_conf_t  *conf;

    conf = swarm->conf;
    *err = NULL;

    peer = calloc(1, sizeof(sc_peer_t));
    if (peer == NULL) {
        *err = "out of memory";
        return NULL;
    }

    peer->swarm = swarm;
    peer->conf = conf;
    peer->base = swarm->base;
    peer->port = port;
    peer->created = sc_now_ms();
    snprintf(peer->id, sizeof(peer->id), "%s", id);
    snprintf(peer->name, sizeof(peer->name), "%s", name);
    snprintf(peer->addr, sizeof(peer->addr), "%s:%u", host, port);

    peer->faulty = sc_rand_below(100) < conf->fail_rate;
    peer->slow = conf->delay_ms > 0 && sc_rand_below(100) < conf->delay_rate;

    if (sc_peers_init(&peer->peers, conf->max_peers) != 0
        || sc_boot_init(peer) != 0)
    {
        *err = "out of memory";
        goto failed;
    }

    peer->http = sc_http_listen(host, port, conf->body_max,
                                sc_http_api_handler, peer);
    if (peer->http == NULL) {
        *err = (errno == EADDRINUSE) ? "address in use"
                                     : "cannot listen on that address";
        goto failed;
    }

    if (sc_chat_init(peer) != 0) {
        *err = "cannot open the chat log";
        goto failed;
    }

    return peer;

failed:

    sc_log(SC_LOG_ERR, "peer %s on %s:%u: %s", id, host, port, *err);
    sc_peer_free(peer);
    return NULL;
}


/* Registration (unless --auto-connect is off) and the exchange timer. */
void
sc_peer_start(sc_peer_t *peer)
{
    if (peer->conf->auto_connect) {
        sc_boot_connect(peer);
    }

    sc_exchange_start(peer);
}


/*
 * Stops listening and forgets in-flight work at once; a clean stop then
 * says goodbye to the bootstrap with /delete. done() runs after that,
 * always asynchronously, and the peer is freed right after it.
 */
void
sc_peer_stop(sc_peer_t *peer, int clean, sc_peer_stopped_pt done,
    void *data)
{
    struct timeval  tv;

    peer->stopping = 1;
    peer->on_stop = done;
    peer->on_stop_data = data;

    if (peer->on_register) {
        peer->on_register(peer->on_register_data, peer);
        peer->on_register = NULL;
    }

    sc_http_api_cancel_probes(peer);

    if (peer->http) {
        evhttp_free(peer->http);
        peer->http = NULL;
    }

    if (peer->exchange_ev) {
        event_free(peer->exchange_ev);
        peer->exchange_ev = NULL;
    }

    sc_http_calls_cancel(&peer->calls);
    sc_chat_free(peer);

    if (clean && peer->boot.registered
        && sc_boot_delete(peer, sc_peer_finish, peer) == 0)
    {
        sc_boot_free(peer);
        return;
    }

    sc_boot_free(peer);

    sc_tv_ms(&tv, 0);
    if (event_base_once(peer->base, -1, EV_TIMEOUT, sc_peer_finish_ev,
                        peer, &tv) != 0)
    {
        sc_peer_finish(peer, 0, NULL);
    }
}


/* Makes a stop without /delete finish asynchronously too. */
static void
sc_peer_finish_ev(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;

    sc_peer_finish(arg, 0, NULL);
}


/* The end of a stop: tell the owner, then free. */
static void
sc_peer_finish(void *data, int status, const char *error)
{
    sc_peer_t  *peer = data;

    if (peer->on_stop) {
        peer->on_stop(peer->on_stop_data, peer, status, error);
    }

    sc_peer_free(peer);
}


/* Frees everything the peer owns; each part tolerates a second free. */
static void
sc_peer_free(sc_peer_t *peer)
{
    if (peer->http) {
        evhttp_free(peer->http);
    }

    if (peer->exchange_ev) {
        event_free(peer->exchange_ev);
    }

    sc_http_calls_cancel(&peer->calls);
    sc_chat_free(peer);
    sc_boot_free(peer);
    sc_peers_free(&peer->peers);
    free(peer);
}


/* The first answer from the bootstrap, whatever it was, ends a wait. */
void
sc_peer_registered(sc_peer_t *peer)
{
    void  (*cb)(void *, sc_peer_t *);

    if (peer->boot.registered && !peer->counted) {
        peer->counted = 1;
        peer->swarm->registered++;
    }

    cb = peer->on_register;

    if (cb) {
        peer->on_register = NULL;
        cb(peer->on_register_data, peer);
    }
}


/* Any answer from a peer proves it alive. */
void
sc_peer_contact_ok(sc_peer_t *peer, const char *id)
{
    sc_known_t  *k;

    k = sc_peers_find(&peer->peers, id);

    if (k) {
        k->fails = 0;
        k->seen = sc_now_ms();
    }
}


/*
 * Counts a failed try, whatever the request was; at --peer-fails the
 * peer is dropped and buried so that rumours do not bring it back.
 */
void
sc_peer_contact_failed(sc_peer_t *peer, const char *id, const char *why)
{
    sc_known_t  *k;

    k = sc_peers_find(&peer->peers, id);
    if (k == NULL) {
        return;
    }

    k->fails++;

    if (k->fails < peer->conf->peer_fails) {
        return;
    }

    sc_log(SC_LOG_DEBUG, "peer %s: dropped %s (%s) after %u failures: %s",
           peer->id, k->id, k->addr, k->fails, why ? why : "");

    sc_peers_bury(&peer->peers, k->id,
                  sc_now_ms() + peer->conf->tombstone_ms);
    sc_peers_remove(&peer->peers, k);
    peer->dropped++;
    sc_metrics.peers_dropped++;
}


/*
 * Checks one {"id","name","addr"} entry from the network and points
 * out's fields into it. Returns 0, or -1 with *err.
 */
int
sc_peer_entry(sc_peer_t *peer, json_t *entry, sc_entry_t *out,
    const char **err)
{
    const char  *e;

    if (!json_is_object(entry)) {
        *err = "a peer must be an object";
        return -1;
    }

    out->id = sc_json_string(entry, "id", SC_NAME_MAX, 1, &e);
    if (out->id == NULL || !sc_valid_name(out->id, strlen(out->id))) {
        *err = e ? "\"id\" is missing or not a string"
                 : "\"id\" has characters outside [A-Za-z0-9._:@-]";
        return -1;
    }

    out->name = sc_json_string(entry, "name", SC_NAME_MAX, 0, &e);
    if (e || (out->name && !sc_valid_name(out->name, strlen(out->name)))) {
        *err = "\"name\" is not a valid name";
        return -1;
    }

    if (out->name == NULL) {
        out->name = out->id;
    }

    out->addr = sc_json_string(entry, "addr", SC_ADDR_MAX, 1, &e);
    if (out->addr == NULL
        || sc_split_addr(out->addr, out->host, sizeof(out->host),
                         &out->port) != 0)
    {
        *err = "\"addr\" must be \"host:port\"";
        return -1;
    }

    if (!peer->conf->allow_remote && !sc_is_loopback(out->host)) {
        *err = "\"addr\" is not on loopback (see --allow-remote)";
        return -1;
    }

    return 0;
}


/*
 * Merges a checked entry. Trusted sources (the bootstrap, the peer
 * itself) may change a known address and lift a tombstone; rumours only
 * add. NULL for ourselves, a buried rumour or a full set.
 */
sc_known_t *
sc_peer_learn(sc_peer_t *peer, sc_entry_t *e, int trusted)
{
    sc_known_t  *k;

    if (strcmp(e->id, peer->id) == 0) {
        return NULL;
    }

    k = sc_peers_find(&peer->peers, e->id);

    if (trusted) {
        sc_peers_unbury(&peer->peers, e->id);

    } else if (k || sc_peers_buried(&peer->peers, e->id, sc_now_ms())) {
        return k;
    }

    if (k && strcmp(k->addr, e->addr) == 0) {
        return k;
    }

    return sc_peers_add(&peer->peers, e->id, e->name, e->addr, e->host,
                        e->port);
}


/* How this peer introduces itself to the bootstrap and peers. */
json_t *
sc_peer_self_json(sc_peer_t *peer)
{
    return json_pack("{ssssss}", "id", peer->id, "name", peer->name,
                     "addr", peer->addr);
}


/* What GET /state and the UI's header show. */
json_t *
sc_peer_state_json(sc_peer_t *peer)
{
    unsigned  i, live;

    live = 0;
    for (i = 0; i < peer->peers.n; i++) {
        live += (peer->peers.items[i]->fails == 0);
    }

    return json_pack("{ss ss ss ss so si si si sI sI sI sI si sb sb sI sI}",
                     "id", peer->id,
                     "name", peer->name,
                     "addr", peer->addr,
                     "bootstrap", peer->conf->boot_url,
                     "registration", sc_boot_json(peer),
                     "known", (int) peer->peers.n,
                     "live", (int) live,
                     "max_peers", (int) peer->peers.max,
                     "exchanges", (json_int_t) peer->exchanges,
                     "exchanges_failed",
                     (json_int_t) peer->exchanges_failed,
                     "contacts_in", (json_int_t) peer->contacts_in,
                     "dropped", (json_int_t) peer->dropped,
                     "messages", (int) peer->chat.n,
                     "faulty", peer->faulty,
                     "slow", peer->slow,
                     "probes", (json_int_t) peer->probes_answered,
                     "uptime_ms",
                     (json_int_t) (sc_now_ms() - peer->created));
}


/* Known peers in query-queue order: the next one to be asked first. */
json_t *
sc_peer_peers_json(sc_peer_t *peer)
{
    int64_t        now;
    unsigned       i;
    json_t        *list, *e;
    sc_known_t   **q, *k;

    now = sc_now_ms();
    list = json_array();

    q = malloc((peer->peers.n + 1) * sizeof(sc_known_t *));
    if (q == NULL || list == NULL) {
        free(q);
        json_decref(list);
        return NULL;
    }

    memcpy(q, peer->peers.heap, peer->peers.n * sizeof(sc_known_t *));
    qsort(q, peer->peers.n, sizeof(sc_known_t *), sc_peer_queue_cmp);

    for (i = 0; i < peer->peers.n; i++) {
        k = q[i];

        e = json_pack("{ss ss ss ss si si}",
                      "id", k->id, "name", k->name, "addr", k->addr,
                      "state", k->fails ? "failing"
                               : (k->seen ? "alive" : "unknown"),
                      "fails", (int) k->fails,
                      "queue", (int) i);

        if (e == NULL) {
            continue;
        }

        json_object_set_new(e, "asked_ms_ago", k->asked
                            ? json_integer(now - k->asked) : json_null());
        json_object_set_new(e, "seen_ms_ago", k->seen
                            ? json_integer(now - k->seen) : json_null());
        json_array_append_new(list, e);
    }

    free(q);

    return json_pack("{sisiso}", "count", (int) peer->peers.n,
                     "max", (int) peer->peers.max, "peers", list);
}


/* qsort order of the query queue: the heap's own order. */
static int
sc_peer_queue_cmp(const void *a, const void *b)
{
    const sc_known_t  *x = *(sc_known_t * const *) a;
    const sc_known_t  *y = *(sc_known_t * const *) b;

    if (x->asked != y->asked) {
        return x->asked < y->asked ? -1 : 1;
    }

    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}
