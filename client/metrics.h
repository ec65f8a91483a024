/*
 * scale-client: process-wide counters and the delivery latency histogram
 * behind the progress lines and GET /metrics.
 */

#ifndef SC_METRICS_H
#define SC_METRICS_H


#include "core.h"


#define SC_LAT_BUCKETS  10001


typedef struct {
    uint64_t    peers_created;
    uint64_t    boot_requests;
    uint64_t    boot_ok;
    uint64_t    boot_limited;
    uint64_t    boot_failed;
    uint64_t    deletes;
    uint64_t    exchanges;
    uint64_t    exchanges_failed;
    uint64_t    peers_dropped;
    uint64_t    msgs_sent;
    uint64_t    msgs_delivered;
    uint64_t    msgs_duplicate;
    uint64_t    relays;
    uint64_t    deliveries_failed;
    uint64_t    deliveries_retried;
    uint64_t    probes;
    uint64_t    lat_count;
    uint64_t    lat[SC_LAT_BUCKETS];
} sc_metrics_t;


extern sc_metrics_t  sc_metrics;


void sc_metrics_latency(int64_t ms);
int64_t sc_metrics_percentile(double q);
void sc_metrics_reset(void);


#endif /* SC_METRICS_H */
