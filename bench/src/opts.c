/*
 * scale-bench: flags, and the seed's environment variables as defaults.
 */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"


static const char *sb_scenarios[] = {
    "register", "refresh", "churn", "mixed", "seed", NULL
};


static const char  sb_usage[] =
"usage: scale-bench [options]\n"
"\n"
"  -u, --url URL          module base URL, loopback only      BOOTSTRAP_URL\n"
"                         (default http://127.0.0.1:8080; a trailing\n"
"                         /connect is accepted)\n"
"  -s, --scenario NAME    register|refresh|churn|mixed|seed   (refresh)\n"
"  -n, --clients N        pool of distinct names              MAX_CLIENTS\n"
"                         (default 1000)\n"
"  -r, --rate N           total requests/s, 0 = flat out      THROTTLE_OPS\n"
"  -t, --workers N        threads, one event loop each        WORKER_COUNT\n"
"                         (default 2)\n"
"  -c, --connections N    keep-alive connections in all (64)\n"
"  -d, --duration T       measured time, e.g. 10s, 500ms, 2m (10s)\n"
"  -w, --warmup T         unmeasured time first (1s; 0 for register)\n"
"  -i, --interval T       live line period                 METRICS_INTERVAL\n"
"                         (default 1s)\n"
"  -k, --subset K         expected answer size bound (5)\n"
"      --timeout T        per request (5s)\n"
"      --churn PCT        share of delete+re-register in churn/mixed (10)\n"
"      --json-body        send JSON identities instead of plain names\n"
"      --addr HOST:PORT   with --json-body: the addr to register\n"
"      --prefix STR       name prefix (bench-)\n"
"      --allow-foreign    names outside the pool are not violations\n"
"      --baseline URL     alternate rounds module/baseline, print ratios\n"
"      --rounds N         rounds with --baseline, even (10)\n"
"      --json FILE        write the summary as JSON\n"
"      --http ADDR:PORT   serve a live page, e.g. 127.0.0.1:8090\n"
"      --seed N           random seed (1)\n"
"  -q, --quiet            no live lines\n"
"  -h, --help\n"
"\n"
"Exit status: 0 ran clean, 1 could not run, 2 some answer broke the\n"
"contract (see the violations in the summary).\n";


/* Seconds from "1.5", "500ms", "2s", "1m"; -1 when not a duration. */
static double
sb_opts_time(const char *s)
{
    char    *end;
    double   v;

    errno = 0;
    v = strtod(s, &end);

    if (errno || end == s || v < 0) {
        return -1;
    }

    if (*end == '\0' || strcmp(end, "s") == 0) {
        return v;
    }

    if (strcmp(end, "ms") == 0) {
        return v / 1000;
    }

    if (strcmp(end, "m") == 0) {
        return v * 60;
    }

    return -1;
}


/* A whole number within [min, max]; -1 on error (all our bounds are >= 0). */
static long long
sb_opts_num(const char *s, long long min, long long max)
{
    char       *end;
    long long   v;

    errno = 0;
    v = strtoll(s, &end, 10);

    if (errno || end == s || *end != '\0' || v < min || v > max) {
        return -1;
    }

    return v;
}


/* The scenario's name as the flag spells it, for reports. */
const char *
sb_scenario_name(int sc)
{
    return sb_scenarios[sc];
}


/* Applies one knob from a flag or an environment variable. */
static int
sb_opts_set(sb_conf_t *conf, int opt, const char *v, const char *from)
{
    long long  n;
    double     t;
    int        i;

    n = 0;
    t = 0;

    switch (opt) {

    case 'u':
        conf->url = v;
        return 0;

    case 's':
        for (i = 0; sb_scenarios[i]; i++) {
            if (strcmp(v, sb_scenarios[i]) == 0) {
                conf->scenario = i;
                return 0;
            }
        }
        break;

    case 'n':
        n = sb_opts_num(v, 1, 0x7fffffff);
        conf->clients = (uint32_t) n;
        break;

    case 'r':
        n = sb_opts_num(v, 0, 100000000);
        conf->rate = (double) n;
        break;

    case 't':
        n = sb_opts_num(v, 1, 256);
        conf->workers = (int) n;
        break;

    case 'c':
        n = sb_opts_num(v, 1, 100000);
        conf->connections = (int) n;
        break;

    case 'k':
        n = sb_opts_num(v, 1, SB_MAX_SUBSET);
        conf->subset = (int) n;
        break;

    case 'd':
        t = sb_opts_time(v);
        conf->duration = t;
        if (t == 0) {
            t = -1;
        }
        break;

    case 'w':
        t = sb_opts_time(v);
        conf->warmup = t;
        break;

    case 'i':
        t = sb_opts_time(v);
        conf->interval = t;
        if (t < 0.1) {
            t = -1;
        }
        break;

    case 'T':
        t = sb_opts_time(v);
        conf->timeout = t;
        if (t == 0) {
            t = -1;
        }
        break;

    case 'C':
        n = sb_opts_num(v, 0, 100);
        conf->churn_pct = (int) n;
        break;

    case 'R':
        n = sb_opts_num(v, 2, SB_MAX_ROUNDS);
        conf->rounds = (int) n;
        if (n > 0 && n % 2) {
            n = -1;
        }
        break;

    case 'S':
        n = sb_opts_num(v, 0, 0x7fffffffffffffffLL);
        conf->seed = (uint64_t) n;
        break;

    default:
        return -1;
    }

    if (n >= 0 && t >= 0) {
        return 0;
    }

    fprintf(stderr, "scale-bench: %s: invalid value \"%s\"\n", from, v);

    return -1;
}


/* The seed's variables, read first so that flags win. */
static int
sb_opts_env(sb_conf_t *conf)
{
    static const struct {
        const char  *name;
        int          opt;
    } env[] = {
        { "BOOTSTRAP_URL", 'u' },
        { "MAX_CLIENTS", 'n' },
        { "THROTTLE_OPS", 'r' },
        { "WORKER_COUNT", 't' },
        { "METRICS_INTERVAL", 'i' },
    };

    size_t       i;
    const char  *v;

    for (i = 0; i < sizeof(env) / sizeof(env[0]); i++) {
        v = getenv(env[i].name);

        if (v && *v && sb_opts_set(conf, env[i].opt, v, env[i].name) != 0) {
            return -1;
        }
    }

    return 0;
}


/*
 * Fills conf from the environment and argv.  Returns 0 to run, 1 when
 * the user only asked for help, -1 on a bad option (already reported).
 */
int
sb_opts_parse(sb_conf_t *conf, int argc, char **argv)
{
    int   opt, idx;
    char  flag[3];

    static const struct option  longopts[] = {
        { "url",           required_argument, NULL, 'u' },
        { "scenario",      required_argument, NULL, 's' },
        { "clients",       required_argument, NULL, 'n' },
        { "rate",          required_argument, NULL, 'r' },
        { "workers",       required_argument, NULL, 't' },
        { "threads",       required_argument, NULL, 't' },
        { "connections",   required_argument, NULL, 'c' },
        { "duration",      required_argument, NULL, 'd' },
        { "warmup",        required_argument, NULL, 'w' },
        { "interval",      required_argument, NULL, 'i' },
        { "subset",        required_argument, NULL, 'k' },
        { "timeout",       required_argument, NULL, 'T' },
        { "churn",         required_argument, NULL, 'C' },
        { "rounds",        required_argument, NULL, 'R' },
        { "seed",          required_argument, NULL, 'S' },
        { "json-body",     no_argument,       NULL, 'J' },
        { "addr",          required_argument, NULL, 'A' },
        { "prefix",        required_argument, NULL, 'P' },
        { "allow-foreign", no_argument,       NULL, 'F' },
        { "baseline",      required_argument, NULL, 'B' },
        { "json",          required_argument, NULL, 'j' },
        { "http",          required_argument, NULL, 'H' },
        { "quiet",         no_argument,       NULL, 'q' },
        { "help",          no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    memset(conf, 0, sizeof(sb_conf_t));

    conf->url = "http://127.0.0.1:8080";
    conf->scenario = SB_SC_REFRESH;
    conf->clients = 1000;
    conf->workers = 2;
    conf->connections = 64;
    conf->duration = 10;
    conf->warmup = -1;
    conf->interval = 1;
    conf->timeout = 5;
    conf->subset = 5;
    conf->churn_pct = 10;
    conf->rounds = 10;
    conf->seed = 1;
    conf->prefix = "bench-";

    if (sb_opts_env(conf) != 0) {
        return -1;
    }

    for ( ;; ) {
        idx = -1;
        opt = getopt_long(argc, argv, "u:s:n:r:t:c:d:w:i:k:qh", longopts,
                          &idx);
        if (opt == -1) {
            break;
        }

        switch (opt) {

        case 'J':
            conf->json_body = 1;
            break;

        case 'A':
            conf->addr = optarg;
            break;

        case 'P':
            conf->prefix = optarg;
            if (strlen(optarg) > 200) {
                fprintf(stderr, "scale-bench: --prefix too long\n");
                return -1;
            }
            break;

        case 'F':
            conf->allow_foreign = 1;
            break;

        case 'B':
            conf->baseline = optarg;
            break;

        case 'j':
            conf->json_file = optarg;
            break;

        case 'H':
            conf->http_listen = optarg;
            break;

        case 'q':
            conf->quiet = 1;
            break;

        case 'h':
            fputs(sb_usage, stdout);
            return 1;

        case '?':
            fputs(sb_usage, stderr);
            return -1;

        default:
            flag[0] = '-';
            flag[1] = (char) opt;
            flag[2] = '\0';

            if (sb_opts_set(conf, opt, optarg,
                            idx >= 0 ? longopts[idx].name : flag) != 0)
            {
                return -1;
            }
            break;
        }
    }

    if (optind < argc) {
        fprintf(stderr, "scale-bench: unexpected argument \"%s\"\n",
                argv[optind]);
        return -1;
    }

    if (conf->warmup < 0) {
        conf->warmup = conf->scenario == SB_SC_REGISTER ? 0 : 1;
    }

    if ((uint32_t) conf->workers > conf->clients) {
        conf->workers = (int) conf->clients;
    }

    if (conf->connections < conf->workers) {
        conf->connections = conf->workers;
    }

    return 0;
}
