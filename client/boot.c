/*
 * scale-client: POST /connect with retries and backoff, honouring 429
 * Retry-After; asks again only when short of peers (or every
 * --refresh-interval), never sooner than the server allowed; POST
 * /delete when leaving.
 */

#include <stdio.h>
#include <stdlib.h>

#include "peer.h"
#include "swarm.h"
#include "metrics.h"


#define SC_BOOT_BACKOFF_MAX  30000
#define SC_BOOT_LOW_GAP_MAX  60000
#define SC_BOOT_REPLY_MAX    (1024 * 1024)


typedef struct {
    sc_peer_t        *peer;
    sc_boot_done_pt   done;
    void             *data;
} sc_boot_delete_t;


static void sc_boot_tick(evutil_socket_t fd, short what, void *arg);
static void sc_boot_schedule(sc_peer_t *peer, int64_t ms);
static void sc_boot_send(sc_peer_t *peer);
static void sc_boot_connect_done(void *data, int status,
    struct evhttp_request *req, const char *error);
static void sc_boot_merge(sc_peer_t *peer, struct evhttp_request *req);
static void sc_boot_failed(sc_peer_t *peer, int status,
    struct evhttp_request *req, const char *error);
static void sc_boot_delete_done(void *data, int status,
    struct evhttp_request *req, const char *error);
static void sc_boot_unregistered(sc_peer_t *peer);
static int64_t sc_boot_retry_after(struct evhttp_request *req, int64_t dflt);
static int64_t sc_boot_recheck(sc_peer_t *peer);


/* The timer that drives every registration decision of this peer. */
int
sc_boot_init(sc_peer_t *peer)
{
    peer->boot.timer = evtimer_new(peer->base, sc_boot_tick, peer);

    return peer->boot.timer ? 0 : -1;
}


/* Safe to call twice: a stopping peer frees its timer early. */
void
sc_boot_free(sc_peer_t *peer)
{
    if (peer->boot.timer) {
        event_free(peer->boot.timer);
        peer->boot.timer = NULL;
    }
}


/* Start (or restart after a failure) trying to be registered. */
void
sc_boot_connect(sc_peer_t *peer)
{
    sc_boot_t  *b = &peer->boot;

    b->wanted = 1;
    b->failed = 0;
    b->attempts = 0;
    b->low_gap_ms = peer->conf->retry_ms;
    b->error[0] = '\0';

    sc_boot_schedule(peer, 0);
}


/* The UI's disconnect: stop trying and leave the registry if we are in. */
void
sc_boot_disconnect(sc_peer_t *peer, sc_boot_done_pt done, void *data)
{
    sc_boot_t  *b = &peer->boot;

    b->wanted = 0;
    b->next_ms = 0;
    evtimer_del(b->timer);

    if (!b->registered || sc_boot_delete(peer, done, data) != 0) {
        done(data, 0, "not registered");
    }
}


/*
 * POST /delete {"id"}. Owned by the peer unless it is stopping, when the
 * peer's calls have already been let go and this one must still report.
 */
int
sc_boot_delete(sc_peer_t *peer, sc_boot_done_pt done, void *data)
{
    int                rc;
    char               path[300];
    json_t            *body;
    sc_boot_delete_t  *ctx;

    ctx = malloc(sizeof(sc_boot_delete_t));
    body = json_pack("{ss}", "id", peer->id);

    if (ctx == NULL || body == NULL) {
        free(ctx);
        json_decref(body);
        return -1;
    }

    ctx->peer = peer;
    ctx->done = done;
    ctx->data = data;

    snprintf(path, sizeof(path), "%s/delete", peer->conf->boot_prefix);
    sc_boot_unregistered(peer);

    rc = sc_http_call(peer->stopping ? NULL : &peer->calls,
                      peer->conf->boot_host, peer->conf->boot_port,
                      EVHTTP_REQ_POST, path, body, SC_CALL_FRESH,
                      sc_boot_delete_done, ctx);
    json_decref(body);

    if (rc != 0) {
        free(ctx);
    }

    return rc;
}


/* One word for the UI and the control API. */
const char *
sc_boot_state(sc_peer_t *peer)
{
    sc_boot_t  *b = &peer->boot;

    if (b->failed) {
        return "failed";
    }

    if (b->inflight) {
        return b->registered ? "refreshing" : "registering";
    }

    if (b->registered) {
        return "registered";
    }

    if (!b->wanted) {
        return "disconnected";
    }

    return b->attempts ? "retrying" : "registering";
}


/* Registration as GET /state and the UI show it. */
json_t *
sc_boot_json(sc_peer_t *peer)
{
    sc_boot_t   *b = &peer->boot;

    return json_pack("{ss sb si si si sI sI ss?}",
                     "state", sc_boot_state(peer),
                     "registered", b->registered,
                     "requests", (int) b->requests,
                     "attempts", (int) b->attempts,
                     "last_status", b->last_status,
                     "min_gap_ms", (json_int_t) b->min_gap_ms,
                     "next_ms", (json_int_t) (b->next_ms
                                              ? b->next_ms - sc_now_ms() : 0),
                     "error", b->error[0] ? b->error : NULL);
}


/*
 * The one decision point: register when not registered; when registered,
 * ask again only for --refresh-interval or when short of peers (with a
 * doubling gap, so a lonely peer does not poll), and never sooner than
 * the gap the server asked for.
 */
static void
sc_boot_tick(evutil_socket_t fd, short what, void *arg)
{
    int         due;
    int64_t     now, since, wait;
    sc_peer_t  *peer = arg;
    sc_boot_t  *b = &peer->boot;

    (void) fd;
    (void) what;

    if (!b->wanted || b->inflight || peer->stopping) {
        return;
    }

    now = sc_now_ms();
    since = now - b->last_ms;

    if (b->registered) {
        due = peer->conf->refresh_ms && since >= peer->conf->refresh_ms;

        if (peer->peers.n < peer->conf->min_peers
            && since >= b->low_gap_ms)
        {
            due = 1;
            b->low_gap_ms *= 2;

            if (b->low_gap_ms > SC_BOOT_LOW_GAP_MAX) {
                b->low_gap_ms = SC_BOOT_LOW_GAP_MAX;
            }
        }

        if (!due) {
            sc_boot_schedule(peer, sc_boot_recheck(peer));
            return;
        }
    }

    wait = b->min_gap_ms - since;

    if (b->last_ms && wait > 0) {
        sc_boot_schedule(peer, wait);
        return;
    }

    sc_boot_send(peer);
}


/* (Re)arms the decision timer; a stopping peer has none left. */
static void
sc_boot_schedule(sc_peer_t *peer, int64_t ms)
{
    struct timeval  tv;

    if (peer->boot.timer == NULL) {
        return;
    }

    peer->boot.next_ms = sc_now_ms() + ms;
    sc_tv_ms(&tv, ms);
    evtimer_add(peer->boot.timer, &tv);
}


/* POST /connect {"id","name","addr"}; one bootstrap request per call. */
static void
sc_boot_send(sc_peer_t *peer)
{
    char        path[300];
    json_t     *body;
    sc_boot_t  *b = &peer->boot;

    snprintf(path, sizeof(path), "%s/connect", peer->conf->boot_prefix);

    body = sc_peer_self_json(peer);
    if (body == NULL) {
        sc_boot_schedule(peer, peer->conf->retry_ms);
        return;
    }

    b->inflight = 1;
    b->requests++;
    b->last_ms = sc_now_ms();
    sc_metrics.boot_requests++;

    sc_http_call(&peer->calls, peer->conf->boot_host, peer->conf->boot_port,
                 EVHTTP_REQ_POST, path, body, SC_CALL_FRESH,
                 sc_boot_connect_done, peer);
    json_decref(body);
}


/* 200 registers and merges, 429 waits as told, the rest fails. */
static void
sc_boot_connect_done(void *data, int status, struct evhttp_request *req,
    const char *error)
{
    int64_t     ra;
    sc_peer_t  *peer = data;
    sc_boot_t  *b = &peer->boot;

    b->inflight = 0;
    b->last_status = status;

    if (status == 200) {
        sc_metrics.boot_ok++;
        b->attempts = 0;
        b->error[0] = '\0';
        b->registered = 1;

        if (!b->wanted) {
            /* disconnected while this was in flight: leave again */
            sc_boot_delete(peer, NULL, NULL);
            return;
        }

        sc_boot_merge(peer, req);
        sc_log(SC_LOG_DEBUG, "peer %s: registered, knows %u peers",
               peer->id, peer->peers.n);
        sc_peer_registered(peer);
        sc_boot_schedule(peer, sc_boot_recheck(peer));
        return;
    }

    if (status == 429) {
        sc_metrics.boot_limited++;
        ra = sc_boot_retry_after(req, peer->conf->retry_ms);

        if (ra > b->min_gap_ms) {
            b->min_gap_ms = ra;
        }

        snprintf(b->error, sizeof(b->error),
                 "rate limited (429), retry after %lld ms", (long long) ra);
        sc_log(SC_LOG_DEBUG, "peer %s: %s", peer->id, b->error);

        sc_peer_registered(peer);
        sc_boot_schedule(peer, ra);
        return;
    }

    sc_boot_failed(peer, status, req, error);
}


/* Entries of the 200 answer; plain names (no address) are of no use. */
static void
sc_boot_merge(sc_peer_t *peer, struct evhttp_request *req)
{
    size_t       i;
    json_t      *list, *e;
    sc_entry_t   entry;
    const char  *err;

    list = sc_http_reply_json(req, SC_BOOT_REPLY_MAX);

    if (!json_is_array(list)) {
        sc_log(SC_LOG_WARN, "peer %s: /connect answer is not a JSON array",
               peer->id);
        json_decref(list);
        return;
    }

    json_array_foreach(list, i, e) {
        if (!json_is_object(e) || json_object_get(e, "addr") == NULL) {
            continue;
        }

        if (sc_peer_entry(peer, e, &entry, &err) != 0) {
            sc_log(SC_LOG_DEBUG, "peer %s: bootstrap entry skipped: %s",
                   peer->id, err);
            continue;
        }

        sc_peer_learn(peer, &entry, 1);
    }

    json_decref(list);
}


/*
 * Transport errors and 5xx back off exponentially with jitter (a 503's
 * Retry-After wins); other 4xx mean our request is wrong: stop trying.
 */
static void
sc_boot_failed(sc_peer_t *peer, int status, struct evhttp_request *req,
    const char *error)
{
    int64_t      delay;
    json_t      *json;
    sc_boot_t   *b = &peer->boot;
    const char  *msg;

    sc_metrics.boot_failed++;

    json = (status >= 400) ? sc_http_reply_json(req, 4096) : NULL;
    msg = json_string_value(json_object_get(json, "error"));

    if (status) {
        snprintf(b->error, sizeof(b->error), "HTTP %d%s%s", status,
                 msg ? ": " : "", msg ? msg : "");
    } else {
        snprintf(b->error, sizeof(b->error), "%s", error);
    }

    json_decref(json);

    if (status >= 400 && status < 500 && status != 408) {
        sc_log(SC_LOG_ERR, "peer %s: %s refused the registration: %s",
               peer->id, peer->conf->boot_url, b->error);
        b->wanted = 0;
        b->failed = 1;
        sc_peer_registered(peer);
        return;
    }

    if (b->registered) {
        sc_log(SC_LOG_DEBUG, "peer %s: refresh failed: %s", peer->id,
               b->error);
        sc_boot_schedule(peer, sc_boot_recheck(peer));
        return;
    }

    b->attempts++;

    if (peer->conf->max_retries && b->attempts >= peer->conf->max_retries) {
        sc_log(SC_LOG_ERR, "peer %s: giving up on %s after %u tries: %s",
               peer->id, peer->conf->boot_url, b->attempts, b->error);
        b->wanted = 0;
        b->failed = 1;
        sc_peer_registered(peer);
        return;
    }

    delay = peer->conf->retry_ms << (b->attempts < 16 ? b->attempts - 1 : 15);
    if (delay > SC_BOOT_BACKOFF_MAX) {
        delay = SC_BOOT_BACKOFF_MAX;
    }
    delay = delay * (80 + sc_rand_below(41)) / 100;

    if (status == 503) {
        delay = sc_boot_retry_after(req, delay);
    }

    sc_log(b->attempts == 1 ? SC_LOG_WARN : SC_LOG_DEBUG,
           "peer %s: registration with %s failed (%s), try %u, next in "
           "%lld ms", peer->id, peer->conf->boot_url, b->error, b->attempts,
           (long long) delay);

    sc_peer_registered(peer);
    sc_boot_schedule(peer, delay);
}


/* Reports the /delete outcome to whoever asked (stop, UI). */
static void
sc_boot_delete_done(void *data, int status, struct evhttp_request *req,
    const char *error)
{
    sc_boot_delete_t  *ctx = data;

    (void) req;

    if (status == 200) {
        sc_metrics.deletes++;
        sc_log(SC_LOG_DEBUG, "peer %s: deleted from the registry",
               ctx->peer->id);

    } else if (status == 404) {
        sc_log(SC_LOG_INFO, "peer %s: /delete: the registry had already "
               "dropped us", ctx->peer->id);

    } else if (status) {
        sc_log(SC_LOG_WARN, "peer %s: /delete answered HTTP %d",
               ctx->peer->id, status);

    } else {
        sc_log(SC_LOG_WARN, "peer %s: /delete failed: %s", ctx->peer->id,
               error);
    }

    if (ctx->done) {
        ctx->done(ctx->data, status, status ? NULL : error);
    }

    free(ctx);
}


/* Keeps the swarm's registered count true when we leave. */
static void
sc_boot_unregistered(sc_peer_t *peer)
{
    peer->boot.registered = 0;

    if (peer->counted) {
        peer->counted = 0;
        peer->swarm->registered--;
    }
}


/* Retry-After in seconds (fractions allowed); dates fall back to dflt. */
static int64_t
sc_boot_retry_after(struct evhttp_request *req, int64_t dflt)
{
    int64_t      ms;
    const char  *v;

    v = req ? evhttp_find_header(evhttp_request_get_input_headers(req),
                                 "Retry-After") : NULL;

    if (v == NULL || sc_parse_ms(v, &ms) != 0) {
        return dflt;
    }

    if (ms < 100) {
        ms = 100;
    }

    return ms > 300000 ? 300000 : ms;
}


/* How often a registered peer looks at whether it should ask again. */
static int64_t
sc_boot_recheck(sc_peer_t *peer)
{
    int64_t  ms;

    ms = peer->conf->retry_ms;

    if (ms < peer->boot.min_gap_ms) {
        ms = peer->boot.min_gap_ms;
    }

    if (peer->conf->refresh_ms && peer->conf->refresh_ms < ms) {
        ms = peer->conf->refresh_ms;
    }

    return ms < 250 ? 250 : ms;
}
