/*
 * scale-bench: log-bucketed latency histogram.
 *
 * Values are nanoseconds.  Below 128 every value has its own bucket; above,
 * each power of two is split into 128 linear buckets, so a bucket is never
 * wider than 1/128 of its lower bound and the midpoint we report is within
 * 0.4% of any value that fell into it.  Memory is fixed (about 35 KB).
 */

#ifndef SB_HIST_H
#define SB_HIST_H

#include <stdint.h>


#define SB_HIST_SUB_BITS  7
#define SB_HIST_SUB       (1 << SB_HIST_SUB_BITS)
#define SB_HIST_MAX_EXP   40
#define SB_HIST_BUCKETS   ((SB_HIST_MAX_EXP - SB_HIST_SUB_BITS + 1)          \
                           * SB_HIST_SUB)


typedef struct {
    uint64_t  count;
    uint64_t  sum;
    uint64_t  min;
    uint64_t  max;
    uint64_t  bucket[SB_HIST_BUCKETS];
} sb_hist_t;


void sb_hist_reset(sb_hist_t *h);
void sb_hist_record(sb_hist_t *h, uint64_t ns);
void sb_hist_merge(sb_hist_t *dst, const sb_hist_t *src);
uint64_t sb_hist_quantile(const sb_hist_t *h, double q);
double sb_hist_mean(const sb_hist_t *h);


#endif /* SB_HIST_H */
