/*
 * scale-client: N peers in one process on one event loop, each with its
 * own listener and state, plus what only the whole swarm can measure:
 * whether every peer knows every live peer, and how fast messages flow.
 */

#include <stdio.h>
#include <stdlib.h>
#include <errno.h>

#include "swarm.h"
#include "metrics.h"


#define SC_SWARM_CHECK_MS    200
#define SC_SWARM_PORT_TRIES  16


typedef struct {
    sc_swarm_t          *swarm;
    sc_peer_stopped_pt   done;
    void                *data;
} sc_swarm_stop_t;


static void sc_swarm_link(sc_swarm_t *s, sc_peer_t *peer);
static void sc_swarm_unlink(sc_swarm_t *s, sc_peer_t *peer);
static void sc_swarm_stopped(void *data, sc_peer_t *peer, int status,
    const char *error);
static void sc_swarm_check(evutil_socket_t fd, short what, void *arg);
static void sc_swarm_progress(evutil_socket_t fd, short what, void *arg);
static void sc_swarm_message(evutil_socket_t fd, short what, void *arg);
static void sc_swarm_stop_cb(evutil_socket_t fd, short what, void *arg);
static void sc_swarm_exit(evutil_socket_t fd, short what, void *arg);
static void sc_swarm_every(sc_swarm_t *s, struct event **ev, int64_t ms,
    event_callback_fn cb);


/* The swarm and its timers; peers come with sc_swarm_add(). */
sc_swarm_t *
sc_swarm_create(struct event_base *base, const sc_conf_t *conf)
{
    sc_swarm_t      *s;
    struct timeval   tv;

    s = calloc(1, sizeof(sc_swarm_t));
    if (s == NULL) {
        return NULL;
    }

    s->base = base;
    s->conf = conf;
    s->start = sc_now_ms();
    s->changed = s->start;
    s->rate_at = s->start;

    s->check_ev = evtimer_new(base, sc_swarm_check, s);
    if (s->check_ev == NULL) {
        free(s);
        return NULL;
    }

    sc_tv_ms(&tv, SC_SWARM_CHECK_MS);
    evtimer_add(s->check_ev, &tv);

    sc_swarm_every(s, &s->progress_ev, conf->progress_ms, sc_swarm_progress);
    sc_swarm_every(s, &s->msg_ev, conf->msg_freq_ms, sc_swarm_message);

    if (conf->duration_ms > 0) {
        s->stop_ev = evtimer_new(base, sc_swarm_stop_cb, s);
        if (s->stop_ev) {
            sc_tv_ms(&tv, conf->duration_ms);
            evtimer_add(s->stop_ev, &tv);
        }
    }

    return s;
}


/* A periodic swarm timer, unless its period is 0. */
static void
sc_swarm_every(sc_swarm_t *s, struct event **ev, int64_t ms,
    event_callback_fn cb)
{
    struct timeval  tv;

    if (ms <= 0) {
        return;
    }

    *ev = event_new(s->base, -1, EV_PERSIST, cb, s);
    if (*ev) {
        sc_tv_ms(&tv, ms);
        event_add(*ev, &tv);
    }
}


/* After the loop: whatever is left is freed without goodbyes. */
void
sc_swarm_free(sc_swarm_t *s)
{
    struct event  **evs[] = { &s->check_ev, &s->progress_ev, &s->msg_ev,
                              &s->stop_ev, &s->exit_ev };
    size_t          i;

    for (i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
        if (*evs[i]) {
            event_free(*evs[i]);
            *evs[i] = NULL;
        }
    }

    if (s->control) {
        evhttp_free(s->control);
    }

    free(s);
}


/*
 * Adds and starts a peer. With id NULL it is named PREFIX-INDEX on
 * BASE-PORT + INDEX, skipping ports that are taken. NULL with *err when
 * it could not be created.
 */
sc_peer_t *
sc_swarm_add(sc_swarm_t *s, const char *id, const char *name,
    unsigned port, const char **err)
{
    char        gen[SC_NAME_MAX + 1];
    unsigned    tries, idx;
    sc_peer_t  *peer;

    *err = NULL;

    if (s->shutting_down) {
        *err = "shutting down";
        return NULL;
    }

    if (s->n >= s->conf->max_clients) {
        *err = "--max-clients reached";
        return NULL;
    }

    if (id && sc_swarm_find(s, id)) {
        *err = "id in use";
        return NULL;
    }

    peer = NULL;

    for (tries = 0; tries < SC_SWARM_PORT_TRIES; tries++) {
        if (id == NULL) {
            idx = s->next_index++;
            port = s->conf->base_port + idx;

            if (port > 65535) {
                *err = "out of ports";
                return NULL;
            }

            snprintf(gen, sizeof(gen), "%s-%u", s->conf->prefix, idx);

            if (sc_swarm_find(s, gen)) {
                continue;
            }
        }

        peer = sc_peer_create(s, id ? id : gen, name ? name : (id ? id : gen),
                              s->conf->listen_host, port, err);

        if (peer || id || strcmp(*err, "address in use") != 0) {
            break;
        }
    }

    if (peer == NULL) {
        if (*err == NULL) {
            *err = "no free port";
        }
        return NULL;
    }

    sc_swarm_link(s, peer);
    sc_metrics.peers_created++;
    sc_swarm_changed(s);
    sc_peer_start(peer);

    return peer;
}


/* Takes the peer out of the swarm at once; done() follows its /delete. */
void
sc_swarm_remove(sc_swarm_t *s, sc_peer_t *peer, int clean,
    sc_peer_stopped_pt done, void *data)
{
    sc_swarm_stop_t  *ctx;

    sc_swarm_unlink(s, peer);
    sc_swarm_changed(s);
    s->stopping++;

    ctx = malloc(sizeof(sc_swarm_stop_t));
    if (ctx) {
        ctx->swarm = s;
        ctx->done = done;
        ctx->data = data;
    }

    sc_peer_stop(peer, clean, ctx ? sc_swarm_stopped : NULL, ctx);

    if (ctx == NULL) {
        s->stopping--;
    }
}


/* A peer finished stopping; the last one ends a shutdown. */
static void
sc_swarm_stopped(void *data, sc_peer_t *peer, int status, const char *error)
{
    sc_swarm_stop_t  *ctx = data;
    sc_swarm_t       *s = ctx->swarm;

    s->stopping--;

    if (ctx->done) {
        ctx->done(ctx->data, peer, status, error);
    }

    free(ctx);

    if (s->shutting_down && s->n == 0 && s->stopping == 0) {
        event_base_loopexit(s->base, NULL);
    }
}


/* Lookup by id; the control API is rare enough for O(N). */
sc_peer_t *
sc_swarm_find(sc_swarm_t *s, const char *id)
{
    sc_peer_t  *peer;

    for (peer = s->head; peer; peer = peer->next) {
        if (strcmp(peer->id, id) == 0) {
            return peer;
        }
    }

    return NULL;
}


/* Membership changed: the clock for "time to full membership" restarts. */
void
sc_swarm_changed(sc_swarm_t *s)
{
    s->changed = sc_now_ms();
    s->full = 0;
    s->full_at = 0;
}


/*
 * A clean stop for everyone: each peer sends /delete, the loop ends when
 * the last answer is in, or after --timeout plus a second regardless.
 */
void
sc_swarm_shutdown(sc_swarm_t *s)
{
    struct timeval  tv;

    if (s->shutting_down) {
        return;
    }

    s->shutting_down = 1;
    sc_log(SC_LOG_INFO, "stopping %u peers (sending /delete)", s->n);

    while (s->head) {
        sc_swarm_remove(s, s->head, 1, NULL, NULL);
    }

    if (s->stopping == 0) {
        event_base_loopexit(s->base, NULL);
        return;
    }

    s->exit_ev = evtimer_new(s->base, sc_swarm_exit, s);
    if (s->exit_ev) {
        sc_tv_ms(&tv, s->conf->timeout_ms + 1000);
        evtimer_add(s->exit_ev, &tv);
    }
}


/* How many of the swarm's other live peers this peer knows. */
unsigned
sc_swarm_known_live(sc_swarm_t *s, sc_peer_t *peer)
{
    unsigned    n;
    sc_peer_t  *q;

    n = 0;

    for (q = s->head; q; q = q->next) {
        if (q != peer && sc_peers_find(&peer->peers, q->id)) {
            n++;
        }
    }

    return n;
}


/* Everything GET /metrics and the progress line report. */
json_t *
sc_swarm_metrics_json(sc_swarm_t *s)
{
    int64_t   now;
    json_t   *j;
    double    per_peer;

    now = sc_now_ms();
    per_peer = sc_metrics.peers_created
               ? (double) sc_metrics.boot_requests / sc_metrics.peers_created
               : 0;

    j = json_pack("{sI si si si s{sfsi} sb so so sI}",
                  "uptime_ms", (json_int_t) (now - s->start),
                  "peers", (int) s->n,
                  "registered", (int) s->registered,
                  "stopping", (int) s->stopping,
                  "known_live", "mean", s->known_mean,
                  "min", (int) s->known_min,
                  "full_membership", s->full,
                  "full_membership_ms", s->full
                      ? json_integer(s->full_at) : json_null(),
                  "first_full_membership_ms", s->first_full
                      ? json_integer(s->first_full) : json_null(),
                  "since_change_ms", (json_int_t) (now - s->changed));

    if (j == NULL) {
        return NULL;
    }

    json_object_set_new(j, "bootstrap", json_pack(
        "{sIsfsIsIsIsI}",
        "requests", (json_int_t) sc_metrics.boot_requests,
        "requests_per_peer", per_peer,
        "ok", (json_int_t) sc_metrics.boot_ok,
        "rate_limited", (json_int_t) sc_metrics.boot_limited,
        "failed", (json_int_t) sc_metrics.boot_failed,
        "deletes", (json_int_t) sc_metrics.deletes));

    json_object_set_new(j, "exchange", json_pack(
        "{sIsIsIsI}",
        "requests", (json_int_t) sc_metrics.exchanges,
        "failed", (json_int_t) sc_metrics.exchanges_failed,
        "peers_dropped", (json_int_t) sc_metrics.peers_dropped,
        "probes", (json_int_t) sc_metrics.probes));

    json_object_set_new(j, "messages", json_pack(
        "{sIsIsIsIsIsIsfsfs{sIsIsI}}",
        "sent", (json_int_t) sc_metrics.msgs_sent,
        "delivered", (json_int_t) sc_metrics.msgs_delivered,
        "duplicates", (json_int_t) sc_metrics.msgs_duplicate,
        "relays", (json_int_t) sc_metrics.relays,
        "deliveries_failed", (json_int_t) sc_metrics.deliveries_failed,
        "deliveries_retried", (json_int_t) sc_metrics.deliveries_retried,
        "sent_per_s", s->sent_rate,
        "delivered_per_s", s->delivered_rate,
        "latency_ms",
        "count", (json_int_t) sc_metrics.lat_count,
        "p50", (json_int_t) sc_metrics_percentile(0.50),
        "p99", (json_int_t) sc_metrics_percentile(0.99)));

    return j;
}


/* Appends, so GET /clients lists peers in creation order. */
static void
sc_swarm_link(sc_swarm_t *s, sc_peer_t *peer)
{
    sc_peer_t  *tail;

    for (tail = s->head; tail && tail->next; tail = tail->next) {
        /* void */
    }

    peer->prev = tail;
    peer->next = NULL;

    if (tail) {
        tail->next = peer;
    } else {
        s->head = peer;
    }

    s->n++;
}


/* Out of the list and out of the registered count. */
static void
sc_swarm_unlink(sc_swarm_t *s, sc_peer_t *peer)
{
    if (peer->prev) {
        peer->prev->next = peer->next;
    } else {
        s->head = peer->next;
    }

    if (peer->next) {
        peer->next->prev = peer->prev;
    }

    peer->prev = NULL;
    peer->next = NULL;
    s->n--;

    if (peer->counted) {
        peer->counted = 0;
        s->registered--;
    }
}


/*
 * The O(N^2) membership check. It reschedules itself at 20 times its
 * own cost (at least every 200 ms) so big swarms stay cheap to watch.
 */
static void
sc_swarm_check(evutil_socket_t fd, short what, void *arg)
{
    int64_t          t0, cost, now;
    unsigned         k, min, total;
    sc_peer_t       *peer;
    sc_swarm_t      *s = arg;
    struct timeval   tv;

    (void) fd;
    (void) what;

    t0 = sc_now_us();
    min = s->n ? (unsigned) -1 : 0;
    total = 0;

    for (peer = s->head; peer; peer = peer->next) {
        k = sc_swarm_known_live(s, peer);
        total += k;
        min = k < min ? k : min;
    }

    s->known_min = min;
    s->known_mean = s->n ? (double) total / s->n : 0;

    now = sc_now_ms();

    if (s->n > 0 && min == s->n - 1) {
        if (!s->full) {
            s->full = 1;
            s->full_at = now - s->changed;

            if (s->first_full == 0) {
                s->first_full = now - s->start;
            }

            if (s->n > 1) {
                sc_log(SC_LOG_INFO, "full membership: each of %u peers "
                       "knows all others, %.2f s after the last change",
                       s->n, s->full_at / 1000.0);
            }
        }

    } else {
        s->full = 0;
    }

    cost = (sc_now_us() - t0) / 1000 * 20;
    sc_tv_ms(&tv, cost > SC_SWARM_CHECK_MS ? cost : SC_SWARM_CHECK_MS);
    evtimer_add(s->check_ev, &tv);
}


/* One line per --progress: the figures the issue asks to watch. */
static void
sc_swarm_progress(evutil_socket_t fd, short what, void *arg)
{
    char         full[64];
    int64_t      now, p50, p99;
    double       dt;
    sc_swarm_t  *s = arg;

    (void) fd;
    (void) what;

    now = sc_now_ms();
    dt = (now - s->rate_at) / 1000.0;

    if (sc_metrics.msgs_sent < s->rate_sent
        || sc_metrics.msgs_delivered < s->rate_delivered)
    {
        /* POST /reset-metrics zeroed the counters since last time */
        s->rate_sent = 0;
        s->rate_delivered = 0;
    }

    if (dt > 0) {
        s->sent_rate = (sc_metrics.msgs_sent - s->rate_sent) / dt;
        s->delivered_rate = (sc_metrics.msgs_delivered - s->rate_delivered)
                            / dt;
    }

    s->rate_at = now;
    s->rate_sent = sc_metrics.msgs_sent;
    s->rate_delivered = sc_metrics.msgs_delivered;

    if (s->full) {
        snprintf(full, sizeof(full), "full in %.2fs", s->full_at / 1000.0);
    } else {
        snprintf(full, sizeof(full), "not full (%.1fs)",
                 (now - s->changed) / 1000.0);
    }

    p50 = sc_metrics_percentile(0.50);
    p99 = sc_metrics_percentile(0.99);

    sc_log(SC_LOG_INFO, "[%7.1fs] peers %u reg %u | known mean %.1f min %u"
           " | %s | msg %.1f/s sent %.1f/s dlv p50 %lldms p99 %lldms"
           " | boot req/peer %.2f | exch %llu fail %llu drop %llu",
           (now - s->start) / 1000.0, s->n, s->registered, s->known_mean,
           s->known_min, full, s->sent_rate, s->delivered_rate,
           (long long) p50, (long long) p99,
           sc_metrics.peers_created
           ? (double) sc_metrics.boot_requests / sc_metrics.peers_created
           : 0.0,
           (unsigned long long) sc_metrics.exchanges,
           (unsigned long long) sc_metrics.exchanges_failed,
           (unsigned long long) sc_metrics.peers_dropped);
}


/* --msg-frequency: a random registered peer says something. */
static void
sc_swarm_message(evutil_socket_t fd, short what, void *arg)
{
    char        *text;
    size_t       i, len;
    json_t      *reply;
    unsigned     pick;
    sc_peer_t   *peer;
    sc_swarm_t  *s = arg;
    const char  *to;

    (void) fd;
    (void) what;

    if (s->n == 0) {
        return;
    }

    pick = sc_rand_below(s->n);
    for (peer = s->head; pick--; peer = peer->next) {
        /* void */
    }

    if (!peer->boot.registered || peer->peers.n == 0) {
        return;
    }

    to = s->conf->msg_all
         ? "*" : peer->peers.items[sc_rand_below(peer->peers.n)]->id;

    len = s->conf->msg_size;
    text = malloc(len + 1);
    if (text == NULL) {
        return;
    }

    for (i = 0; i < len; i++) {
        text[i] = 'a' + sc_rand_below(26);
    }
    text[len] = '\0';

    sc_chat_send(peer, to, text, len, &reply);
    json_decref(reply);
    free(text);
}


/* --duration is over. */
static void
sc_swarm_stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;

    sc_log(SC_LOG_INFO, "--duration reached");
    sc_swarm_shutdown(arg);
}


/* A /delete that never answers must not hold the exit. */
static void
sc_swarm_exit(evutil_socket_t fd, short what, void *arg)
{
    sc_swarm_t  *s = arg;

    (void) fd;
    (void) what;

    sc_log(SC_LOG_WARN, "%u peers did not finish /delete in time",
           s->stopping);
    event_base_loopexit(s->base, NULL);
}
