
/*
 * The shared-memory registry.  Lookups go through the hashset, uniform
 * samples through the dense array (swap-remove keeps it dense), and
 * schedules through the min-heap.  All three hold 32-bit offsets of the
 * same slab-allocated entries.  The caller holds the zone lock.
 */


#include "ngx_http_scale_registry.h"


/* bytes of zone planned per entry when sizing the arrays */
#define NGX_HTTP_SCALE_PLANNED_ENTRY  80


static void ngx_http_scale_heap_up(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_uint_t i);
static void ngx_http_scale_heap_down(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_uint_t i);
static void ngx_http_scale_heap_fix(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_uint_t i);
static ngx_http_scale_entry_t *ngx_http_scale_entry_alloc(
    ngx_slab_pool_t *shpool, ngx_http_scale_shctx_t *sh,
    ngx_http_scale_identity_t *ident, ngx_http_scale_entry_t *from);
static void ngx_http_scale_entry_free(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_http_scale_entry_t *e);
static uint32_t *ngx_http_scale_bucket_link(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_http_scale_entry_t *e);
static size_t ngx_http_scale_slab_size(ngx_slab_pool_t *shpool,
    size_t size);
static u_char ngx_http_scale_identity_flags(ngx_http_scale_identity_t *ident);
static void ngx_http_scale_dense_swap(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_uint_t i, ngx_uint_t j);
static uint64_t ngx_http_scale_random(void);
static ngx_uint_t ngx_http_scale_random_below(ngx_uint_t n);


static uint64_t   ngx_http_scale_rng[2];
static ngx_pid_t  ngx_http_scale_rng_pid;


/* the number of entries a zone of this size is planned for: the arrays
 * are sized once, so no request ever pays for a resize */
ngx_uint_t
ngx_http_scale_registry_capacity(size_t zone_size)
{
    ngx_uint_t  n;

    n = zone_size / NGX_HTTP_SCALE_PLANNED_ENTRY;

    return n < 16 ? 16 : n;
}


/* allocates the bucket, dense and heap arrays of a fresh zone */
ngx_int_t
ngx_http_scale_registry_init(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_uint_t capacity)
{
    size_t      size;
    ngx_uint_t  nbuckets;

    nbuckets = 16;
    while (nbuckets < capacity) {
        nbuckets <<= 1;
    }

    size = nbuckets * sizeof(uint32_t);
    sh->buckets = ngx_slab_calloc_locked(shpool, size);
    if (sh->buckets == NULL) {
        return NGX_ERROR;
    }

    sh->array_bytes = size;

    size = capacity * sizeof(uint32_t);
    sh->dense = ngx_slab_alloc_locked(shpool, size);
    sh->heap = ngx_slab_alloc_locked(shpool, size);
    if (sh->dense == NULL || sh->heap == NULL) {
        return NGX_ERROR;
    }

    sh->array_bytes += 2 * size;
    sh->nbuckets = nbuckets;
    sh->capacity = capacity;
    sh->count = 0;
    sh->entry_bytes = 0;

    return NGX_OK;
}


/*
 * FNV-1a from a per-zone random seed, then murmur3's finaliser: short
 * keys, good low bits for the bucket mask, and chains an outsider cannot
 * line up in advance without knowing the seed.
 */
uint32_t
ngx_http_scale_registry_hash(ngx_http_scale_shctx_t *sh, u_char *key,
    size_t len)
{
    uint32_t  h;

    h = 2166136261u ^ sh->hash_seed;

    while (len--) {
        h ^= *key++;
        h *= 16777619u;
    }

    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;

    return h;
}


/* the entry of an id, or NULL: one bucket, a short chain */
ngx_http_scale_entry_t *
ngx_http_scale_registry_find(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, u_char *key, size_t len, uint32_t hash)
{
    uint32_t                 off;
    ngx_http_scale_entry_t  *e;

    off = sh->buckets[hash & (sh->nbuckets - 1)];

    while (off) {
        e = ngx_http_scale_ptr(shpool, off);

        if (e->hash == hash && e->id_len == len
            && ngx_memcmp(e->data, key, len) == 0)
        {
            return e;
        }

        off = e->next;
    }

    return NULL;
}


/*
 * Inserts a new identity, due for its first check after min_age.
 * Returns NULL when the planned capacity is reached or the slab pool has
 * no room left; the registry is unchanged then.
 */
ngx_http_scale_entry_t *
ngx_http_scale_registry_add(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_http_scale_identity_t *ident,
    uint32_t hash, ngx_msec_t now)
{
    uint32_t                 off, *bucket;
    ngx_http_scale_entry_t  *e;

    if (sh->count >= sh->capacity) {
        return NULL;
    }

    e = ngx_http_scale_entry_alloc(shpool, sh, ident, NULL);
    if (e == NULL) {
        return NULL;
    }

    e->hash = hash;
    e->flags = ngx_http_scale_identity_flags(ident);
    e->fails = 0;
    e->passes = 0;
    e->last_seen = now;
    e->refreshed = (uint32_t) now;
    e->created = (uint32_t) ngx_time();

    off = ngx_http_scale_off(shpool, e);

    bucket = &sh->buckets[hash & (sh->nbuckets - 1)];
    e->next = *bucket;
    *bucket = off;

    e->dense = sh->count;
    sh->dense[sh->count] = off;

    e->heap = sh->count;
    e->due = (uint32_t) ngx_http_scale_registry_due(sh, e, now);
    sh->heap[sh->count] = off;

    sh->count++;

    ngx_http_scale_heap_up(shpool, sh, e->heap);

    ngx_http_scale_dense_swap(shpool, sh, e->dense, sh->healthy);
    sh->healthy++;

    return e;
}


/*
 * The next time the health timers must look at an entry: its next probe
 * (min_age after from: when it was seen, or probed) for a probeable one,
 * and its expiry (max_age after it was seen) in any case.
 */
ngx_msec_t
ngx_http_scale_registry_due(ngx_http_scale_shctx_t *sh,
    ngx_http_scale_entry_t *e, ngx_msec_t from)
{
    ngx_msec_t  expiry, probe;

    expiry = e->last_seen + sh->params.max_age;

    if (!(e->flags & NGX_HTTP_SCALE_PROBEABLE)) {
        return expiry;
    }

    probe = from + sh->params.min_age;

    return (ngx_msec_int_t) (probe - expiry) < 0 ? probe : expiry;
}


/*
 * Moves an entry across the boundary between the healthy prefix of the
 * dense array (what /connect hands out) and the unhealthy rest.
 */
void
ngx_http_scale_registry_set_health(ngx_http_scale_shctx_t *sh,
    ngx_slab_pool_t *shpool, ngx_http_scale_entry_t *e, ngx_uint_t healthy)
{
    if (healthy) {
        if (!(e->flags & NGX_HTTP_SCALE_UNHEALTHY)) {
            return;
        }

        e->flags &= ~NGX_HTTP_SCALE_UNHEALTHY;
        ngx_http_scale_dense_swap(shpool, sh, e->dense, sh->healthy);
        sh->healthy++;
        return;
    }

    if (e->flags & NGX_HTTP_SCALE_UNHEALTHY) {
        return;
    }

    e->flags |= NGX_HTTP_SCALE_UNHEALTHY;
    sh->healthy--;
    ngx_http_scale_dense_swap(shpool, sh, e->dense, sh->healthy);
}


/* the entry flags that follow from the identity's address */
static u_char
ngx_http_scale_identity_flags(ngx_http_scale_identity_t *ident)
{
    u_char  flags;

    flags = 0;

    if (ident->probeable) {
        flags |= NGX_HTTP_SCALE_PROBEABLE;

        if (ident->name_addr) {
            flags |= NGX_HTTP_SCALE_NAME_ADDR;
        }
    }

    return flags;
}


/* swaps two dense slots, keeping each entry's back index right */
static void
ngx_http_scale_dense_swap(ngx_slab_pool_t *shpool, ngx_http_scale_shctx_t *sh,
    ngx_uint_t i, ngx_uint_t j)
{
    uint32_t                 off;
    ngx_http_scale_entry_t  *a, *b;

    if (i == j) {
        return;
    }

    a = ngx_http_scale_ptr(shpool, sh->dense[i]);
    b = ngx_http_scale_ptr(shpool, sh->dense[j]);

    off = sh->dense[i];
    sh->dense[i] = sh->dense[j];
    sh->dense[j] = off;

    a->dense = j;
    b->dense = i;
}


/*
 * A known id came back with another name or address: a new entry of the
 * right size takes the old one's places in all three structures, so the
 * registry never holds the identity twice nor loses it.  NULL when the
 * pool has no room; the old entry is then kept as it was.
 */
ngx_http_scale_entry_t *
ngx_http_scale_registry_replace(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_http_scale_entry_t *old,
    ngx_http_scale_identity_t *ident)
{
    uint32_t                 off, *link;
    ngx_http_scale_entry_t  *e;

    e = ngx_http_scale_entry_alloc(shpool, sh, ident, old);
    if (e == NULL) {
        return NULL;
    }

    e->flags = (old->flags & NGX_HTTP_SCALE_UNHEALTHY)
               | ngx_http_scale_identity_flags(ident);

    off = ngx_http_scale_off(shpool, e);

    link = ngx_http_scale_bucket_link(shpool, sh, old);
    *link = off;
    sh->dense[e->dense] = off;
    sh->heap[e->heap] = off;

    ngx_http_scale_entry_free(shpool, sh, old);

    return e;
}


/*
 * A refresh: the client was seen now.  The heap is not touched: an
 * entry's key may lag behind its real due time (never run ahead of it),
 * and the health pass re-files such an entry when it surfaces.  So a
 * refresh costs O(1), and an unhealthy client keeps its probe date.
 */
void
ngx_http_scale_registry_touch(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_http_scale_entry_t *e, ngx_msec_t now)
{
    e->last_seen = now;
    e->refreshed = (uint32_t) now;
}


/* a new heap key for an entry, and the heap put right around it */
void
ngx_http_scale_registry_set_due(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_http_scale_entry_t *e, ngx_msec_t due)
{
    e->due = (uint32_t) due;
    ngx_http_scale_heap_fix(shpool, sh, e->heap);
}


/* unlinks an entry from all three structures and frees it */
void
ngx_http_scale_registry_remove(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_http_scale_entry_t *e)
{
    uint32_t                *link;
    ngx_uint_t               i, last;
    ngx_http_scale_entry_t  *moved;

    link = ngx_http_scale_bucket_link(shpool, sh, e);
    *link = e->next;

    if (!(e->flags & NGX_HTTP_SCALE_UNHEALTHY)) {
        sh->healthy--;
        ngx_http_scale_dense_swap(shpool, sh, e->dense, sh->healthy);
    }

    last = sh->count - 1;

    i = e->dense;
    if (i != last) {
        moved = ngx_http_scale_ptr(shpool, sh->dense[last]);
        sh->dense[i] = sh->dense[last];
        moved->dense = i;
    }

    i = e->heap;
    if (i != last) {
        moved = ngx_http_scale_ptr(shpool, sh->heap[last]);
        sh->heap[i] = sh->heap[last];
        moved->heap = i;
    }

    sh->count--;

    if (i != last) {
        ngx_http_scale_heap_fix(shpool, sh, i);
    }

    ngx_http_scale_entry_free(shpool, sh, e);
}


/*
 * Picks min(k, count - self) distinct entries uniformly at random, never
 * self, in random order: Floyd's algorithm over the dense array, then a
 * shuffle.  O(k^2) with k <= NGX_HTTP_SCALE_SUBSET_MAX, independent of N.
 */
ngx_uint_t
ngx_http_scale_registry_sample(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_http_scale_entry_t *self, ngx_uint_t k,
    ngx_http_scale_entry_t **out)
{
    uint32_t    pick[NGX_HTTP_SCALE_SUBSET_MAX], t;
    ngx_uint_t  m, n, i, j, skip;

    m = sh->healthy;
    skip = m;

    if (self && self->dense < m) {
        skip = self->dense;
        m--;
    }

    if (k > NGX_HTTP_SCALE_SUBSET_MAX) {
        k = NGX_HTTP_SCALE_SUBSET_MAX;
    }

    if (k >= m) {
        for (i = 0; i < m; i++) {
            pick[i] = i;
        }

        n = m;

    } else {
        n = 0;

        for (j = m - k; j < m; j++) {
            t = ngx_http_scale_random_below(j + 1);

            for (i = 0; i < n; i++) {
                if (pick[i] == t) {
                    t = j;
                    break;
                }
            }

            pick[n++] = t;
        }
    }

    for (i = n; i > 1; i--) {
        j = ngx_http_scale_random_below(i);
        t = pick[i - 1];
        pick[i - 1] = pick[j];
        pick[j] = t;
    }

    /* the picks are scattered over the zone: start all K loads at once */

    for (i = 0; i < n; i++) {
        pick[i] = pick[i] >= skip ? pick[i] + 1 : pick[i];
        __builtin_prefetch(&sh->dense[pick[i]]);
    }

    for (i = 0; i < n; i++) {
        out[i] = ngx_http_scale_ptr(shpool, sh->dense[pick[i]]);
        __builtin_prefetch(out[i]);
    }

    return n;
}


/*
 * Like sample(), but at most one entry per network (/24, /48) of the
 * entries' addresses while other networks can be found: random draws
 * with rejection, a bounded number of them, then plain distinct picks.
 * Expected O(k^2) work, never O(N).
 */
ngx_uint_t
ngx_http_scale_registry_sample_diverse(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_http_scale_entry_t *self, ngx_uint_t k,
    ngx_http_scale_entry_t **out)
{
    uint32_t                 off, picked[NGX_HTTP_SCALE_SUBSET_MAX];
    ngx_uint_t               m, n, i, tries, pass, diverse;
    ngx_http_scale_entry_t  *e;

    m = sh->healthy;

    if (self && self->dense < m) {
        m--;
    }

    k = ngx_min(k, ngx_min(m, NGX_HTTP_SCALE_SUBSET_MAX));

    if (k == m) {
        return ngx_http_scale_registry_sample(shpool, sh, self, k, out);
    }

    n = 0;

    for (pass = 0; pass < 2 && n < k; pass++) {
        diverse = (pass == 0);

        for (tries = 8 * k + 32; tries && n < k; tries--) {
            off = sh->dense[ngx_http_scale_random_below(sh->healthy)];
            e = ngx_http_scale_ptr(shpool, off);

            if (e == self) {
                continue;
            }

            for (i = 0; i < n; i++) {
                if (picked[i] == off
                    || (diverse && e->net && out[i]->net == e->net))
                {
                    break;
                }
            }

            if (i == n) {
                picked[n] = off;
                out[n++] = e;
            }
        }
    }

    return n;
}


/* the entry that falls due first, for the health passes */
ngx_http_scale_entry_t *
ngx_http_scale_registry_heap_min(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh)
{
    if (sh->count == 0) {
        return NULL;
    }

    return ngx_http_scale_ptr(shpool, sh->heap[0]);
}


/*
 * Walks the hashset, the dense array and the heap and counts every
 * mismatch between them; O(N), for the consistency check only.
 */
ngx_uint_t
ngx_http_scale_registry_check(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_log_t *log)
{
    uint32_t                 off;
    ngx_uint_t               i, chained, errors;
    ngx_http_scale_entry_t  *e, *parent;

    errors = 0;
    chained = 0;

    for (i = 0; i < sh->nbuckets; i++) {
        for (off = sh->buckets[i]; off; off = e->next) {
            e = ngx_http_scale_ptr(shpool, off);
            chained++;

            if ((e->hash & (sh->nbuckets - 1)) != i
                || e->dense >= sh->count || e->heap >= sh->count
                || sh->dense[e->dense] != off || sh->heap[e->heap] != off)
            {
                ngx_log_error(NGX_LOG_ERR, log, 0,
                              "scale registry: entry \"%*s\" is misplaced",
                              (size_t) e->id_len, e->data);
                errors++;
            }

            if (chained > sh->count) {
                ngx_log_error(NGX_LOG_ERR, log, 0,
                              "scale registry: hash chains hold more than "
                              "%ui entries", sh->count);
                return errors + 1;
            }
        }
    }

    for (i = 0; i < sh->count; i++) {
        e = ngx_http_scale_ptr(shpool, sh->dense[i]);

        if ((i < sh->healthy) == !!(e->flags & NGX_HTTP_SCALE_UNHEALTHY)) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "scale registry: \"%*s\" on the wrong side of "
                          "the healthy partition", (size_t) e->id_len,
                          e->data);
            errors++;
        }
    }

    if (chained != sh->count) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "scale registry: %ui chained, %ui counted",
                      chained, sh->count);
        errors++;
    }

    for (i = 1; i < sh->count; i++) {
        e = ngx_http_scale_ptr(shpool, sh->heap[i]);
        parent = ngx_http_scale_ptr(shpool, sh->heap[(i - 1) / 2]);

        if (ngx_http_scale_msec32_diff(e->due, parent->due) < 0) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "scale registry: heap order broken at %ui", i);
            errors++;
        }
    }

    return errors;
}


/* sifts the entry at i towards the root while it falls due sooner */
static void
ngx_http_scale_heap_up(ngx_slab_pool_t *shpool, ngx_http_scale_shctx_t *sh,
    ngx_uint_t i)
{
    uint32_t                 off;
    ngx_uint_t               parent;
    ngx_http_scale_entry_t  *e, *p;

    off = sh->heap[i];
    e = ngx_http_scale_ptr(shpool, off);

    while (i > 0) {
        parent = (i - 1) / 2;
        p = ngx_http_scale_ptr(shpool, sh->heap[parent]);

        if (ngx_http_scale_msec32_diff(e->due, p->due) >= 0) {
            break;
        }

        sh->heap[i] = sh->heap[parent];
        p->heap = i;
        i = parent;
    }

    sh->heap[i] = off;
    e->heap = i;
}


/* sifts the entry at i towards the leaves while a child is due sooner */
static void
ngx_http_scale_heap_down(ngx_slab_pool_t *shpool, ngx_http_scale_shctx_t *sh,
    ngx_uint_t i)
{
    uint32_t                 off;
    ngx_uint_t               child;
    ngx_http_scale_entry_t  *e, *c, *c2;

    off = sh->heap[i];
    e = ngx_http_scale_ptr(shpool, off);

    for ( ;; ) {
        child = 2 * i + 1;

        if (child >= sh->count) {
            break;
        }

        c = ngx_http_scale_ptr(shpool, sh->heap[child]);

        if (child + 1 < sh->count) {
            c2 = ngx_http_scale_ptr(shpool, sh->heap[child + 1]);

            if (ngx_http_scale_msec32_diff(c2->due, c->due) < 0) {
                child++;
                c = c2;
            }
        }

        if (ngx_http_scale_msec32_diff(c->due, e->due) >= 0) {
            break;
        }

        sh->heap[i] = sh->heap[child];
        c->heap = i;
        i = child;
    }

    sh->heap[i] = off;
    e->heap = i;
}


/* restores heap order after the key at i moved either way */
static void
ngx_http_scale_heap_fix(ngx_slab_pool_t *shpool, ngx_http_scale_shctx_t *sh,
    ngx_uint_t i)
{
    ngx_http_scale_entry_t  *e, *p;

    if (i > 0) {
        e = ngx_http_scale_ptr(shpool, sh->heap[i]);
        p = ngx_http_scale_ptr(shpool, sh->heap[(i - 1) / 2]);

        if (ngx_http_scale_msec32_diff(e->due, p->due) < 0) {
            ngx_http_scale_heap_up(shpool, sh, i);
            return;
        }
    }

    ngx_http_scale_heap_down(shpool, sh, i);
}


/*
 * A slab chunk sized for the identity, its strings copied in and counted
 * in entry_bytes.  The links and times come from "from" when an entry is
 * replaced, and are the caller's to set for a new one.
 */
static ngx_http_scale_entry_t *
ngx_http_scale_entry_alloc(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_http_scale_identity_t *ident,
    ngx_http_scale_entry_t *from)
{
    size_t                   size, name_len;
    u_char                  *p;
    ngx_http_scale_entry_t  *e;

    /* a name equal to the id is stored once */
    name_len = (ident->name.len == ident->id.len
                && ngx_memcmp(ident->name.data, ident->id.data,
                              ident->id.len) == 0)
               ? 0 : ident->name.len;

    size = offsetof(ngx_http_scale_entry_t, data)
           + ident->id.len + name_len + ident->addr.len;

    e = ngx_slab_alloc_locked(shpool, size);
    if (e == NULL) {
        return NULL;
    }

    if (from) {
        ngx_memcpy(e, from, offsetof(ngx_http_scale_entry_t, data));
    }

    e->id_len = (u_char) ident->id.len;
    e->name_len = (u_char) name_len;
    e->addr_len = (u_char) ident->addr.len;
    e->net = ident->net;

    p = ngx_cpymem(e->data, ident->id.data, ident->id.len);
    p = ngx_cpymem(p, ident->name.data, name_len);

    if (ident->addr.len) {
        ngx_memcpy(p, ident->addr.data, ident->addr.len);
    }

    sh->entry_bytes += ngx_http_scale_slab_size(shpool, size);

    return e;
}


/* the counterpart of entry_alloc(): entry_bytes stays exact */
static void
ngx_http_scale_entry_free(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_http_scale_entry_t *e)
{
    size_t  size;

    size = offsetof(ngx_http_scale_entry_t, data)
           + e->id_len + e->name_len + e->addr_len;

    sh->entry_bytes -= ngx_http_scale_slab_size(shpool, size);

    ngx_slab_free_locked(shpool, e);
}


/* the chain link that points at e: its bucket, or its predecessor */
static uint32_t *
ngx_http_scale_bucket_link(ngx_slab_pool_t *shpool,
    ngx_http_scale_shctx_t *sh, ngx_http_scale_entry_t *e)
{
    uint32_t                 off, *link;
    ngx_http_scale_entry_t  *prev;

    off = ngx_http_scale_off(shpool, e);
    link = &sh->buckets[e->hash & (sh->nbuckets - 1)];

    while (*link != off) {
        prev = ngx_http_scale_ptr(shpool, *link);
        link = &prev->next;
    }

    return link;
}


/* the bytes the slab allocator really hands out for a request of size,
 * so that /status reports what entries cost */
static size_t
ngx_http_scale_slab_size(ngx_slab_pool_t *shpool, size_t size)
{
    size_t  s;

    if (size > ngx_pagesize / 2) {
        return ngx_align(size, ngx_pagesize);
    }

    s = (size_t) 1 << shpool->min_shift;

    while (s < size) {
        s <<= 1;
    }

    return s;
}


/* xorshift128+, seeded once per process: fast, and good enough to pick
 * peers; each worker gets its own stream after fork */
static uint64_t
ngx_http_scale_random(void)
{
    uint64_t  s1, s0;

    if (ngx_http_scale_rng_pid != ngx_pid) {
        ngx_http_scale_rng_pid = ngx_pid;
        ngx_http_scale_rng[0] = 0x9e3779b97f4a7c15ULL
                                ^ ((uint64_t) ngx_pid << 32)
                                ^ (uint64_t) ngx_current_msec;
        ngx_http_scale_rng[1] = 0xbf58476d1ce4e5b9ULL
                                ^ (uint64_t) ngx_random()
                                ^ ((uint64_t) ngx_time() << 20);

        for (s0 = 0; s0 < 16; s0++) {
            (void) ngx_http_scale_random();
        }
    }

    s1 = ngx_http_scale_rng[0];
    s0 = ngx_http_scale_rng[1];
    ngx_http_scale_rng[0] = s0;
    s1 ^= s1 << 23;
    ngx_http_scale_rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);

    return ngx_http_scale_rng[1] + s0;
}


/* a uniform integer in [0, n): Lemire's multiply-shift with rejection */
static ngx_uint_t
ngx_http_scale_random_below(ngx_uint_t n)
{
    uint32_t  x, t;
    uint64_t  m;

    x = (uint32_t) (ngx_http_scale_random() >> 32);
    m = (uint64_t) x * n;

    if ((uint32_t) m < n) {
        t = (uint32_t) (-(uint32_t) n) % (uint32_t) n;

        while ((uint32_t) m < t) {
            x = (uint32_t) (ngx_http_scale_random() >> 32);
            m = (uint64_t) x * n;
        }
    }

    return (ngx_uint_t) (m >> 32);
}
