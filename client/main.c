/*
 * scale-client: one peer, or with "swarm" many peers in one process.
 * Sets up the event loop, starts the peers, stops cleanly on SIGINT or
 * SIGTERM (each peer sends /delete) and prints a JSON summary on exit.
 */

#include <stdio.h>
#include <stdlib.h>
#include <signal.h>

#include "swarm.h"
#include "metrics.h"


static void sc_main_signal(evutil_socket_t sig, short what, void *arg);
static int sc_main_start(sc_swarm_t *s, const sc_conf_t *conf);


static unsigned  sc_main_signals;


/* Parse, start, loop, stop, summarise. */
int
main(int argc, char **argv)
{
    int                 rc;
    char               *summary;
    json_t             *metrics;
    sc_conf_t           conf;
    sc_swarm_t         *s;
    struct event       *sigint, *sigterm;
    struct event_base  *base;

    if (sc_conf_parse(&conf, argc, argv) != 0) {
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);
    sc_rand_seed(conf.seed);

    base = event_base_new();
    if (base == NULL || sc_http_init(base, conf.timeout_ms, conf.max_conns)
                        != 0)
    {
        sc_log(SC_LOG_ERR, "cannot create the event loop");
        return 1;
    }

    s = sc_swarm_create(base, &conf);
    if (s == NULL) {
        sc_log(SC_LOG_ERR, "out of memory");
        return 1;
    }

    sigint = evsignal_new(base, SIGINT, sc_main_signal, s);
    sigterm = evsignal_new(base, SIGTERM, sc_main_signal, s);

    if (sigint == NULL || sigterm == NULL
        || evsignal_add(sigint, NULL) != 0
        || evsignal_add(sigterm, NULL) != 0)
    {
        sc_log(SC_LOG_ERR, "cannot catch signals");
        return 1;
    }

    rc = 0;

    if (sc_main_start(s, &conf) != 0) {
        rc = 1;
        sc_swarm_shutdown(s);
    }

    event_base_dispatch(base);

    /* connections freed on completion go in a deferred callback: run it */
    event_base_loop(base, EVLOOP_NONBLOCK);

    metrics = sc_swarm_metrics_json(s);
    summary = metrics ? json_dumps(metrics, JSON_COMPACT) : NULL;
    json_decref(metrics);

    if (summary) {
        printf("%s\n", summary);
        free(summary);
    }

    fflush(stdout);

    event_free(sigint);
    event_free(sigterm);
    sc_swarm_free(s);
    sc_http_done();
    event_base_free(base);

    return rc;
}


/* The control API first (if asked), then the peers. */
static int
sc_main_start(sc_swarm_t *s, const sc_conf_t *conf)
{
    unsigned     i, made;
    const char  *err;

    if (conf->control && sc_control_init(s) != 0) {
        return -1;
    }

    if (!conf->swarm) {
        if (sc_swarm_add(s, conf->id, conf->name, conf->listen_port, &err)
            == NULL)
        {
            sc_log(SC_LOG_ERR, "cannot start peer %s on %s:%u: %s",
                   conf->id, conf->listen_host, conf->listen_port, err);
            return -1;
        }

        sc_log(SC_LOG_INFO, "peer %s on http://%s:%u/, bootstrap %s",
               conf->id, conf->listen_host, conf->listen_port,
               conf->boot_url);
        return 0;
    }

    made = 0;

    for (i = 0; i < conf->count; i++) {
        if (sc_swarm_add(s, NULL, NULL, 0, &err)) {
            made++;
        } else {
            sc_log(SC_LOG_ERR, "swarm: peer %u not created: %s", i, err);
            break;
        }
    }

    sc_log(SC_LOG_INFO, "swarm of %u peers from port %u, bootstrap %s",
           made, conf->base_port, conf->boot_url);

    return (made < conf->count) ? -1 : 0;
}


/* First signal: clean stop with /delete; second: leave at once. */
static void
sc_main_signal(evutil_socket_t sig, short what, void *arg)
{
    sc_swarm_t  *s = arg;

    (void) what;

    if (sc_main_signals++ > 0) {
        sc_log(SC_LOG_WARN, "second signal: exiting without goodbyes");
        event_base_loopbreak(s->base);
        return;
    }

    sc_log(SC_LOG_INFO, "signal %d: stopping", (int) sig);
    sc_swarm_shutdown(s);
}
