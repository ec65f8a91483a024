/*
 * scale-client: flags, the seed's env variables and their defaults.
 * Env variables are read first, flags override them.
 */

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>
#include <getopt.h>
#include <event2/http.h>

#include "conf.h"


enum {
    OPT_BOOTSTRAP = 256, OPT_NAME, OPT_ID, OPT_LISTEN, OPT_AUTO,
    OPT_RETRY, OPT_MAX_RETRIES, OPT_REFRESH, OPT_MIN_PEERS, OPT_MAX_PEERS,
    OPT_SHARE, OPT_EXCHANGE, OPT_PEER_FAILS, OPT_TOMBSTONE, OPT_TIMEOUT,
    OPT_ALLOW_REMOTE, OPT_DATA_DIR, OPT_CHAT_RING, OPT_FANOUT,
    OPT_MSG_RETRIES, OPT_MSG_MAX, OPT_BODY_MAX, OPT_COUNT, OPT_BASE_PORT,
    OPT_PREFIX, OPT_MAX_CLIENTS, OPT_MSG_FREQ, OPT_MSG_SIZE, OPT_MSG_TO,
    OPT_FAIL_RATE, OPT_DELAY_RATE, OPT_DELAY, OPT_CONTROL, OPT_PROGRESS,
    OPT_DURATION, OPT_SEED, OPT_MAX_CONNS, OPT_VERBOSE, OPT_QUIET,
    OPT_DIGEST, OPT_HELP
};


static const struct option  sc_options[] = {
    { "bootstrap",         required_argument, NULL, OPT_BOOTSTRAP },
    { "name",              required_argument, NULL, OPT_NAME },
    { "id",                required_argument, NULL, OPT_ID },
    { "listen",            required_argument, NULL, OPT_LISTEN },
    { "auto-connect",      required_argument, NULL, OPT_AUTO },
    { "retry-interval",    required_argument, NULL, OPT_RETRY },
    { "max-retries",       required_argument, NULL, OPT_MAX_RETRIES },
    { "refresh-interval",  required_argument, NULL, OPT_REFRESH },
    { "min-peers",         required_argument, NULL, OPT_MIN_PEERS },
    { "max-peers",         required_argument, NULL, OPT_MAX_PEERS },
    { "share",             required_argument, NULL, OPT_SHARE },
    { "exchange-interval", required_argument, NULL, OPT_EXCHANGE },
    { "peer-fails",        required_argument, NULL, OPT_PEER_FAILS },
    { "tombstone",         required_argument, NULL, OPT_TOMBSTONE },
    { "timeout",           required_argument, NULL, OPT_TIMEOUT },
    { "allow-remote",      no_argument,       NULL, OPT_ALLOW_REMOTE },
    { "data-dir",          required_argument, NULL, OPT_DATA_DIR },
    { "chat-ring",         required_argument, NULL, OPT_CHAT_RING },
    { "fanout",            required_argument, NULL, OPT_FANOUT },
    { "msg-retries",       required_argument, NULL, OPT_MSG_RETRIES },
    { "msg-max",           required_argument, NULL, OPT_MSG_MAX },
    { "body-max",          required_argument, NULL, OPT_BODY_MAX },
    { "count",             required_argument, NULL, OPT_COUNT },
    { "base-port",         required_argument, NULL, OPT_BASE_PORT },
    { "prefix",            required_argument, NULL, OPT_PREFIX },
    { "max-clients",       required_argument, NULL, OPT_MAX_CLIENTS },
    { "msg-frequency",     required_argument, NULL, OPT_MSG_FREQ },
    { "msg-size",          required_argument, NULL, OPT_MSG_SIZE },
    { "msg-to",            required_argument, NULL, OPT_MSG_TO },
    { "fail-rate",         required_argument, NULL, OPT_FAIL_RATE },
    { "delay-rate",        required_argument, NULL, OPT_DELAY_RATE },
    { "delay",             required_argument, NULL, OPT_DELAY },
    { "control",           required_argument, NULL, OPT_CONTROL },
    { "progress",          required_argument, NULL, OPT_PROGRESS },
    { "duration",          required_argument, NULL, OPT_DURATION },
    { "seed",              required_argument, NULL, OPT_SEED },
    { "max-conns",         required_argument, NULL, OPT_MAX_CONNS },
    { "verbose",           no_argument,       NULL, OPT_VERBOSE },
    { "quiet",             no_argument,       NULL, OPT_QUIET },
    { "digest",            required_argument, NULL, OPT_DIGEST },
    { "help",              no_argument,       NULL, OPT_HELP },
    { NULL, 0, NULL, 0 }
};


static const char  sc_usage[] =
"usage: scale-client [options]              one peer\n"
"       scale-client swarm [options]        many peers in one process\n"
"\n"
"peer (env variable in brackets; times take ms, s or m, bare = seconds):\n"
"  --bootstrap URL          bootstrap server [BOOTSTRAP_URL]\n"
"                           (http://127.0.0.1:8080)\n"
"  --name NAME              peer name [CLIENT_NAME] (peer-PORT)\n"
"  --id ID                  identity key at the server (= name)\n"
"  --listen 127.0.0.1:PORT  where the peer answers [PORT] (9000)\n"
"  --auto-connect BOOL      register at start [AUTO_CONNECT] (true)\n"
"  --retry-interval T       first registration retry [RETRY_INTERVAL] (1s)\n"
"  --max-retries N          registration tries, 0 = forever [MAX_RETRIES]"
" (10)\n"
"  --refresh-interval T     re-register every T, 0 = only when short of"
" peers (0)\n"
"  --min-peers N            ask the bootstrap again below N peers (3)\n"
"  --max-peers N            bound of the known-peer set (512)\n"
"  --share N                peers sent per exchange (16)\n"
"  --digest BOOL            send a Bloom filter of known ids, so answers\n"
"                           carry peers we lack (true)\n"
"  --exchange-interval T    one POST /contacts every T (1s)\n"
"  --peer-fails N           drop a peer after N failed tries (3)\n"
"  --tombstone T            ignore a dropped peer's rumours for T (30s)\n"
"  --timeout T              HTTP timeout towards peers and bootstrap (2s)\n"
"  --allow-remote           connect to peers that are not on loopback\n"
"  --data-dir DIR           chat log directory (none: memory only)\n"
"  --chat-ring N            messages kept in memory per peer (1000)\n"
"  --fanout N               relays of a new broadcast, to peers its sender\n"
"                           does not know (8)\n"
"  --msg-retries N          delivery retries per target (4)\n"
"  --msg-max BYTES          longest chat text (4096)\n"
"  --body-max BYTES         largest request body a peer accepts (65536)\n"
"  --progress T             metrics line every T, 0 = never"
" (1s swarm, 10s peer)\n"
"  --seed N                 PRNG seed\n"
"  -v, --verbose / -q, --quiet\n"
"\n"
"swarm:\n"
"  --count N                peers at start (10)\n"
"  --base-port P            first peer port (9000)\n"
"  --prefix NAME            peer names are PREFIX-INDEX (peer)\n"
"  --max-clients N          most peers at once (5000)\n"
"  --msg-frequency MS       one chat message every MS ms, 0 = none (0)\n"
"  --msg-size BYTES         chat text size (64)\n"
"  --msg-to one|all         message a random contact or everyone (one)\n"
"  --fail-rate PCT          share of peers that fail probe answers (0)\n"
"  --delay T                slow probe answers by T (0)\n"
"  --delay-rate PCT         share of peers that are slow (100)\n"
"  --control 127.0.0.1:P    control API (add/remove/list peers)\n"
"  --duration T             stop after T, 0 = run until a signal (0)\n"
"  --max-conns N            cached peer connections (2048)\n";


static int sc_conf_env(sc_conf_t *conf);
static int sc_conf_option(sc_conf_t *conf, int opt, const char *arg);
static int sc_conf_bootstrap(sc_conf_t *conf, const char *url);
static int sc_conf_listen(const char *arg, char *host, size_t hsize,
    unsigned *port);
static int sc_conf_copy(char *dst, size_t size, const char *src);


/* Defaults, env, then flags; prints usage and fails on anything wrong. */
int
sc_conf_parse(sc_conf_t *conf, int argc, char **argv)
{
    int                    opt;
    const struct option   *o;

    memset(conf, 0, sizeof(sc_conf_t));

    if (argc > 1 && strcmp(argv[1], "swarm") == 0) {
        conf->swarm = 1;
        argv++;
        argc--;
    }

    conf->listen_port = 9000;
    strcpy(conf->listen_host, "127.0.0.1");
    conf->auto_connect = 1;
    conf->retry_ms = 1000;
    conf->max_retries = 10;
    conf->min_peers = 3;
    conf->max_peers = 512;
    conf->share = 16;
    conf->digest = 1;
    conf->exchange_ms = 1000;
    conf->peer_fails = 3;
    conf->tombstone_ms = 30000;
    conf->timeout_ms = 2000;
    conf->chat_ring = 1000;
    conf->fanout = 8;
    conf->msg_retries = 4;
    conf->msg_max = 4096;
    conf->body_max = 65536;
    conf->count = 10;
    conf->base_port = 9000;
    strcpy(conf->prefix, "peer");
    conf->max_clients = 5000;
    conf->msg_size = 64;
    conf->delay_rate = 100;
    conf->progress_ms = conf->swarm ? 1000 : 10000;
    conf->seed = (uint64_t) sc_wall_ms() ^ ((uint64_t) getpid() << 32);
    conf->max_conns = 2048;

    if (sc_conf_bootstrap(conf, "http://127.0.0.1:8080") != 0
        || sc_conf_env(conf) != 0)
    {
        return -1;
    }

    optind = 1;

    while ((opt = getopt_long(argc, argv, "vqh", sc_options, NULL)) != -1) {

        if (opt == 'v') {
            opt = OPT_VERBOSE;

        } else if (opt == 'q') {
            opt = OPT_QUIET;

        } else if (opt == 'h') {
            opt = OPT_HELP;

        } else if (opt == '?') {
            fputs(sc_usage, stderr);
            return -1;
        }

        if (opt == OPT_HELP) {
            fputs(sc_usage, stdout);
            exit(0);
        }

        if (sc_conf_option(conf, opt, optarg) != 0) {
            for (o = sc_options; o->name && o->val != opt; o++) {
                /* void */
            }

            fprintf(stderr, "scale-client: invalid value \"%s\" for --%s\n",
                    optarg ? optarg : "", o->name ? o->name : "?");
            return -1;
        }
    }

    if (optind < argc) {
        fprintf(stderr, "scale-client: unexpected argument \"%s\"\n",
                argv[optind]);
        return -1;
    }

    if (conf->name[0] == '\0') {
        snprintf(conf->name, sizeof(conf->name), "peer-%u",
                 conf->listen_port);
    }

    if (conf->id[0] == '\0') {
        strcpy(conf->id, conf->name);
    }

    if (conf->swarm && conf->count > conf->max_clients) {
        fprintf(stderr, "scale-client: --count exceeds --max-clients\n");
        return -1;
    }

    if (conf->swarm && conf->base_port + conf->max_clients > 65536) {
        conf->max_clients = 65536 - conf->base_port;
    }

    return 0;
}


/* The seed client's variables, so its compose files keep working. */
static int
sc_conf_env(sc_conf_t *conf)
{
    static const struct {
        const char  *env;
        int          opt;
    } vars[] = {
        { "BOOTSTRAP_URL",  OPT_BOOTSTRAP },
        { "PORT",           OPT_LISTEN },
        { "CLIENT_NAME",    OPT_NAME },
        { "AUTO_CONNECT",   OPT_AUTO },
        { "RETRY_INTERVAL", OPT_RETRY },
        { "MAX_RETRIES",    OPT_MAX_RETRIES },
    };

    size_t       i;
    const char  *v;

    for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        v = getenv(vars[i].env);

        if (v == NULL || *v == '\0') {
            continue;
        }

        if (sc_conf_option(conf, vars[i].opt, v) != 0) {
            fprintf(stderr, "scale-client: invalid value \"%s\" in %s\n",
                    v, vars[i].env);
            return -1;
        }
    }

    return 0;
}


/* One place that knows every option's type and bounds. */
static int
sc_conf_option(sc_conf_t *conf, int opt, const char *arg)
{
    unsigned long  n;

    switch (opt) {

    case OPT_BOOTSTRAP:
        return sc_conf_bootstrap(conf, arg);

    case OPT_NAME:
        if (!sc_valid_name(arg, strlen(arg))) {
            return -1;
        }
        return sc_conf_copy(conf->name, sizeof(conf->name), arg);

    case OPT_ID:
        if (!sc_valid_name(arg, strlen(arg))) {
            return -1;
        }
        return sc_conf_copy(conf->id, sizeof(conf->id), arg);

    case OPT_LISTEN:
        return sc_conf_listen(arg, conf->listen_host,
                              sizeof(conf->listen_host), &conf->listen_port);

    case OPT_CONTROL:
        conf->control = 1;
        return sc_conf_listen(arg, conf->control_host,
                              sizeof(conf->control_host),
                              &conf->control_port);

    case OPT_AUTO:
        return sc_parse_bool(arg, &conf->auto_connect);

    case OPT_DIGEST:
        return sc_parse_bool(arg, &conf->digest);

    case OPT_ALLOW_REMOTE:
        conf->allow_remote = 1;
        return 0;

    case OPT_VERBOSE:
        sc_log_level = SC_LOG_DEBUG;
        return 0;

    case OPT_QUIET:
        sc_log_level = SC_LOG_WARN;
        return 0;

    case OPT_DATA_DIR:
        conf->data_dir = arg;
        return 0;

    case OPT_PREFIX:
        if (strlen(arg) > 32 || !sc_valid_name(arg, strlen(arg))) {
            return -1;
        }
        return sc_conf_copy(conf->prefix, sizeof(conf->prefix), arg);

    case OPT_MSG_TO:
        if (strcmp(arg, "one") != 0 && strcmp(arg, "all") != 0) {
            return -1;
        }
        conf->msg_all = (arg[0] == 'a');
        return 0;

    case OPT_RETRY:
        return sc_parse_ms(arg, &conf->retry_ms);
    case OPT_REFRESH:
        return sc_parse_ms(arg, &conf->refresh_ms);
    case OPT_EXCHANGE:
        if (sc_parse_ms(arg, &conf->exchange_ms) != 0) {
            return -1;
        }
        return conf->exchange_ms >= 10 ? 0 : -1;
    case OPT_TOMBSTONE:
        return sc_parse_ms(arg, &conf->tombstone_ms);
    case OPT_TIMEOUT:
        if (sc_parse_ms(arg, &conf->timeout_ms) != 0) {
            return -1;
        }
        return conf->timeout_ms >= 10 ? 0 : -1;
    case OPT_PROGRESS:
        return sc_parse_ms(arg, &conf->progress_ms);
    case OPT_DURATION:
        return sc_parse_ms(arg, &conf->duration_ms);
    case OPT_DELAY:
        return sc_parse_ms(arg, &conf->delay_ms);
    case OPT_MSG_FREQ:
        return sc_parse_ms(arg, &conf->msg_freq_ms);

    default:
        break;
    }

    if (sc_parse_uint(arg, 0xffffffffUL, &n) != 0) {
        return -1;
    }

    switch (opt) {

    case OPT_MAX_RETRIES:  conf->max_retries = n; break;
    case OPT_MIN_PEERS:    conf->min_peers = n; break;
    case OPT_PEER_FAILS:   conf->peer_fails = n; return n ? 0 : -1;
    case OPT_FANOUT:       conf->fanout = n; return n <= 64 ? 0 : -1;
    case OPT_MSG_RETRIES:  conf->msg_retries = n; return n <= 100 ? 0 : -1;
    case OPT_SEED:         conf->seed = n; break;

    case OPT_MAX_PEERS:
        conf->max_peers = n;
        return (n >= 1 && n <= 100000) ? 0 : -1;

    case OPT_SHARE:
        conf->share = n;
        return (n >= 1 && n <= 1000) ? 0 : -1;

    case OPT_CHAT_RING:
        conf->chat_ring = n;
        return (n >= 1 && n <= 1000000) ? 0 : -1;

    case OPT_MSG_MAX:
        conf->msg_max = n;
        return (n >= 1 && n <= 1048576) ? 0 : -1;

    case OPT_BODY_MAX:
        conf->body_max = n;
        return (n >= 1024 && n <= 16777216) ? 0 : -1;

    case OPT_COUNT:
        conf->count = n;
        return n <= 100000 ? 0 : -1;

    case OPT_BASE_PORT:
        conf->base_port = n;
        return (n >= 1 && n <= 65535) ? 0 : -1;

    case OPT_MAX_CLIENTS:
        conf->max_clients = n;
        return (n >= 1 && n <= 65535) ? 0 : -1;

    case OPT_MSG_SIZE:
        conf->msg_size = n;
        return (n >= 1 && n <= 1048576) ? 0 : -1;

    case OPT_FAIL_RATE:
        conf->fail_rate = n;
        return n <= 100 ? 0 : -1;

    case OPT_DELAY_RATE:
        conf->delay_rate = n;
        return n <= 100 ? 0 : -1;

    case OPT_MAX_CONNS:
        conf->max_conns = n;
        return (n >= 16 && n <= 60000) ? 0 : -1;

    default:
        return -1;
    }

    return 0;
}


/* http://host[:port][/prefix]; the prefix is kept for /connect, /delete. */
static int
sc_conf_bootstrap(sc_conf_t *conf, const char *url)
{
    int                     port;
    size_t                  len;
    const char             *scheme, *host, *path;
    struct evhttp_uri      *uri;

    uri = evhttp_uri_parse(url);
    if (uri == NULL) {
        return -1;
    }

    scheme = evhttp_uri_get_scheme(uri);
    host = evhttp_uri_get_host(uri);
    port = evhttp_uri_get_port(uri);
    path = evhttp_uri_get_path(uri);

    if (scheme == NULL || strcasecmp(scheme, "http") != 0
        || host == NULL || *host == '\0'
        || strlen(host) >= sizeof(conf->boot_host)
        || strlen(url) >= sizeof(conf->boot_url)
        || (path && strlen(path) >= sizeof(conf->boot_prefix)))
    {
        evhttp_uri_free(uri);
        return -1;
    }

    strcpy(conf->boot_url, url);
    strcpy(conf->boot_host, host);
    conf->boot_port = port > 0 ? (unsigned) port : 80;
    strcpy(conf->boot_prefix, path ? path : "");

    len = strlen(conf->boot_prefix);
    while (len > 0 && conf->boot_prefix[len - 1] == '/') {
        conf->boot_prefix[--len] = '\0';
    }

    evhttp_uri_free(uri);
    return 0;
}


/* Listeners are loopback only: "PORT" or "127.x.y.z:PORT". */
static int
sc_conf_listen(const char *arg, char *host, size_t hsize, unsigned *port)
{
    unsigned long  p;

    if (sc_parse_uint(arg, 65535, &p) == 0) {
        if (p == 0) {
            return -1;
        }
        *port = p;
        return sc_conf_copy(host, hsize, "127.0.0.1");
    }

    if (sc_split_addr(arg, host, hsize, port) != 0) {
        return -1;
    }

    return (strncmp(host, "127.", 4) == 0) ? 0 : -1;
}


/* Copies a bounded string option; too long is invalid. */
static int
sc_conf_copy(char *dst, size_t size, const char *src)
{
    size_t  len;

    len = strlen(src);
    if (len >= size) {
        return -1;
    }

    memcpy(dst, src, len + 1);
    return 0;
}
