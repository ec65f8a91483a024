/*
 * scale-bench: counters by class, and how one answer is added to them.
 */

#include <string.h>

#include "bench.h"


const char *sb_transport_names[SB_TE_N] = {
    "connect", "write", "read", "closed", "timeout", "parse"
};

const char *sb_status_names[SB_ST_N] = {
    "2xx", "3xx", "4xx", "429", "5xx", "other"
};

const char *sb_violation_names[SB_CV_N] = {
    "not_json", "not_array", "too_many", "duplicate", "self", "foreign",
    "bad_entry", "no_registered_header", "bad_body"
};

const char *sb_op_names[SB_OP_N] = {
    "connect", "delete", "status"
};


/* Zeroes a stats block for the next interval. */
void
sb_stats_reset(sb_stats_t *st)
{
    memset(st, 0, offsetof(sb_stats_t, hist));
    sb_hist_reset(&st->hist);
}


/* The class of a status code; 429 stands apart: limited, not failed. */
static int
sb_stats_class(int status)
{
    if (status == 429) {
        return SB_ST_429;
    }

    switch (status / 100) {
    case 2:
        return SB_ST_2XX;
    case 3:
        return SB_ST_3XX;
    case 4:
        return SB_ST_4XX;
    case 5:
        return SB_ST_5XX;
    default:
        return SB_ST_OTHER;
    }
}


/*
 * Adds one finished request.  Transport errors have no latency; every
 * answered request, whatever its status, has one.
 */
void
sb_stats_add(sb_stats_t *st, const sb_req_t *req, const sb_outcome_t *out,
    uint64_t ns)
{
    int  i;

    st->requests++;
    st->ops[req->op]++;

    if (out->transport >= 0) {
        st->transport[out->transport]++;
        return;
    }

    st->status[sb_stats_class(out->status)]++;
    sb_hist_record(&st->hist, ns);

    if (out->violations) {
        st->violating++;

        for (i = 0; i < SB_CV_N; i++) {
            if (out->violations & (1u << i)) {
                st->violation[i]++;
            }
        }

    } else if (out->status / 100 == 2) {
        st->ok++;
        st->ok_target[req->target]++;
    }

    if (out->reg == 1) {
        st->reg_new++;
    } else if (out->reg == 2) {
        st->reg_refresh++;
    }

    if (req->target == 0) {
        if (req->op == SB_OP_CONNECT && out->status == 503) {
            st->full++;
        } else if (req->op == SB_OP_DELETE && out->status == 404) {
            st->delete_miss++;
        }
    }

    st->short_answers += out->short_answer;
    st->peers += out->peers;
}


/* Adds one stats block to another (threads into the interval, intervals
 * into the run). */
void
sb_stats_merge(sb_stats_t *dst, const sb_stats_t *src)
{
    const uint64_t  *s;
    uint64_t        *d;
    size_t           i, n;

    /* every field before the histogram is a uint64_t counter */
    n = offsetof(sb_stats_t, hist) / sizeof(uint64_t);
    s = (const uint64_t *) src;
    d = (uint64_t *) dst;

    for (i = 0; i < n; i++) {
        d[i] += s[i];
    }

    sb_hist_merge(&dst->hist, &src->hist);
}


/* Transport errors of all classes. */
uint64_t
sb_stats_errors(const sb_stats_t *st)
{
    uint64_t  n;
    int       i;

    n = 0;

    for (i = 0; i < SB_TE_N; i++) {
        n += st->transport[i];
    }

    return n;
}


/* Answers outside 2xx, not counting 429. */
uint64_t
sb_stats_non2xx(const sb_stats_t *st)
{
    return st->status[SB_ST_3XX] + st->status[SB_ST_4XX]
           + st->status[SB_ST_5XX] + st->status[SB_ST_OTHER];
}

