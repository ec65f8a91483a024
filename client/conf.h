/*
 * scale-client: configuration from flags and the seed's env variables.
 */

#ifndef SC_CONF_H
#define SC_CONF_H


#include "core.h"


struct sc_conf_s {
    char         boot_url[512];
    char         boot_host[256];
    unsigned     boot_port;
    char         boot_prefix[256];

    char         name[SC_NAME_MAX + 1];
    char         id[SC_NAME_MAX + 1];
    char         listen_host[64];
    unsigned     listen_port;

    int          auto_connect;
    int64_t      retry_ms;
    unsigned     max_retries;
    int64_t      refresh_ms;
    unsigned     min_peers;

    unsigned     max_peers;
    unsigned     share;
    int          digest;
    int64_t      exchange_ms;
    unsigned     peer_fails;
    int64_t      tombstone_ms;
    int64_t      timeout_ms;
    int          allow_remote;

    const char  *data_dir;
    unsigned     chat_ring;
    unsigned     fanout;
    unsigned     msg_retries;
    size_t       msg_max;
    size_t       body_max;

    int          swarm;
    unsigned     count;
    unsigned     base_port;
    char         prefix[64];
    unsigned     max_clients;
    int64_t      msg_freq_ms;
    size_t       msg_size;
    int          msg_all;
    unsigned     fail_rate;
    unsigned     delay_rate;
    int64_t      delay_ms;
    int          control;
    char         control_host[64];
    unsigned     control_port;
    int64_t      progress_ms;
    int64_t      duration_ms;
    uint64_t     seed;
    unsigned     max_conns;
};


int sc_conf_parse(sc_conf_t *conf, int argc, char **argv);


#endif /* SC_CONF_H */
