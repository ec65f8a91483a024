/*
 * scale-client: the control API of a swarm (the dashboard's client
 * manager, proxied by NGINX): add, remove and list peers. Answers that
 * create or remove peers wait for each peer's first word from the
 * bootstrap (or its /delete) and list one result per peer.
 */

#include <stdio.h>
#include <stdlib.h>

#include "swarm.h"
#include "metrics.h"


typedef struct {
    struct evhttp_request  *req;
    json_t                 *results;
    unsigned                pending;
    unsigned                ok;
    int                     code;
} sc_batch_t;


typedef struct {
    sc_batch_t             *batch;
    json_t                 *result;
} sc_batch_item_t;


static void sc_control_handler(struct evhttp_request *req, void *data);
static void sc_control_index(sc_http_req_t *r);
static void sc_control_clients(sc_http_req_t *r);
static void sc_control_metrics(sc_http_req_t *r);
static void sc_control_reset(sc_http_req_t *r);
static void sc_control_add(sc_http_req_t *r);
static void sc_control_bulk(sc_http_req_t *r);
static void sc_control_remove(sc_http_req_t *r);
static int sc_control_fields(sc_http_req_t *r, json_t *body,
    const char *const *allowed);
static sc_batch_t *sc_control_batch(struct evhttp_request *req);
static void sc_control_create(sc_swarm_t *s, sc_batch_t *b,
    const char *id, const char *name, unsigned port);
static void sc_control_registered(void *data, sc_peer_t *peer);
static void sc_control_removed(void *data, sc_peer_t *peer, int status,
    const char *error);
static void sc_control_item_done(sc_batch_item_t *item);
static void sc_control_batch_done(sc_batch_t *b);
static void sc_control_remove_one(sc_swarm_t *s, sc_batch_t *b,
    json_t *id, int clean);
static json_t *sc_control_client_json(sc_swarm_t *s, sc_peer_t *peer);


static const sc_route_t  sc_control_routes[] = {
    { "/",                     SC_GET,  sc_control_index },
    { "/clients",              SC_GET,  sc_control_clients },
    { "/metrics",              SC_GET,  sc_control_metrics },
    { "/reset-metrics",        SC_POST, sc_control_reset },
    { "/add-client",           SC_POST, sc_control_add },
    { "/bulk-create-clients",  SC_POST, sc_control_bulk },
    { "/remove-client",        SC_POST, sc_control_remove },
    { NULL, 0, NULL }
};


/* The control listener, loopback only like every other. */
int
sc_control_init(sc_swarm_t *s)
{
    s->control = sc_http_listen(s->conf->control_host,
                                s->conf->control_port, s->conf->body_max,
                                sc_control_handler, s);
    if (s->control == NULL) {
        sc_log(SC_LOG_ERR, "control API: cannot listen on %s:%u",
               s->conf->control_host, s->conf->control_port);
        return -1;
    }

    sc_log(SC_LOG_INFO, "control API on http://%s:%u/",
           s->conf->control_host, s->conf->control_port);
    return 0;
}


/* The control listener's callback. */
static void
sc_control_handler(struct evhttp_request *req, void *data)
{
    sc_swarm_t  *s = data;

    sc_http_dispatch(req, sc_control_routes, s, s->conf->body_max);
}


/* GET /: what the control API offers. */
static void
sc_control_index(sc_http_req_t *r)
{
    json_t            *list;
    const sc_route_t  *rt;

    list = json_array();

    for (rt = sc_control_routes; rt->path; rt++) {
        json_array_append_new(list, json_pack("{ssss}", "path", rt->path,
                                              "method", rt->methods
                                              == SC_POST ? "POST" : "GET"));
    }

    sc_http_json(r->req, 200, json_pack("{so}", "routes", list));
}


/* GET /clients[?id=ID]: every peer with its registration and knowledge. */
static void
sc_control_clients(sc_http_req_t *r)
{
    json_t           *list;
    sc_peer_t        *peer;
    sc_swarm_t       *s = r->data;
    const char       *id;
    struct evkeyval  *kv;

    id = NULL;

    TAILQ_FOREACH(kv, &r->args, next) {
        if (strcmp(kv->key, "id") != 0
            || !sc_valid_name(kv->value, strlen(kv->value)))
        {
            sc_http_error(r->req, 400, "bad query parameter: %.32s",
                          kv->key);
            return;
        }
        id = kv->value;
    }

    list = json_array();

    for (peer = s->head; peer; peer = peer->next) {
        if (id == NULL || strcmp(peer->id, id) == 0) {
            json_array_append_new(list, sc_control_client_json(s, peer));
        }
    }

    if (id && json_array_size(list) == 0) {
        json_decref(list);
        sc_http_error(r->req, 404, "no such client");
        return;
    }

    sc_http_json(r->req, 200,
                 json_pack("{sisisbso}", "count", (int) s->n,
                           "registered", (int) s->registered,
                           "full_membership", s->full, "clients", list));
}


/* GET /metrics: the swarm's figures as JSON. */
static void
sc_control_metrics(sc_http_req_t *r)
{
    if (TAILQ_FIRST(&r->args)) {
        sc_http_error(r->req, 400, "this route takes no query parameters");
        return;
    }

    sc_http_json(r->req, 200, sc_swarm_metrics_json(r->data));
}


/* Zeroes the chat figures so a benchmark can measure one phase. */
static void
sc_control_reset(sc_http_req_t *r)
{
    json_t  *body;

    body = sc_http_body(r, 1);
    if (body == NULL) {
        return;
    }

    if (sc_control_fields(r, body, (const char *const []) { NULL }) == 0) {
        sc_metrics_reset();
        sc_http_json(r->req, 200, json_pack("{sb}", "reset", 1));
    }

    json_decref(body);
}


/* POST /add-client [{"id","name","port"}]: one peer, defaults allowed. */
static void
sc_control_add(sc_http_req_t *r)
{
    static const char *const  fields[] = { "id", "name", "port", NULL };

    json_t      *body, *jport;
    unsigned     port;
    sc_batch_t  *b;
    const char  *id, *name, *err;

    body = sc_http_body(r, 1);
    if (body == NULL) {
        return;
    }

    if (sc_control_fields(r, body, fields) != 0) {
        goto done;
    }

    id = sc_json_string(body, "id", SC_NAME_MAX, 0, &err);
    if (err || (id && !sc_valid_name(id, strlen(id)))) {
        sc_http_error(r->req, 400, "id: %s",
                      err ? err : "has characters outside [A-Za-z0-9._:@-]");
        goto done;
    }

    name = sc_json_string(body, "name", SC_NAME_MAX, 0, &err);
    if (err || (name && !sc_valid_name(name, strlen(name)))) {
        sc_http_error(r->req, 400, "name: %s",
                      err ? err : "has characters outside [A-Za-z0-9._:@-]");
        goto done;
    }

    jport = json_object_get(body, "port");
    port = 0;

    if (jport) {
        if (!json_is_integer(jport) || json_integer_value(jport) < 1
            || json_integer_value(jport) > 65535)
        {
            sc_http_error(r->req, 400, "port: an integer 1..65535");
            goto done;
        }

        port = json_integer_value(jport);
    }

    if ((id == NULL) != (port == 0)) {
        sc_http_error(r->req, 400, "give both id and port, or neither");
        goto done;
    }

    b = sc_control_batch(r->req);
    if (b == NULL) {
        sc_http_error(r->req, 503, "out of memory");
        goto done;
    }

    sc_control_create(r->data, b, id, name, port);

    if (b->ok == 0) {
        b->code = 409;
    }

    sc_control_batch_done(b);

done:

    json_decref(body);
}


/* POST /bulk-create-clients {"count":N} */
static void
sc_control_bulk(sc_http_req_t *r)
{
    static const char *const  fields[] = { "count", NULL };

    json_t      *body, *count;
    unsigned     i, n, room;
    sc_swarm_t  *s = r->data;
    sc_batch_t  *b;

    body = sc_http_body(r, 0);
    if (body == NULL) {
        return;
    }

    if (sc_control_fields(r, body, fields) != 0) {
        goto done;
    }

    room = s->conf->max_clients - s->n;
    count = json_object_get(body, "count");

    if (!json_is_integer(count) || json_integer_value(count) < 1) {
        sc_http_error(r->req, 400, "count: a positive integer is required");
        goto done;
    }

    if (json_integer_value(count) > room) {
        sc_http_error(r->req, 409, "count: only %u more clients allowed "
                      "(--max-clients)", room);
        goto done;
    }

    n = json_integer_value(count);

    b = sc_control_batch(r->req);
    if (b == NULL) {
        sc_http_error(r->req, 503, "out of memory");
        goto done;
    }

    for (i = 0; i < n; i++) {
        sc_control_create(s, b, NULL, NULL, 0);
    }

    sc_control_batch_done(b);

done:

    json_decref(body);
}


/*
 * POST /remove-client {"id": ID} or {"ids": [..]}, optional "clean"
 * (default true: send /delete; false: vanish, as if killed).
 */
static void
sc_control_remove(sc_http_req_t *r)
{
    static const char *const  fields[] = { "id", "ids", "clean", NULL };

    int          clean;
    size_t       i;
    json_t      *body, *id, *ids, *jclean, *e;
    sc_batch_t  *b;

    body = sc_http_body(r, 0);
    if (body == NULL) {
        return;
    }

    if (sc_control_fields(r, body, fields) != 0) {
        goto done;
    }

    id = json_object_get(body, "id");
    ids = json_object_get(body, "ids");
    jclean = json_object_get(body, "clean");

    if ((id == NULL) == (ids == NULL)) {
        sc_http_error(r->req, 400, "give \"id\" or \"ids\"");
        goto done;
    }

    if (id && !json_is_string(id)) {
        sc_http_error(r->req, 400, "id: must be a string");
        goto done;
    }

    if (ids && (!json_is_array(ids) || json_array_size(ids) == 0
                || json_array_size(ids) > r->body_max))
    {
        sc_http_error(r->req, 400, "ids: a non-empty array of ids");
        goto done;
    }

    json_array_foreach(ids, i, e) {
        if (!json_is_string(e)) {
            sc_http_error(r->req, 400, "ids[%zu]: must be a string", i);
            goto done;
        }
    }

    if (jclean && !json_is_boolean(jclean)) {
        sc_http_error(r->req, 400, "clean: must be true or false");
        goto done;
    }

    clean = jclean ? json_is_true(jclean) : 1;

    b = sc_control_batch(r->req);
    if (b == NULL) {
        sc_http_error(r->req, 503, "out of memory");
        goto done;
    }

    if (id) {
        sc_control_remove_one(r->data, b, id, clean);

    } else {
        json_array_foreach(ids, i, e) {
            sc_control_remove_one(r->data, b, e, clean);
        }
    }

    if (b->ok == 0) {
        b->code = 404;
    }

    sc_control_batch_done(b);

done:

    json_decref(body);
}


/* Unknown fields are rejected: a typo must not pass as a default. */
static int
sc_control_fields(sc_http_req_t *r, json_t *body, const char *const *allowed)
{
    size_t              i;
    json_t             *v;
    const char         *key;

    json_object_foreach(body, key, v) {
        for (i = 0; allowed[i]; i++) {
            if (strcmp(allowed[i], key) == 0) {
                break;
            }
        }

        if (allowed[i] == NULL) {
            sc_http_error(r->req, 400, "unknown field: %.32s", key);
            return -1;
        }
    }

    if (TAILQ_FIRST(&r->args)) {
        sc_http_error(r->req, 400, "this route takes no query parameters");
        return -1;
    }

    return 0;
}


/*
 * A batch answers once every item is done. It starts with one pending
 * item of its own, released by sc_control_batch_done(), so items that
 * finish at once cannot answer early.
 */
static sc_batch_t *
sc_control_batch(struct evhttp_request *req)
{
    sc_batch_t  *b;

    b = calloc(1, sizeof(sc_batch_t));
    if (b == NULL) {
        return NULL;
    }

    b->results = json_array();
    if (b->results == NULL) {
        free(b);
        return NULL;
    }

    b->req = req;
    b->pending = 1;
    b->code = 200;

    return b;
}


/* One peer of a batch; its result waits for its registration. */
static void
sc_control_create(sc_swarm_t *s, sc_batch_t *b, const char *id,
    const char *name, unsigned port)
{
    json_t           *result;
    sc_peer_t        *peer;
    const char       *err;
    sc_batch_item_t  *item;

    peer = sc_swarm_add(s, id, name, port, &err);

    if (peer == NULL) {
        json_array_append_new(b->results,
                              json_pack("{ss?sbss}", "id", id,
                                        "ok", 0, "error", err));
        return;
    }

    b->ok++;
    result = json_pack("{sssssssb}", "id", peer->id, "name", peer->name,
                       "addr", peer->addr, "ok", 1);
    json_array_append_new(b->results, result);

    if (!s->conf->auto_connect) {
        return;
    }

    item = malloc(sizeof(sc_batch_item_t));
    if (item == NULL) {
        return;
    }

    item->batch = b;
    item->result = result;
    b->pending++;

    peer->on_register = sc_control_registered;
    peer->on_register_data = item;
}


/* The peer's first answer from the bootstrap, or its removal. */
static void
sc_control_registered(void *data, sc_peer_t *peer)
{
    sc_batch_item_t  *item = data;

    json_object_set_new(item->result, "registered",
                        json_boolean(peer->boot.registered));
    json_object_set_new(item->result, "status",
                        json_integer(peer->boot.last_status));
    json_object_set_new(item->result, "known",
                        json_integer(peer->peers.n));

    if (peer->boot.error[0]) {
        json_object_set_new(item->result, "error",
                            json_string(peer->boot.error));

    } else if (peer->stopping) {
        json_object_set_new(item->result, "error",
                            json_string("removed before registering"));
    }

    sc_control_item_done(item);
}


/* One peer of a removal batch; its result waits for /delete. */
static void
sc_control_remove_one(sc_swarm_t *s, sc_batch_t *b, json_t *id, int clean)
{
    json_t           *result;
    sc_peer_t        *peer;
    sc_batch_item_t  *item;

    peer = sc_swarm_find(s, json_string_value(id));

    if (peer == NULL) {
        json_array_append_new(b->results,
                              json_pack("{sOsbss}", "id", id, "ok", 0,
                                        "error", "no such client"));
        return;
    }

    result = json_pack("{sssssb}", "id", peer->id, "addr", peer->addr,
                       "ok", 1);
    json_array_append_new(b->results, result);
    b->ok++;

    item = malloc(sizeof(sc_batch_item_t));

    if (item) {
        item->batch = b;
        item->result = result;
        b->pending++;
    }

    if (clean && !peer->boot.registered) {
        json_object_set_new(result, "delete", json_string("not registered"));
    }

    sc_swarm_remove(s, peer, clean, item ? sc_control_removed : NULL, item);
}


/* The peer is gone: record how its /delete went. */
static void
sc_control_removed(void *data, sc_peer_t *peer, int status,
    const char *error)
{
    sc_batch_item_t  *item = data;

    (void) peer;

    if (status) {
        json_object_set_new(item->result, "delete_status",
                            json_integer(status));
    }

    if (error) {
        json_object_set_new(item->result, "error", json_string(error));
    }

    sc_control_item_done(item);
}


/* One item of a batch finished. */
static void
sc_control_item_done(sc_batch_item_t *item)
{
    sc_batch_t  *b = item->batch;

    free(item);
    sc_control_batch_done(b);
}


/* The answer: counts, per-peer results, and an "error" when none worked. */
static void
sc_control_batch_done(sc_batch_t *b)
{
    json_t  *reply;

    if (--b->pending > 0) {
        return;
    }

    reply = json_pack("{sisiso}", "ok", (int) b->ok,
                      "failed", (int) (json_array_size(b->results) - b->ok),
                      "results", b->results);

    if (reply && b->code >= 400) {
        json_object_set(reply, "error",
                        json_object_get(json_array_get(b->results, 0),
                                        "error"));
    }

    sc_http_json(b->req, b->code, reply);
    free(b);
}


/* One line of GET /clients. */
static json_t *
sc_control_client_json(sc_swarm_t *s, sc_peer_t *peer)
{
    return json_pack("{ss ss ss sb ss si si si si sb sb}",
                     "id", peer->id,
                     "name", peer->name,
                     "addr", peer->addr,
                     "registered", peer->boot.registered,
                     "state", sc_boot_state(peer),
                     "known", (int) peer->peers.n,
                     "known_live", (int) sc_swarm_known_live(s, peer),
                     "bootstrap_requests", (int) peer->boot.requests,
                     "messages", (int) peer->chat.n,
                     "faulty", peer->faulty,
                     "slow", peer->slow);
}
