/*
 * scale-bench: what a person reads (live lines, the final table) and what
 * a program reads (the JSON summary, the live page's data).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "bench.h"


static const char *sb_target_names[2] = { "module", "baseline" };


/* Reports speak milliseconds; the histograms record nanoseconds. */
static double
sb_ms(uint64_t ns)
{
    return (double) ns / 1e6;
}


/* One line per interval on stderr: the figures the seed's logs showed. */
void
sb_report_line(sb_bench_t *b, const sb_interval_t *iv)
{
    if (b->conf.quiet) {
        return;
    }

    fprintf(stderr,
            "%7.1fs%s %9.0f rps  ok %-8llu 429 %-6llu non2xx %-6llu "
            "err %-6llu viol %-4llu p50 %.3fms p99 %.3fms max %.3fms\n",
            iv->t, b->ntargets > 1 ? (iv->target ? " B" : " A") : "",
            iv->secs > 0 ? (double) iv->ok / iv->secs : 0.0,
            (unsigned long long) iv->ok, (unsigned long long) iv->limited,
            (unsigned long long) iv->non2xx, (unsigned long long) iv->errors,
            (unsigned long long) iv->violations, sb_ms(iv->p50),
            sb_ms(iv->p99), sb_ms(iv->max));
}


/*
 * The module/baseline ratio of each A/B pair of rounds, and their median.
 * Returns the number of complete pairs.
 */
static int
sb_report_ratios(sb_bench_t *b, double *ratio, double *median)
{
    int     i, j, n;
    double  t, s[SB_MAX_ROUNDS];

    n = 0;

    for (i = 0; i + 1 < b->nrounds; i += 2) {
        if (b->round[i + 1].rps > 0) {
            ratio[n++] = b->round[i].rps / b->round[i + 1].rps;
        }
    }

    *median = 0;

    if (n == 0) {
        return 0;
    }

    memcpy(s, ratio, (size_t) n * sizeof(double));

    for (i = 1; i < n; i++) {
        t = s[i];
        for (j = i; j > 0 && s[j - 1] > t; j--) {
            s[j] = s[j - 1];
        }
        s[j] = t;
    }

    *median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;

    return n;
}


/* Printed when a round ends; a baseline round also closes a ratio. */
void
sb_report_round(sb_bench_t *b, int r)
{
    sb_round_t  *rd;

    if (b->conf.quiet) {
        return;
    }

    rd = &b->round[r];

    fprintf(stderr, "round %d %-8s %9.0f rps", r + 1,
            sb_target_names[rd->target], rd->rps);

    if (rd->target == 1 && r > 0 && rd->rps > 0) {
        fprintf(stderr, "   ratio module/baseline %.3f",
                b->round[r - 1].rps / rd->rps);
    }

    fputc('\n', stderr);
}


/* Latency quantiles of one histogram, in milliseconds. */
static json_t *
sb_report_latency(const sb_hist_t *h)
{
    return json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:I}",
                     "p50", sb_ms(sb_hist_quantile(h, 0.50)),
                     "p90", sb_ms(sb_hist_quantile(h, 0.90)),
                     "p99", sb_ms(sb_hist_quantile(h, 0.99)),
                     "p99.9", sb_ms(sb_hist_quantile(h, 0.999)),
                     "max", sb_ms(h->max),
                     "min", sb_ms(h->count ? h->min : 0),
                     "mean", sb_hist_mean(h) / 1e6,
                     "count", (json_int_t) h->count);
}


/* Every counter of a stats block, by class. */
static json_t *
sb_report_stats(const sb_stats_t *st, double secs)
{
    json_t  *o, *status, *transport, *viol, *ops;
    int      i;

    status = json_object();
    for (i = 0; i < SB_ST_N; i++) {
        json_object_set_new(status, sb_status_names[i],
                            json_integer((json_int_t) st->status[i]));
    }

    transport = json_object();
    for (i = 0; i < SB_TE_N; i++) {
        json_object_set_new(transport, sb_transport_names[i],
                            json_integer((json_int_t) st->transport[i]));
    }

    viol = json_object();
    json_object_set_new(viol, "total",
                        json_integer((json_int_t) st->violating));
    for (i = 0; i < SB_CV_N; i++) {
        json_object_set_new(viol, sb_violation_names[i],
                            json_integer((json_int_t) st->violation[i]));
    }

    ops = json_object();
    for (i = 0; i < SB_OP_N; i++) {
        json_object_set_new(ops, sb_op_names[i],
                            json_integer((json_int_t) st->ops[i]));
    }

    o = json_object();

    json_object_set_new(o, "seconds", json_real(secs));
    json_object_set_new(o, "requests", json_integer((json_int_t) st->requests));
    json_object_set_new(o, "ok", json_integer((json_int_t) st->ok));
    json_object_set_new(o, "rps",
                        json_real(secs > 0 ? (double) st->ok / secs : 0));
    json_object_set_new(o, "ops", ops);
    json_object_set_new(o, "status", status);
    json_object_set_new(o, "transport_errors", transport);
    json_object_set_new(o, "transport_errors_total",
                        json_integer((json_int_t) sb_stats_errors(st)));
    json_object_set_new(o, "violations", viol);
    json_object_set_new(o, "rate_limited",
                        json_integer((json_int_t) st->status[SB_ST_429]));
    json_object_set_new(o, "registered",
                        json_pack("{s:I,s:I}",
                                  "new", (json_int_t) st->reg_new,
                                  "refresh", (json_int_t) st->reg_refresh));
    json_object_set_new(o, "full", json_integer((json_int_t) st->full));
    json_object_set_new(o, "delete_miss",
                        json_integer((json_int_t) st->delete_miss));
    json_object_set_new(o, "short_answers",
                        json_integer((json_int_t) st->short_answers));
    json_object_set_new(o, "mean_peers",
                        json_real(st->ops[SB_OP_CONNECT]
                                  ? (double) st->peers
                                    / (double) st->ops[SB_OP_CONNECT]
                                  : 0));
    json_object_set_new(o, "connections_opened",
                        json_integer((json_int_t) st->opened));
    json_object_set_new(o, "latency_ms", sb_report_latency(&st->hist));

    return o;
}


/* The knobs of the run, so a summary file says how it was made. */
static json_t *
sb_report_conf(sb_bench_t *b)
{
    sb_conf_t  *c;

    c = &b->conf;

    return json_pack("{s:s,s:s,s:s?,s:I,s:f,s:i,s:i,s:f,s:f,s:f,s:f,"
                     "s:i,s:b,s:i,s:i,s:s}",
                     "scenario", sb_scenario_name(c->scenario),
                     "url", c->url,
                     "baseline", c->baseline,
                     "clients", (json_int_t) c->clients,
                     "rate", c->rate,
                     "workers", c->workers,
                     "connections", c->connections,
                     "duration", c->duration,
                     "warmup", c->warmup,
                     "interval", c->interval,
                     "timeout", c->timeout,
                     "subset", c->subset,
                     "json_body", c->json_body,
                     "churn_pct", c->churn_pct,
                     "rounds", b->ntargets > 1 ? c->rounds : 0,
                     "prefix", c->prefix);
}


/* The per-interval history: the live chart and the summary. */
static json_t *
sb_report_intervals(sb_bench_t *b)
{
    json_t         *a;
    sb_interval_t  *iv;
    size_t          i;

    a = json_array();

    for (i = 0; i < b->niv; i++) {
        iv = &b->iv[i];

        json_array_append_new(a,
            json_pack("{s:f,s:f,s:s,s:f,s:I,s:I,s:I,s:I,s:I,s:I,"
                      "s:f,s:f,s:f,s:f,s:f}",
                      "t", iv->t,
                      "seconds", iv->secs,
                      "target", sb_target_names[iv->target],
                      "rps", iv->secs > 0 ? (double) iv->ok / iv->secs : 0,
                      "requests", (json_int_t) iv->requests,
                      "ok", (json_int_t) iv->ok,
                      "transport_errors", (json_int_t) iv->errors,
                      "non2xx", (json_int_t) iv->non2xx,
                      "rate_limited", (json_int_t) iv->limited,
                      "violations", (json_int_t) iv->violations,
                      "p50", sb_ms(iv->p50),
                      "p90", sb_ms(iv->p90),
                      "p99", sb_ms(iv->p99),
                      "p99.9", sb_ms(iv->p999),
                      "max", sb_ms(iv->max)));
    }

    return a;
}


/* The A/B part: rounds, per-pair ratios, their median, latency per side. */
static json_t *
sb_report_baseline(sb_bench_t *b)
{
    json_t  *o, *rounds, *ratios;
    double   ratio[SB_MAX_ROUNDS], median, ok[2], secs[2];
    int      i, n;

    rounds = json_array();
    ok[0] = ok[1] = secs[0] = secs[1] = 0;

    for (i = 0; i < b->nrounds; i++) {
        json_array_append_new(rounds,
            json_pack("{s:i,s:s,s:f,s:f}",
                      "round", i + 1,
                      "target", sb_target_names[b->round[i].target],
                      "seconds", b->round[i].secs,
                      "rps", b->round[i].rps));

        ok[b->round[i].target] += (double) b->round[i].ok;
        secs[b->round[i].target] += b->round[i].secs;
    }

    n = sb_report_ratios(b, ratio, &median);

    ratios = json_array();
    for (i = 0; i < n; i++) {
        json_array_append_new(ratios, json_real(ratio[i]));
    }

    o = json_object();
    json_object_set_new(o, "url", json_string(b->conf.baseline));
    json_object_set_new(o, "rounds", rounds);
    json_object_set_new(o, "ratios", ratios);
    json_object_set_new(o, "ratio_median", json_real(median));
    json_object_set_new(o, "module_rps",
                        json_real(secs[0] > 0 ? ok[0] / secs[0] : 0));
    json_object_set_new(o, "baseline_rps",
                        json_real(secs[1] > 0 ? ok[1] / secs[1] : 0));
    json_object_set_new(o, "module_latency_ms",
                        sb_report_latency(&b->target_hist[0]));
    json_object_set_new(o, "baseline_latency_ms",
                        sb_report_latency(&b->target_hist[1]));

    return o;
}


/*
 * The whole run as JSON text (malloc'ed, the caller frees): the summary
 * file when final, the live page's data while running.
 */
char *
sb_report_json_text(sb_bench_t *b, int final, size_t flags)
{
    json_t  *root;
    char    *s;
    double   secs;

    secs = b->niv ? b->iv[b->niv - 1].t : 0;

    root = json_object();
    json_object_set_new(root, "tool", json_string("scale-bench"));
    json_object_set_new(root, "running", json_boolean(!final));
    json_object_set_new(root, "config", sb_report_conf(b));
    json_object_set_new(root, "measured", sb_report_stats(&b->total, secs));
    json_object_set_new(root, "warmup",
                        sb_report_stats(&b->warm, b->conf.warmup));
    json_object_set_new(root, "violations_all",
                        json_integer((json_int_t) (b->total.violating
                                                   + b->warm.violating)));
    json_object_set_new(root, "intervals", sb_report_intervals(b));

    if (b->ntargets > 1) {
        json_object_set_new(root, "baseline", sb_report_baseline(b));
    }

    if (b->conf.rate > 0) {
        /* how late the bench itself sent paced requests: part of latency */
        json_object_set_new(root, "pacing_lag_ms",
                            sb_report_latency(&b->lag_hist));
        json_object_set_new(root, "service_latency_ms",
                            sb_report_latency(&b->svc_hist));
    }

    s = json_dumps(root, flags | JSON_REAL_PRECISION(6));
    json_decref(root);

    return s;
}


/* Writes the summary; -1 (reported) when the file cannot be written. */
int
sb_report_write(sb_bench_t *b, const char *file)
{
    char  *s;
    FILE  *f;
    int    rc;

    s = sb_report_json_text(b, 1, JSON_INDENT(2));
    if (s == NULL) {
        return -1;
    }

    f = fopen(file, "w");
    if (f == NULL) {
        perror(file);
        free(s);
        return -1;
    }

    rc = fputs(s, f) < 0 || fputc('\n', f) == EOF;
    rc |= fclose(f) != 0;
    free(s);

    if (rc) {
        perror(file);
        return -1;
    }

    return 0;
}


/* The human summary on stdout at the end. */
void
sb_report_final(sb_bench_t *b)
{
    sb_stats_t  *st;
    double       secs, ratio[SB_MAX_ROUNDS], median;
    int          i, n;

    st = &b->total;
    secs = b->niv ? b->iv[b->niv - 1].t : 0;

    printf("scenario %s, %u names, %d threads x %d connections, %.1fs "
           "measured\n", sb_scenario_name(b->conf.scenario), b->conf.clients,
           b->conf.workers, b->conf.connections, secs);

    printf("  requests %llu  ok %llu  %.0f rps\n",
           (unsigned long long) st->requests, (unsigned long long) st->ok,
           secs > 0 ? (double) st->ok / secs : 0.0);

    printf("  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  "
           "max %.3f\n",
           sb_ms(sb_hist_quantile(&st->hist, 0.5)),
           sb_ms(sb_hist_quantile(&st->hist, 0.9)),
           sb_ms(sb_hist_quantile(&st->hist, 0.99)),
           sb_ms(sb_hist_quantile(&st->hist, 0.999)), sb_ms(st->hist.max));

    printf("  status:");
    for (i = 0; i < SB_ST_N; i++) {
        printf(" %s %llu", sb_status_names[i],
               (unsigned long long) st->status[i]);
    }

    printf("\n  transport errors:");
    for (i = 0; i < SB_TE_N; i++) {
        printf(" %s %llu", sb_transport_names[i],
               (unsigned long long) st->transport[i]);
    }

    printf("\n  violations %llu (+%llu in warm-up):",
           (unsigned long long) st->violating,
           (unsigned long long) b->warm.violating);
    for (i = 0; i < SB_CV_N; i++) {
        if (st->violation[i] + b->warm.violation[i]) {
            printf(" %s %llu", sb_violation_names[i],
                   (unsigned long long) (st->violation[i]
                                         + b->warm.violation[i]));
        }
    }

    printf("\n  registered new %llu refresh %llu, full %llu, "
           "delete misses %llu\n",
           (unsigned long long) st->reg_new,
           (unsigned long long) st->reg_refresh,
           (unsigned long long) st->full,
           (unsigned long long) st->delete_miss);

    if (b->conf.rate > 0) {
        printf("  pacing lag ms (bench's own lateness, inside the latency): "
               "p50 %.3f  p99 %.3f  max %.3f\n",
               sb_ms(sb_hist_quantile(&b->lag_hist, 0.5)),
               sb_ms(sb_hist_quantile(&b->lag_hist, 0.99)),
               sb_ms(b->lag_hist.max));
        printf("  service latency ms (from the send): p50 %.3f  p99 %.3f  "
               "p99.9 %.3f\n",
               sb_ms(sb_hist_quantile(&b->svc_hist, 0.5)),
               sb_ms(sb_hist_quantile(&b->svc_hist, 0.99)),
               sb_ms(sb_hist_quantile(&b->svc_hist, 0.999)));
    }

    if (b->ntargets < 2) {
        return;
    }

    n = sb_report_ratios(b, ratio, &median);

    printf("  module/baseline ratio per pair:");
    for (i = 0; i < n; i++) {
        printf(" %.3f", ratio[i]);
    }

    printf("\n  median ratio %.3f  (module p99 %.3fms, baseline p99 "
           "%.3fms)\n", median,
           sb_ms(sb_hist_quantile(&b->target_hist[0], 0.99)),
           sb_ms(sb_hist_quantile(&b->target_hist[1], 0.99)));
}
