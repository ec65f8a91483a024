/*
 * scale-client: the set of peers one process runs (one for a single
 * peer), their shared timers, metrics and the control API.
 */

#ifndef SC_SWARM_H
#define SC_SWARM_H


#include "core.h"
#include "conf.h"
#include "peer.h"


struct sc_swarm_s {
    struct event_base  *base;
    const sc_conf_t    *conf;
    sc_peer_t          *head;
    unsigned            n;
    unsigned            registered;
    unsigned            stopping;
    unsigned            next_index;
    int                 shutting_down;

    int64_t             start;
    int64_t             changed;
    int64_t             full_at;
    int64_t             first_full;
    int                 full;
    unsigned            known_min;
    double              known_mean;

    int64_t             rate_at;
    uint64_t            rate_sent;
    uint64_t            rate_delivered;
    double              sent_rate;
    double              delivered_rate;

    struct event       *check_ev;
    struct event       *progress_ev;
    struct event       *msg_ev;
    struct event       *stop_ev;
    struct event       *exit_ev;
    struct evhttp      *control;
};


sc_swarm_t *sc_swarm_create(struct event_base *base, const sc_conf_t *conf);
void sc_swarm_free(sc_swarm_t *s);
sc_peer_t *sc_swarm_add(sc_swarm_t *s, const char *id, const char *name,
    unsigned port, const char **err);
void sc_swarm_remove(sc_swarm_t *s, sc_peer_t *peer, int clean,
    sc_peer_stopped_pt done, void *data);
sc_peer_t *sc_swarm_find(sc_swarm_t *s, const char *id);
void sc_swarm_changed(sc_swarm_t *s);
void sc_swarm_shutdown(sc_swarm_t *s);
unsigned sc_swarm_known_live(sc_swarm_t *s, sc_peer_t *peer);
json_t *sc_swarm_metrics_json(sc_swarm_t *s);

int sc_control_init(sc_swarm_t *s);


#endif /* SC_SWARM_H */
