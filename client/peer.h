/*
 * scale-client: one peer: its listener, registration, known peers,
 * exchange timer and chat.
 */

#ifndef SC_PEER_H
#define SC_PEER_H


#include "core.h"
#include "conf.h"
#include "http.h"
#include "peers.h"
#include "boot.h"
#include "chat.h"


typedef struct sc_probe_s  sc_probe_t;


/* A peer entry from the network, checked; strings point into the JSON. */
typedef struct {
    const char             *id;
    const char             *name;
    const char             *addr;
    char                    host[SC_ADDR_MAX + 1];
    unsigned                port;
} sc_entry_t;

typedef void (*sc_peer_stopped_pt)(void *data, sc_peer_t *peer, int status,
    const char *error);


struct sc_peer_s {
    sc_swarm_t             *swarm;
    const sc_conf_t        *conf;
    struct event_base      *base;
    sc_peer_t              *prev;
    sc_peer_t              *next;

    char                    id[SC_NAME_MAX + 1];
    char                    name[SC_NAME_MAX + 1];
    char                    addr[SC_ADDR_MAX + 1];
    unsigned                port;
    int64_t                 created;

    struct evhttp          *http;
    sc_calls_t              calls;
    sc_peers_t              peers;
    sc_boot_t               boot;
    sc_chat_t               chat;

    struct event           *exchange_ev;
    char                    asking[SC_NAME_MAX + 1];
    uint64_t                exchanges;
    uint64_t                exchanges_failed;
    uint64_t                contacts_in;
    uint64_t                dropped;

    sc_probe_t             *probes;
    uint64_t                probes_answered;
    unsigned                faulty:1;
    unsigned                slow:1;
    unsigned                stopping:1;
    unsigned                counted:1;

    void                  (*on_register)(void *data, sc_peer_t *peer);
    void                   *on_register_data;

    sc_peer_stopped_pt      on_stop;
    void                   *on_stop_data;
};


sc_peer_t *sc_peer_create(sc_swarm_t *swarm, const char *id,
    const char *name, const char *host, unsigned port, const char **err);
void sc_peer_start(sc_peer_t *peer);
void sc_peer_stop(sc_peer_t *peer, int clean, sc_peer_stopped_pt done,
    void *data);
void sc_peer_registered(sc_peer_t *peer);
void sc_peer_contact_ok(sc_peer_t *peer, const char *id);
void sc_peer_contact_failed(sc_peer_t *peer, const char *id,
    const char *why);
int sc_peer_entry(sc_peer_t *peer, json_t *entry, sc_entry_t *out,
    const char **err);
sc_known_t *sc_peer_learn(sc_peer_t *peer, sc_entry_t *e, int trusted);
json_t *sc_peer_self_json(sc_peer_t *peer);
json_t *sc_peer_state_json(sc_peer_t *peer);
json_t *sc_peer_peers_json(sc_peer_t *peer);

void sc_exchange_start(sc_peer_t *peer);
void sc_exchange_handler(sc_http_req_t *r);

void sc_http_api_handler(struct evhttp_request *req, void *data);
void sc_http_api_cancel_probes(sc_peer_t *peer);


#endif /* SC_PEER_H */
