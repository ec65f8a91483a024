/*
 * scale-client: a Bloom filter of the ids a peer knows, sent with
 * POST /contacts so the answer can favour peers the asker lacks.
 */

#ifndef SC_DIGEST_H
#define SC_DIGEST_H


#include "core.h"
#include "peers.h"


#define SC_DIGEST_HASHES     8
#define SC_DIGEST_ID_BITS    16
#define SC_DIGEST_MIN_BYTES  64
#define SC_DIGEST_BITS_MAX   (8 * 65536)


typedef struct {
    unsigned char  *bits;
    size_t          nbits;
} sc_digest_t;


char *sc_digest_hex(sc_peers_t *p, const char *self);
json_t *sc_digest_json(sc_peers_t *p, const char *self);
int sc_digest_parse(json_t *j, sc_digest_t *d, const char **err);
int sc_digest_has(sc_digest_t *d, const char *id);
int sc_digest_lacks(void *d, sc_known_t *k);
void sc_digest_free(sc_digest_t *d);


#endif /* SC_DIGEST_H */
