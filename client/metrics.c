/*
 * scale-client: counters and a 1 ms histogram of delivery latency
 * (0..10 s, the last bucket holds everything slower).
 */

#include "metrics.h"


sc_metrics_t  sc_metrics;


/* O(1) per delivered message, whatever the swarm size. */
void
sc_metrics_latency(int64_t ms)
{
    if (ms < 0) {
        ms = 0;
    }

    if (ms >= SC_LAT_BUCKETS) {
        ms = SC_LAT_BUCKETS - 1;
    }

    sc_metrics.lat[ms]++;
    sc_metrics.lat_count++;
}


/* The smallest latency in ms at or below which a share q of samples lie. */
int64_t
sc_metrics_percentile(double q)
{
    uint64_t  want, seen;
    int64_t   i;

    if (sc_metrics.lat_count == 0) {
        return -1;
    }

    want = (uint64_t) (q * sc_metrics.lat_count + 0.999999);
    if (want == 0) {
        want = 1;
    }

    seen = 0;

    for (i = 0; i < SC_LAT_BUCKETS; i++) {
        seen += sc_metrics.lat[i];
        if (seen >= want) {
            return i;
        }
    }

    return SC_LAT_BUCKETS - 1;
}


/* Lets a benchmark measure the chat of one phase without the warm-up. */
void
sc_metrics_reset(void)
{
    sc_metrics.msgs_sent = 0;
    sc_metrics.msgs_delivered = 0;
    sc_metrics.msgs_duplicate = 0;
    sc_metrics.relays = 0;
    sc_metrics.deliveries_failed = 0;
    sc_metrics.deliveries_retried = 0;
    sc_metrics.lat_count = 0;
    memset(sc_metrics.lat, 0, sizeof(sc_metrics.lat));
}
