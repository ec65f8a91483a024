/*
 * scale-bench: load generator and contract checker for ngx_scale.
 *
 * main() sets up, starts the threads and then keeps the clock: every
 * interval it collects what the threads recorded, prints a line, feeds the
 * live page, and with --baseline switches the target between rounds.
 */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"


#define SB_NAP_NS  50000000ULL


static volatile sig_atomic_t  sb_signal;


static int sb_setup(sb_bench_t *b);
static void sb_run(sb_bench_t *b);
static void sb_collect(sb_bench_t *b);
static void sb_close_interval(sb_bench_t *b, uint64_t now, uint64_t *last);
static int sb_sleep_until(sb_bench_t *b, uint64_t t);
static void sb_on_signal(int signo);
static void sb_on_alarm(int signo);


/* Exit status: 0 clean, 1 could not run, 2 contract violations seen. */
int
main(int argc, char **argv)
{
    sb_bench_t   *b;
    int           i, rc;

    b = calloc(1, sizeof(sb_bench_t));
    if (b == NULL) {
        return 1;
    }

    rc = sb_opts_parse(&b->conf, argc, argv);
    if (rc != 0) {
        return rc == 1 ? 0 : 1;
    }

    if (sb_setup(b) != 0) {
        return 1;
    }

    if (b->conf.http_listen && sb_live_start(b) != 0) {
        return 1;
    }

    sb_run(b);

    for (i = 0; i < b->conf.workers; i++) {
        sb_hist_merge(&b->target_hist[0], &b->threads[i].target_hist[0]);
        sb_hist_merge(&b->target_hist[1], &b->threads[i].target_hist[1]);
        sb_hist_merge(&b->lag_hist, &b->threads[i].lag_hist);
        sb_hist_merge(&b->svc_hist, &b->threads[i].svc_hist);
        sb_scenario_free(&b->threads[i]);
    }

    sb_report_final(b);

    rc = 0;

    if (b->conf.json_file && sb_report_write(b, b->conf.json_file) != 0) {
        rc = 1;
    }

    if (b->conf.http_listen) {
        b->running = 0;
        sb_live_publish(b);
        sb_live_stop(b);
    }

    if (rc == 0 && b->total.violating + b->warm.violating) {
        rc = 2;
    }

    sb_target_free(b);
    free(b->threads);
    free(b->iv);
    free(b->snap);
    free(b);

    return rc;
}


/* Targets, threads and their slices of the pool, the signal handlers. */
static int
sb_setup(sb_bench_t *b)
{
    sb_conf_t         *conf;
    sb_thread_t       *th;
    struct sigaction   sa;
    int                i;
    double             round;

    conf = &b->conf;

    if (sb_target_init(b) != 0) {
        return -1;
    }

    if (b->ntargets > 1) {
        /* rounds are whole intervals, so each interval has one target */
        round = conf->duration / conf->rounds;
        b->round_ticks = (int) (round / conf->interval + 0.5);
        if (b->round_ticks < 1) {
            b->round_ticks = 1;
        }

        conf->duration = conf->rounds * b->round_ticks * conf->interval;
    }

    b->threads = calloc((size_t) conf->workers, sizeof(sb_thread_t));
    if (b->threads == NULL) {
        return -1;
    }

    sb_stats_reset(&b->warm);
    sb_stats_reset(&b->total);
    sb_stats_reset(&b->cur);
    sb_hist_reset(&b->target_hist[0]);
    sb_hist_reset(&b->target_hist[1]);
    sb_hist_reset(&b->lag_hist);
    sb_hist_reset(&b->svc_hist);
    pthread_mutex_init(&b->snap_lock, NULL);

    for (i = 0; i < conf->workers; i++) {
        th = &b->threads[i];
        th->id = i;
        th->b = b;
        th->ep = -1;
        th->nconns = conf->connections / conf->workers
                     + (i < conf->connections % conf->workers);
        th->rate = conf->rate / conf->workers;

        pthread_mutex_init(&th->lock, NULL);
        sb_stats_reset(&th->live);
        sb_hist_reset(&th->target_hist[0]);
        sb_hist_reset(&th->target_hist[1]);
        sb_hist_reset(&th->lag_hist);
        sb_hist_reset(&th->svc_hist);

        if (sb_scenario_init(th) != 0) {
            fprintf(stderr, "scale-bench: out of memory\n");
            return -1;
        }
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    sa.sa_handler = sb_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    sa.sa_handler = sb_on_alarm;
    sigaction(SIGALRM, &sa, NULL);

    return 0;
}


/*
 * Starts the threads, keeps the clock, stops the threads.  The run ends
 * at the planned time, when every thread has run out of work (register),
 * or on SIGINT/SIGTERM; a watchdog alarm ends the process if even that
 * hangs.
 */
static void
sb_run(sb_bench_t *b)
{
    sb_conf_t  *conf;
    uint64_t    now, tick, half, last;
    int         i, k;

    conf = &b->conf;

    alarm((unsigned) (conf->warmup + conf->duration + conf->timeout) + 30);

    b->running = 1;
    b->t_start = sb_now();
    b->t_measure = b->t_start + (uint64_t) (conf->warmup * 1e9);
    b->t_stop = b->t_measure + (uint64_t) (conf->duration * 1e9);

    atomic_store(&b->measuring, conf->warmup == 0);
    atomic_store(&b->target_now, 0);

    for (i = 0; i < conf->workers; i++) {
        if (pthread_create(&b->threads[i].tid, NULL, sb_thread_run,
                           &b->threads[i]) != 0)
        {
            perror("scale-bench: pthread_create");
            exit(1);
        }
    }

    if (conf->warmup > 0) {
        /* with a baseline, both sides are warmed: first half, second half */
        half = b->t_start + (b->t_measure - b->t_start) / 2;

        if (b->ntargets > 1 && sb_sleep_until(b, half) == 0) {
            atomic_store(&b->target_now, 1);
        }

        if (sb_sleep_until(b, b->t_measure) == 0) {
            atomic_store(&b->target_now, 0);
            sb_collect(b);
            sb_stats_merge(&b->warm, &b->cur);
            sb_stats_reset(&b->cur);
            atomic_store(&b->measuring, 1);

            if (!conf->quiet) {
                fprintf(stderr, "warm-up %.1fs: %llu requests\n",
                        conf->warmup,
                        (unsigned long long) b->warm.requests);
            }
        }
    }

    last = b->t_measure;

    for (k = 1; ; k++) {
        tick = b->t_measure + (uint64_t) (k * conf->interval * 1e9);
        if (tick > b->t_stop) {
            tick = b->t_stop;
        }

        if (sb_sleep_until(b, tick) != 0) {
            break;
        }

        if (tick == b->t_stop) {
            break;
        }

        sb_collect(b);
        sb_close_interval(b, sb_now(), &last);
    }

    atomic_store(&b->stop, 1);

    for (i = 0; i < conf->workers; i++) {
        pthread_join(b->threads[i].tid, NULL);
    }

    now = sb_now();
    sb_collect(b);

    if (!atomic_load(&b->measuring)) {
        /* stopped during warm-up */
        sb_stats_merge(&b->warm, &b->cur);
        sb_stats_reset(&b->cur);
        last = now;
    }

    sb_close_interval(b, now, &last);
    alarm(0);
}


/* Takes what every thread recorded since the last call into b->cur. */
static void
sb_collect(sb_bench_t *b)
{
    int           i;
    sb_thread_t  *th;

    for (i = 0; i < b->conf.workers; i++) {
        th = &b->threads[i];

        pthread_mutex_lock(&th->lock);
        sb_stats_merge(&b->cur, &th->live);
        sb_stats_reset(&th->live);
        pthread_mutex_unlock(&th->lock);
    }
}


/*
 * Turns b->cur into an interval: the live line, the totals, the history
 * for the page, the round bookkeeping and the next round's target.
 */
static void
sb_close_interval(sb_bench_t *b, uint64_t now, uint64_t *last)
{
    sb_interval_t  *iv;
    sb_stats_t     *st;
    sb_round_t     *rd;
    size_t          cap;
    int             r, target;

    st = &b->cur;

    if (now <= *last && st->requests == 0) {
        return;
    }

    if (b->niv == b->iv_cap) {
        cap = b->iv_cap ? b->iv_cap * 2 : 64;
        iv = realloc(b->iv, cap * sizeof(sb_interval_t));
        if (iv == NULL) {
            return;
        }
        b->iv = iv;
        b->iv_cap = cap;
    }

    target = atomic_load(&b->target_now);

    iv = &b->iv[b->niv++];
    iv->t = (double) (now - b->t_measure) / 1e9;
    iv->secs = (double) (now - *last) / 1e9;
    iv->target = target;
    iv->requests = st->requests;
    iv->ok = st->ok;
    iv->errors = sb_stats_errors(st);
    iv->non2xx = sb_stats_non2xx(st);
    iv->limited = st->status[SB_ST_429];
    iv->violations = st->violating;
    iv->p50 = sb_hist_quantile(&st->hist, 0.50);
    iv->p90 = sb_hist_quantile(&st->hist, 0.90);
    iv->p99 = sb_hist_quantile(&st->hist, 0.99);
    iv->p999 = sb_hist_quantile(&st->hist, 0.999);
    iv->max = st->hist.max;

    *last = now;

    sb_report_line(b, iv);
    sb_stats_merge(&b->total, st);

    if (b->ntargets > 1 && b->nrounds < b->conf.rounds) {
        r = (int) (b->niv - 1) / b->round_ticks;
        rd = &b->round[r];
        rd->target = r % 2;
        rd->ok += st->ok_target[rd->target];
        rd->secs += iv->secs;
        rd->rps = rd->secs > 0 ? (double) rd->ok / rd->secs : 0;

        if ((int) b->niv % b->round_ticks == 0) {
            b->nrounds = r + 1;
            sb_report_round(b, r);
            atomic_store(&b->target_now, (r + 1) % 2);
        }
    }

    sb_stats_reset(st);

    if (b->conf.http_listen) {
        sb_live_publish(b);
    }
}


/*
 * Sleeps in short naps until t.  Returns 0 at t, -1 when the run must end
 * sooner: a signal, or every thread out of work.
 */
static int
sb_sleep_until(sb_bench_t *b, uint64_t t)
{
    uint64_t         now, nap;
    struct timespec  ts;

    for ( ;; ) {
        if (sb_signal
            || atomic_load(&b->finished) == b->conf.workers)
        {
            return -1;
        }

        now = sb_now();
        if (now >= t) {
            return 0;
        }

        nap = t - now < SB_NAP_NS ? t - now : SB_NAP_NS;
        ts.tv_sec = 0;
        ts.tv_nsec = (long) nap;
        nanosleep(&ts, NULL);
    }
}


/* First SIGINT ends the run cleanly (summary still written); second kills. */
static void
sb_on_signal(int signo)
{
    (void) signo;

    if (sb_signal) {
        _exit(130);
    }

    sb_signal = 1;
}


/* The hard stop: nothing this process does may outlive its time budget. */
static void
sb_on_alarm(int signo)
{
    static const char  msg[] = "scale-bench: watchdog: run overran, exit\n";

    (void) signo;

    if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
        /* nothing left to do */
    }

    _exit(3);
}
