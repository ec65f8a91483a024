/*
 * scale-client: registration with the bootstrap server.
 */

#ifndef SC_BOOT_H
#define SC_BOOT_H


#include "core.h"


typedef void (*sc_boot_done_pt)(void *data, int status, const char *error);


typedef struct {
    int             wanted;
    int             registered;
    int             inflight;
    int             failed;
    unsigned        attempts;
    unsigned        requests;
    int             last_status;
    int64_t         last_ms;
    int64_t         min_gap_ms;
    int64_t         low_gap_ms;
    int64_t         next_ms;
    char            error[128];
    struct event   *timer;
} sc_boot_t;


int sc_boot_init(sc_peer_t *peer);
void sc_boot_free(sc_peer_t *peer);
void sc_boot_connect(sc_peer_t *peer);
void sc_boot_disconnect(sc_peer_t *peer, sc_boot_done_pt done, void *data);
int sc_boot_delete(sc_peer_t *peer, sc_boot_done_pt done, void *data);
json_t *sc_boot_json(sc_peer_t *peer);
const char *sc_boot_state(sc_peer_t *peer);


#endif /* SC_BOOT_H */
