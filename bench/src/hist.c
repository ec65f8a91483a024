/*
 * scale-bench: log-bucketed latency histogram (see hist.h).
 */

#include <string.h>

#include "hist.h"


/* Maps a value to its bucket: exact below 128, 128 per octave above. */
static unsigned
sb_hist_index(uint64_t v)
{
    unsigned  e, shift;

    if (v < SB_HIST_SUB) {
        return (unsigned) v;
    }

    e = 63 - (unsigned) __builtin_clzll(v);

    if (e >= SB_HIST_MAX_EXP) {
        return SB_HIST_BUCKETS - 1;
    }

    shift = e - SB_HIST_SUB_BITS;

    return shift * SB_HIST_SUB + (unsigned) (v >> shift);
}


/* The value we report for a bucket: its midpoint, within 0.4% of members. */
static uint64_t
sb_hist_value(unsigned i)
{
    unsigned  shift;
    uint64_t  low;

    if (i < 2 * SB_HIST_SUB) {
        return i;
    }

    shift = i / SB_HIST_SUB - 1;
    low = (uint64_t) (i - shift * SB_HIST_SUB) << shift;

    return low + ((uint64_t) 1 << shift) / 2;
}


/* Empties a histogram so it can be reused for the next interval. */
void
sb_hist_reset(sb_hist_t *h)
{
    memset(h, 0, sizeof(sb_hist_t));
    h->min = UINT64_MAX;
}


/* Adds one sample; O(1), no allocation, safe on the hot path. */
void
sb_hist_record(sb_hist_t *h, uint64_t ns)
{
    h->bucket[sb_hist_index(ns)]++;
    h->count++;
    h->sum += ns;

    if (ns < h->min) {
        h->min = ns;
    }

    if (ns > h->max) {
        h->max = ns;
    }
}


/* Folds per-thread or per-interval histograms into one. */
void
sb_hist_merge(sb_hist_t *dst, const sb_hist_t *src)
{
    unsigned  i;

    if (src->count == 0) {
        return;
    }

    for (i = 0; i < SB_HIST_BUCKETS; i++) {
        dst->bucket[i] += src->bucket[i];
    }

    dst->count += src->count;
    dst->sum += src->sum;

    if (src->min < dst->min) {
        dst->min = src->min;
    }

    if (src->max > dst->max) {
        dst->max = src->max;
    }
}


/*
 * Returns the value at quantile q (0..1), clamped to the exact min and max,
 * or 0 for an empty histogram.
 */
uint64_t
sb_hist_quantile(const sb_hist_t *h, double q)
{
    unsigned  i;
    uint64_t  rank, seen, v;

    if (h->count == 0) {
        return 0;
    }

    if (q >= 1.0) {
        return h->max;
    }

    rank = (uint64_t) (q * (double) h->count + 0.999999);
    if (rank == 0) {
        rank = 1;
    }

    seen = 0;

    for (i = 0; i < SB_HIST_BUCKETS; i++) {
        seen += h->bucket[i];

        if (seen >= rank) {
            v = sb_hist_value(i);
            return v < h->min ? h->min : (v > h->max ? h->max : v);
        }
    }

    return h->max;
}


/* Mean of the recorded values, 0 when empty. */
double
sb_hist_mean(const sb_hist_t *h)
{
    return h->count ? (double) h->sum / (double) h->count : 0.0;
}
