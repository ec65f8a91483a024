/*
 * scale-client: Bloom-filter digests. 16 bits per known id (at least
 * 512 bits) and 8 hashes (double hashing of a mixed 64-bit FNV-1a) give
 * about 0.06% false positives. For an exchange a false positive only
 * delays an entry; for a broadcast it could hide a peer from the relays,
 * hence the generous size. Encoded as lower-case hex in JSON:
 * {"bits": "<hex>"}.
 */

#include <stdlib.h>
#include <ctype.h>

#include "digest.h"


static void sc_digest_hash(const char *id, uint32_t *h1, uint32_t *h2);
static void sc_digest_add(sc_digest_t *d, const char *id);


/* {"bits": hex} of what p knows, plus self. NULL on no memory. */
json_t *
sc_digest_json(sc_peers_t *p, const char *self)
{
    char    *s;
    json_t  *j;

    s = sc_digest_hex(p, self);
    if (s == NULL) {
        return NULL;
    }

    j = json_pack("{ss}", "bits", s);
    free(s);

    return j;
}


/* The bits alone, hex, malloc'ed: a chat broadcast keeps them. */
char *
sc_digest_hex(sc_peers_t *p, const char *self)
{
    static const char  hex[] = "0123456789abcdef";

    char         *s;
    size_t        i, bytes;
    sc_digest_t   d;

    bytes = (SC_DIGEST_ID_BITS * (p->n + 1) + 7) / 8;
    bytes = bytes < SC_DIGEST_MIN_BYTES ? SC_DIGEST_MIN_BYTES : bytes;

    if (bytes * 8 > SC_DIGEST_BITS_MAX) {
        bytes = SC_DIGEST_BITS_MAX / 8;
    }

    d.nbits = bytes * 8;
    d.bits = calloc(1, bytes);
    s = malloc(2 * bytes + 1);

    if (d.bits == NULL || s == NULL) {
        free(d.bits);
        free(s);
        return NULL;
    }

    sc_digest_add(&d, self);

    for (i = 0; i < p->n; i++) {
        sc_digest_add(&d, p->items[i]->id);
    }

    for (i = 0; i < bytes; i++) {
        s[2 * i] = hex[d.bits[i] >> 4];
        s[2 * i + 1] = hex[d.bits[i] & 15];
    }
    s[2 * bytes] = '\0';

    free(d.bits);

    return s;
}


/* Checks and decodes a peer's digest; -1 with *err on bad input. */
int
sc_digest_parse(json_t *j, sc_digest_t *d, const char **err)
{
    size_t       i, len;
    json_t      *bits;
    const char  *s;
    int          hi, lo;

    d->bits = NULL;
    d->nbits = 0;

    bits = json_object_get(j, "bits");

    if (!json_is_object(j) || !json_is_string(bits)
        || json_object_size(j) != 1)
    {
        *err = "must be {\"bits\": \"<hex>\"}";
        return -1;
    }

    s = json_string_value(bits);
    len = json_string_length(bits);

    if (len == 0 || len % 2 || len * 4 > SC_DIGEST_BITS_MAX) {
        *err = "bits: an even number of hex digits, at most 128k";
        return -1;
    }

    d->bits = malloc(len / 2);
    if (d->bits == NULL) {
        *err = "out of memory";
        return -1;
    }

    for (i = 0; i < len; i += 2) {
        if (!isxdigit((unsigned char) s[i])
            || !isxdigit((unsigned char) s[i + 1]))
        {
            sc_digest_free(d);
            *err = "bits: not hex";
            return -1;
        }

        hi = isdigit((unsigned char) s[i]) ? s[i] - '0'
                                           : (s[i] | 0x20) - 'a' + 10;
        lo = isdigit((unsigned char) s[i + 1]) ? s[i + 1] - '0'
                                           : (s[i + 1] | 0x20) - 'a' + 10;
        d->bits[i / 2] = (unsigned char) (hi << 4 | lo);
    }

    d->nbits = len * 4;
    return 0;
}


/* "Probably known" (1) or "certainly not known" (0). */
int
sc_digest_has(sc_digest_t *d, const char *id)
{
    size_t    b;
    uint32_t  h1, h2, i;

    if (d->nbits == 0) {
        return 0;
    }

    sc_digest_hash(id, &h1, &h2);

    for (i = 0; i < SC_DIGEST_HASHES; i++) {
        b = (h1 + i * h2) % d->nbits;

        if (!(d->bits[b / 8] & (1u << (b % 8)))) {
            return 0;
        }
    }

    return 1;
}


/* A sc_peers_sample() filter: peers the digest's owner does not know. */
int
sc_digest_lacks(void *d, sc_known_t *k)
{
    return !sc_digest_has(d, k->id);
}


/* Safe on a digest that was never parsed. */
void
sc_digest_free(sc_digest_t *d)
{
    free(d->bits);
    d->bits = NULL;
    d->nbits = 0;
}


/* Sets the id's bits. */
static void
sc_digest_add(sc_digest_t *d, const char *id)
{
    size_t    b;
    uint32_t  h1, h2, i;

    sc_digest_hash(id, &h1, &h2);

    for (i = 0; i < SC_DIGEST_HASHES; i++) {
        b = (h1 + i * h2) % d->nbits;
        d->bits[b / 8] |= (unsigned char) (1u << (b % 8));
    }
}


/* 64-bit FNV-1a, then the splitmix64 finaliser: two good 32-bit halves. */
static void
sc_digest_hash(const char *id, uint32_t *h1, uint32_t *h2)
{
    uint64_t  h = 0xcbf29ce484222325ULL;

    for ( /* void */ ; *id; id++) {
        h = (h ^ (unsigned char) *id) * 0x100000001b3ULL;
    }

    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;

    *h1 = (uint32_t) h;
    *h2 = (uint32_t) (h >> 32) | 1;
}
