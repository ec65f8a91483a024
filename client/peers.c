/*
 * scale-client: known peers. Three views of one set: a hash for lookup
 * by id, a dense array for uniform random subsets, and a min-heap on
 * (last asked, sequence) that is the query queue. A small ring of
 * tombstones remembers peers we dropped so rumours do not revive them.
 */

#include <stdlib.h>

#include "peers.h"


#define SC_TOMBS  128


static uint32_t sc_peers_hash(const char *s);
static int sc_peers_less(sc_known_t *a, sc_known_t *b);
static void sc_peers_up(sc_peers_t *p, unsigned i);
static void sc_peers_down(sc_peers_t *p, unsigned i);
static void sc_peers_set(sc_peers_t *p, unsigned i, sc_known_t *k);
static unsigned sc_peers_pick(sc_peers_t *p, sc_known_t **out,
    unsigned got, unsigned k, const char *skip, sc_peers_filter_pt filter,
    void *data);


/* All arrays are sized once, for --max-peers. */
int
sc_peers_init(sc_peers_t *p, unsigned max)
{
    memset(p, 0, sizeof(sc_peers_t));

    p->max = max;
    p->nbuckets = 16;

    while (p->nbuckets < max * 2) {
        p->nbuckets *= 2;
    }

    p->items = calloc(max, sizeof(sc_known_t *));
    p->heap = calloc(max, sizeof(sc_known_t *));
    p->buckets = calloc(p->nbuckets, sizeof(sc_known_t *));
    p->tombs = calloc(SC_TOMBS, sizeof(sc_tomb_t));

    if (!p->items || !p->heap || !p->buckets || !p->tombs) {
        sc_peers_free(p);
        return -1;
    }

    return 0;
}


/* Frees the entries, the tombstones and the arrays. */
void
sc_peers_free(sc_peers_t *p)
{
    unsigned  i;

    for (i = 0; i < p->n; i++) {
        free(p->items[i]);
    }

    for (i = 0; p->tombs && i < SC_TOMBS; i++) {
        free(p->tombs[i].id);
    }

    free(p->items);
    free(p->heap);
    free(p->buckets);
    free(p->tombs);
    memset(p, 0, sizeof(sc_peers_t));
}


/* Lookup by id, O(1) on average. */
sc_known_t *
sc_peers_find(sc_peers_t *p, const char *id)
{
    sc_known_t  *k;

    for (k = p->buckets[sc_peers_hash(id) & (p->nbuckets - 1)];
         k;
         k = k->hnext)
    {
        if (strcmp(k->id, id) == 0) {
            return k;
        }
    }

    return NULL;
}


/*
 * Adds a peer, or returns the one we have; a known id at a new address
 * is replaced (the peer restarted elsewhere). NULL when the set is full.
 * A new peer has never been asked, so it is at the head of the queue.
 */
sc_known_t *
sc_peers_add(sc_peers_t *p, const char *id, const char *name,
    const char *addr, const char *host, unsigned port)
{
    size_t       lid, lname, laddr, lhost;
    uint32_t     b;
    sc_known_t  *k;

    k = sc_peers_find(p, id);

    if (k) {
        if (strcmp(k->addr, addr) == 0) {
            return k;
        }
        sc_peers_remove(p, k);
    }

    if (p->n >= p->max) {
        return NULL;
    }

    lid = strlen(id) + 1;
    lname = strlen(name) + 1;
    laddr = strlen(addr) + 1;
    lhost = strlen(host) + 1;

    k = calloc(1, sizeof(sc_known_t) + lid + lname + laddr + lhost);
    if (k == NULL) {
        return NULL;
    }

    k->id = memcpy(k->data, id, lid);
    k->name = memcpy(k->data + lid, name, lname);
    k->addr = memcpy(k->data + lid + lname, addr, laddr);
    k->host = memcpy(k->data + lid + lname + laddr, host, lhost);
    k->port = port;
    k->added = sc_now_ms();
    k->seq = ++p->seq;

    b = sc_peers_hash(id) & (p->nbuckets - 1);
    k->hnext = p->buckets[b];
    p->buckets[b] = k;

    k->slot = p->n;
    p->items[p->n] = k;
    sc_peers_set(p, p->n, k);
    p->n++;
    sc_peers_up(p, k->hidx);

    return k;
}


/* O(1) out of the dense array (swap with last), O(log n) out of the heap. */
void
sc_peers_remove(sc_peers_t *p, sc_known_t *k)
{
    unsigned      i;
    sc_known_t  **pp, *last;

    pp = &p->buckets[sc_peers_hash(k->id) & (p->nbuckets - 1)];
    while (*pp != k) {
        pp = &(*pp)->hnext;
    }
    *pp = k->hnext;

    p->n--;

    last = p->items[p->n];
    p->items[k->slot] = last;
    last->slot = k->slot;

    i = k->hidx;
    last = p->heap[p->n];

    if (i != p->n) {
        sc_peers_set(p, i, last);
        sc_peers_down(p, i);
        sc_peers_up(p, last->hidx);
    }

    free(k);
}


/* The peer we have gone longest without asking (never asked first). */
sc_known_t *
sc_peers_next(sc_peers_t *p)
{
    return p->n ? p->heap[0] : NULL;
}


/* The peer was asked now: to the back of the queue. */
void
sc_peers_asked(sc_peers_t *p, sc_known_t *k, int64_t now)
{
    k->asked = now;
    k->seq = ++p->seq;
    sc_peers_down(p, k->hidx);
}


/*
 * Up to k distinct live peers (no failures pending), never the one named
 * skip, uniformly at random: first peers that prefer() likes, then (with
 * fill) any.
 */
unsigned
sc_peers_sample(sc_peers_t *p, sc_known_t **out, unsigned k,
    const char *skip, sc_peers_filter_pt prefer, void *data, int fill)
{
    unsigned  got;

    got = 0;
    p->epoch++;

    if (prefer) {
        got = sc_peers_pick(p, out, got, k, skip, prefer, data);
    }

    return fill ? sc_peers_pick(p, out, got, k, skip, NULL, NULL) : got;
}


/*
 * Adds random eligible peers to out[got..k) by a partial Fisher-Yates
 * shuffle of the dense array, so it costs what it looks at.
 */
static unsigned
sc_peers_pick(sc_peers_t *p, sc_known_t **out, unsigned got, unsigned k,
    const char *skip, sc_peers_filter_pt filter, void *data)
{
    unsigned     i, j;
    sc_known_t  *t;

    for (i = 0; i < p->n && got < k; i++) {
        j = i + sc_rand_below(p->n - i);

        t = p->items[j];
        p->items[j] = p->items[i];
        p->items[j]->slot = j;
        p->items[i] = t;
        t->slot = i;

        if (t->fails == 0 && t->mark != p->epoch
            && (skip == NULL || strcmp(t->id, skip) != 0)
            && (filter == NULL || filter(data, t)))
        {
            t->mark = p->epoch;
            out[got++] = t;
        }
    }

    return got;
}


/* Remembers a dropped peer until a deadline; the ring overwrites oldest. */
void
sc_peers_bury(sc_peers_t *p, const char *id, int64_t until)
{
    sc_tomb_t  *t;

    sc_peers_unbury(p, id);

    t = &p->tombs[p->tomb_next];
    free(t->id);

    t->id = strdup(id);
    t->until = until;

    p->tomb_next = (p->tomb_next + 1) % SC_TOMBS;
    if (p->ntombs < SC_TOMBS) {
        p->ntombs++;
    }
}


/* Is this id a peer we dropped recently? */
int
sc_peers_buried(sc_peers_t *p, const char *id, int64_t now)
{
    unsigned  i;

    for (i = 0; i < p->ntombs; i++) {
        if (p->tombs[i].id && p->tombs[i].until > now
            && strcmp(p->tombs[i].id, id) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* A peer that talks to us directly is alive, whatever rumour said. */
void
sc_peers_unbury(sc_peers_t *p, const char *id)
{
    unsigned  i;

    for (i = 0; i < p->ntombs; i++) {
        if (p->tombs[i].id && strcmp(p->tombs[i].id, id) == 0) {
            free(p->tombs[i].id);
            p->tombs[i].id = NULL;
        }
    }
}


/* FNV-1a: ids are short strings. */
static uint32_t
sc_peers_hash(const char *s)
{
    uint32_t  h = 2166136261u;

    while (*s) {
        h = (h ^ (unsigned char) *s++) * 16777619u;
    }

    return h;
}


/* Heap order: asked longest ago first, then oldest news. */
static int
sc_peers_less(sc_known_t *a, sc_known_t *b)
{
    if (a->asked != b->asked) {
        return a->asked < b->asked;
    }

    return a->seq < b->seq;
}


/* Puts an entry at a heap slot and remembers the slot. */
static void
sc_peers_set(sc_peers_t *p, unsigned i, sc_known_t *k)
{
    p->heap[i] = k;
    k->hidx = i;
}


/* Restores the heap above slot i. */
static void
sc_peers_up(sc_peers_t *p, unsigned i)
{
    unsigned     parent;
    sc_known_t  *k;

    k = p->heap[i];

    while (i > 0) {
        parent = (i - 1) / 2;

        if (!sc_peers_less(k, p->heap[parent])) {
            break;
        }

        sc_peers_set(p, i, p->heap[parent]);
        i = parent;
    }

    sc_peers_set(p, i, k);
}


/* Restores the heap below slot i. */
static void
sc_peers_down(sc_peers_t *p, unsigned i)
{
    unsigned     child;
    sc_known_t  *k;

    k = p->heap[i];

    for ( ;; ) {
        child = 2 * i + 1;

        if (child >= p->n) {
            break;
        }

        if (child + 1 < p->n
            && sc_peers_less(p->heap[child + 1], p->heap[child]))
        {
            child++;
        }

        if (!sc_peers_less(p->heap[child], k)) {
            break;
        }

        sc_peers_set(p, i, p->heap[child]);
        i = child;
    }

    sc_peers_set(p, i, k);
}
