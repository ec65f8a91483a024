/*
 * scale-bench: types shared by the load loop, the checks and the reports.
 *
 * One process, N threads; each thread owns an epoll loop and a set of
 * keep-alive connections (the wrk model).  Threads record into their own
 * stats under a private mutex; the main thread collects them once per
 * interval, so the hot path never touches shared cache lines.
 */

#ifndef SB_BENCH_H
#define SB_BENCH_H

#include <stdint.h>
#include <stddef.h>
#include <stdatomic.h>
#include <pthread.h>
#include <netinet/in.h>

#include "hist.h"


#define SB_MAX_ROUNDS      256
#define SB_MAX_SUBSET      100
#define SB_NAME_MAX        255


typedef enum {
    SB_SC_REGISTER = 0,
    SB_SC_REFRESH,
    SB_SC_CHURN,
    SB_SC_MIXED,
    SB_SC_SEED
} sb_scenario_e;


typedef enum {
    SB_OP_CONNECT = 0,
    SB_OP_DELETE,
    SB_OP_STATUS,
    SB_OP_N
} sb_op_e;


/* Transport errors: the request got no complete HTTP answer. */
typedef enum {
    SB_TE_CONNECT = 0,
    SB_TE_WRITE,
    SB_TE_READ,
    SB_TE_CLOSED,
    SB_TE_TIMEOUT,
    SB_TE_PARSE,
    SB_TE_N
} sb_transport_e;


/* Status classes of complete answers; 429 is rate limiting, not a fault. */
typedef enum {
    SB_ST_2XX = 0,
    SB_ST_3XX,
    SB_ST_4XX,
    SB_ST_429,
    SB_ST_5XX,
    SB_ST_OTHER,
    SB_ST_N
} sb_status_e;


/* Check violations: a 2xx answer that breaks the contract. */
typedef enum {
    SB_CV_NOT_JSON = 0,
    SB_CV_NOT_ARRAY,
    SB_CV_TOO_MANY,
    SB_CV_DUPLICATE,
    SB_CV_SELF,
    SB_CV_FOREIGN,
    SB_CV_BAD_ENTRY,
    SB_CV_NO_HEADER,
    SB_CV_BAD_BODY,
    SB_CV_N
} sb_violation_e;


typedef struct {
    uint8_t   op;
    uint8_t   target;       /* 0: the module, 1: the baseline */
    uint8_t   follow;       /* churn: register the name again after this */
    uint8_t   pad;
    uint32_t  name;         /* index into the name pool */
} sb_req_t;


/* What one answer turned out to be, before it is added to the stats. */
typedef struct {
    int       transport;    /* sb_transport_e or -1 */
    int       status;       /* HTTP status or 0 */
    uint32_t  violations;   /* bit per sb_violation_e */
    uint8_t   reg;          /* X-Scale-Registered: 1 new, 2 refresh */
    uint8_t   short_answer; /* fewer than K peers */
    uint16_t  peers;
} sb_outcome_t;


typedef struct {
    uint64_t   requests;             /* answered or failed */
    uint64_t   ok;                   /* 2xx and every check passed */
    uint64_t   ok_target[2];
    uint64_t   ops[SB_OP_N];
    uint64_t   status[SB_ST_N];
    uint64_t   transport[SB_TE_N];
    uint64_t   violation[SB_CV_N];
    uint64_t   violating;            /* answers with any violation */
    uint64_t   reg_new;
    uint64_t   reg_refresh;
    uint64_t   full;                 /* 503 to a /connect */
    uint64_t   delete_miss;          /* 404 to a /delete */
    uint64_t   short_answers;
    uint64_t   peers;                /* sum of answer sizes */
    uint64_t   opened;               /* connections opened */
    sb_hist_t  hist;                 /* latency of answered requests */
} sb_stats_t;


typedef struct {
    struct sockaddr_in  sa;
    char                host[64];       /* Host header: ip:port */
    char                path[256];      /* base path, or the baseline path */
    int                 addr_id;        /* same id: same listening socket */
    /* request heads up to "Content-Length: ", one per op */
    char               *head[SB_OP_N];
    size_t              head_len[SB_OP_N];
} sb_target_t;


typedef struct {
    uint32_t     clients;
    double       rate;
    int          workers;
    int          connections;
    double       duration;
    double       warmup;
    double       interval;
    double       timeout;
    int          subset;
    int          scenario;
    int          churn_pct;
    int          json_body;
    int          allow_foreign;
    int          rounds;
    int          quiet;
    uint64_t     seed;
    const char  *url;
    const char  *baseline;
    const char  *json_file;
    const char  *http_listen;
    const char  *prefix;
    const char  *addr;
} sb_conf_t;


typedef struct sb_bench_s  sb_bench_t;
typedef struct sb_conn_s   sb_conn_t;


/* Per-scenario state of one thread: its slice of the name pool. */
typedef struct {
    uint32_t   nlocal;          /* names i with i % workers == thread id */
    uint32_t   next;            /* register/refresh cursor */
    uint32_t   done;            /* register: answered */
    uint32_t   nreg;            /* seed: names believed registered */
    uint32_t  *perm;            /* seed: registered first, then the rest */
    sb_req_t  *follow;          /* churn: re-registrations to send */
    uint32_t   follow_head;
    uint32_t   follow_len;
    uint32_t   follow_cap;
} sb_scen_t;


typedef struct {
    int              id;
    pthread_t        tid;
    sb_bench_t      *b;
    uint64_t         rng;

    int              ep;
    sb_conn_t       *conns;
    int              nconns;
    sb_conn_t      **free;      /* idle or closed connections */
    int              nfree;
    int              busy;
    uint64_t         sent;
    uint64_t         t_pace;    /* when pacing started */
    double           rate;      /* this thread's share, ops/s */
    int              finished;  /* scenario has nothing more to send */
    uint64_t         backoff;   /* no new connection before this time */

    sb_scen_t        sc;

    /* collected by the main thread once per interval */
    pthread_mutex_t  lock;
    sb_stats_t       live;

    /* private until the thread is joined */
    sb_hist_t        target_hist[2];
    sb_hist_t        lag_hist;  /* --rate: how late requests were sent */
    sb_hist_t        svc_hist;  /* --rate: from the send, not from due */
} sb_thread_t;


typedef struct {
    double    t;                /* seconds since the measurement began */
    double    secs;
    int       target;
    uint64_t  requests;
    uint64_t  ok;
    uint64_t  errors;           /* transport */
    uint64_t  non2xx;           /* excluding 429 */
    uint64_t  limited;
    uint64_t  violations;
    uint64_t  p50, p90, p99, p999, max;
} sb_interval_t;


typedef struct {
    int       target;
    double    secs;
    uint64_t  ok;
    double    rps;
} sb_round_t;


struct sb_bench_s {
    sb_conf_t        conf;
    sb_target_t      target[2];
    int              ntargets;
    sb_thread_t     *threads;

    atomic_int       stop;
    atomic_int       target_now;
    atomic_int       measuring;
    atomic_int       finished;

    uint64_t         t_start;
    uint64_t         t_measure;
    uint64_t         t_stop;

    sb_stats_t       warm;
    sb_stats_t       total;
    sb_stats_t       cur;
    sb_hist_t        target_hist[2];
    sb_hist_t        lag_hist;
    sb_hist_t        svc_hist;

    sb_interval_t   *iv;
    size_t           niv;
    size_t           iv_cap;

    sb_round_t       round[SB_MAX_ROUNDS];
    int              nrounds;
    int              round_ticks;

    pthread_mutex_t  snap_lock;
    char            *snap;
    int              running;
};


/* clock.c */
uint64_t sb_now(void);

/* opts.c */
int sb_opts_parse(sb_conf_t *conf, int argc, char **argv);
const char *sb_scenario_name(int sc);

/* target.c */
int sb_target_init(sb_bench_t *b);
void sb_target_free(sb_bench_t *b);
size_t sb_name(const sb_conf_t *conf, uint32_t i, char *buf);
int64_t sb_name_index(const sb_conf_t *conf, const char *s, size_t len);

/* stats.c */
void sb_stats_reset(sb_stats_t *st);
void sb_stats_add(sb_stats_t *st, const sb_req_t *req,
    const sb_outcome_t *out, uint64_t ns);
void sb_stats_merge(sb_stats_t *dst, const sb_stats_t *src);
uint64_t sb_stats_errors(const sb_stats_t *st);
uint64_t sb_stats_non2xx(const sb_stats_t *st);
extern const char *sb_transport_names[SB_TE_N];
extern const char *sb_status_names[SB_ST_N];
extern const char *sb_violation_names[SB_CV_N];
extern const char *sb_op_names[SB_OP_N];

/* checks.c */
void sb_check(const sb_conf_t *conf, const sb_req_t *req, int status,
    const char *body, size_t len, int reg, sb_outcome_t *out);

/* scenario.c */
int sb_scenario_init(sb_thread_t *th);
void sb_scenario_free(sb_thread_t *th);
int sb_scenario_next(sb_thread_t *th, sb_req_t *req);
void sb_scenario_done(sb_thread_t *th, const sb_req_t *req, int status);

/* loop.c */
void *sb_thread_run(void *data);

/* report.c */
void sb_report_line(sb_bench_t *b, const sb_interval_t *iv);
void sb_report_round(sb_bench_t *b, int r);
void sb_report_final(sb_bench_t *b);
char *sb_report_json_text(sb_bench_t *b, int final, size_t flags);
int sb_report_write(sb_bench_t *b, const char *file);

/* live.c */
int sb_live_start(sb_bench_t *b);
void sb_live_stop(sb_bench_t *b);
void sb_live_publish(sb_bench_t *b);


#endif /* SB_BENCH_H */
