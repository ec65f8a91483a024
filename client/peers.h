/*
 * scale-client: the bounded set of known peers and the query queue, a
 * binary min-heap ordered by when each peer was last asked.
 */

#ifndef SC_PEERS_H
#define SC_PEERS_H


#include "core.h"


typedef struct sc_known_s  sc_known_t;

typedef int (*sc_peers_filter_pt)(void *data, sc_known_t *k);


struct sc_known_s {
    sc_known_t     *hnext;
    uint64_t        mark;
    unsigned        slot;
    unsigned        hidx;
    int64_t         asked;
    uint64_t        seq;
    int64_t         seen;
    int64_t         added;
    unsigned        fails;
    unsigned        port;
    const char     *id;
    const char     *name;
    const char     *addr;
    const char     *host;
    char            data[];
};


typedef struct {
    char           *id;
    int64_t         until;
} sc_tomb_t;


typedef struct {
    sc_known_t    **items;
    sc_known_t    **heap;
    sc_known_t    **buckets;
    unsigned        n;
    unsigned        max;
    unsigned        nbuckets;
    uint64_t        seq;
    uint64_t        epoch;
    sc_tomb_t      *tombs;
    unsigned        ntombs;
    unsigned        tomb_next;
} sc_peers_t;


int sc_peers_init(sc_peers_t *p, unsigned max);
void sc_peers_free(sc_peers_t *p);
sc_known_t *sc_peers_find(sc_peers_t *p, const char *id);
sc_known_t *sc_peers_add(sc_peers_t *p, const char *id, const char *name,
    const char *addr, const char *host, unsigned port);
void sc_peers_remove(sc_peers_t *p, sc_known_t *k);
sc_known_t *sc_peers_next(sc_peers_t *p);
void sc_peers_asked(sc_peers_t *p, sc_known_t *k, int64_t now);
unsigned sc_peers_sample(sc_peers_t *p, sc_known_t **out, unsigned k,
    const char *skip, sc_peers_filter_pt prefer, void *data, int fill);

void sc_peers_bury(sc_peers_t *p, const char *id, int64_t until);
int sc_peers_buried(sc_peers_t *p, const char *id, int64_t now);
void sc_peers_unbury(sc_peers_t *p, const char *id);


#endif /* SC_PEERS_H */
