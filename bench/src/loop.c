/*
 * scale-bench: one thread's event loop (epoll, level-triggered).
 *
 * Each connection carries one request at a time (keep-alive, no
 * pipelining).  A request is due either now (--rate 0) or on this
 * thread's schedule; its latency runs from when it was due, so a server
 * stall also delays the requests that could not be sent (no coordinated
 * omission).  Answers are checked outside the stats lock.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <netinet/tcp.h>

#include "bench.h"
#include "http.h"


#define SB_WBUF         2048
#define SB_EVENTS       256
#define SB_TICK_NS      10000000ULL     /* longest sleep: 10 ms */
#define SB_SWEEP_NS     50000000ULL     /* timeout sweep every 50 ms */
#define SB_BACKOFF_NS   20000000ULL     /* after a failed connect */


enum {
    SB_CONN_CLOSED = 0,
    SB_CONN_CONNECTING,
    SB_CONN_BUSY,
    SB_CONN_IDLE
};


struct sb_conn_s {
    int           fd;
    int           state;
    int           addr_id;
    int           out;          /* EPOLLOUT is armed */
    sb_thread_t  *th;
    sb_req_t      req;
    uint64_t      t_due;
    uint64_t      t_sent;
    uint64_t      deadline;
    size_t        wlen;
    size_t        woff;
    sb_resp_t     resp;
    char          wbuf[SB_WBUF];
};


static int sb_loop_init(sb_thread_t *th);
static void sb_loop_free(sb_thread_t *th);
static void sb_dispatch(sb_thread_t *th, uint64_t now);
static void sb_send(sb_conn_t *c, const sb_req_t *req, uint64_t due,
    uint64_t now);
static int sb_open(sb_conn_t *c);
static void sb_write(sb_conn_t *c);
static void sb_read(sb_conn_t *c);
static void sb_event(sb_conn_t *c, uint32_t events);
static void sb_finish(sb_conn_t *c, int transport);
static void sb_close(sb_conn_t *c);
static void sb_sweep(sb_thread_t *th, uint64_t now);
static int sb_wait(sb_thread_t *th, struct epoll_event *ev, uint64_t ns);


/* The thread body: runs until the main thread says stop, or work ends. */
void *
sb_thread_run(void *data)
{
    sb_thread_t         *th;
    sb_bench_t          *b;
    struct epoll_event   ev[SB_EVENTS];
    uint64_t             now, due, wait, sweep;
    int                  i, n;

    th = data;
    b = th->b;

    /* the default 50 us timer slack would show up as paced latency */
    (void) prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

    if (sb_loop_init(th) != 0) {
        atomic_fetch_add(&b->finished, 1);
        return NULL;
    }

    now = sb_now();
    th->t_pace = now;
    sweep = now + SB_SWEEP_NS;

    while (!atomic_load_explicit(&b->stop, memory_order_relaxed)) {

        sb_dispatch(th, now);

        if (th->finished && th->busy == 0) {
            break;
        }

        wait = SB_TICK_NS;

        if (th->rate > 0 && th->nfree > 0 && !th->finished) {
            due = th->t_pace + (uint64_t) ((double) th->sent * 1e9 / th->rate);
            wait = due > now ? due - now : 0;
            if (wait > SB_TICK_NS) {
                wait = SB_TICK_NS;
            }
        }

        n = sb_wait(th, ev, wait);
        now = sb_now();

        for (i = 0; i < n; i++) {
            sb_event(ev[i].data.ptr, ev[i].events);
        }

        if (now >= sweep) {
            sb_sweep(th, now);
            sweep = now + SB_SWEEP_NS;
        }
    }

    sb_loop_free(th);
    atomic_fetch_add(&b->finished, 1);

    return NULL;
}


/* epoll with a nanosecond timeout, so pacing is not rounded to 1 ms. */
static int
sb_wait(sb_thread_t *th, struct epoll_event *ev, uint64_t ns)
{
    struct timespec  ts;
    static int       no_pwait2;
    int              n;

    if (!no_pwait2) {
        ts.tv_sec = (time_t) (ns / 1000000000u);
        ts.tv_nsec = (long) (ns % 1000000000u);

        n = epoll_pwait2(th->ep, ev, SB_EVENTS, &ts, NULL);
        if (n >= 0 || errno != ENOSYS) {
            return n < 0 ? 0 : n;
        }

        no_pwait2 = 1;
    }

    n = epoll_wait(th->ep, ev, SB_EVENTS, (int) ((ns + 999999) / 1000000));

    return n < 0 ? 0 : n;
}


/* Connections start closed and are opened on first use. */
static int
sb_loop_init(sb_thread_t *th)
{
    int         i;
    sb_conn_t  *c;

    th->ep = epoll_create1(EPOLL_CLOEXEC);
    if (th->ep == -1) {
        perror("scale-bench: epoll_create1");
        return -1;
    }

    th->conns = calloc((size_t) th->nconns, sizeof(sb_conn_t));
    th->free = calloc((size_t) th->nconns, sizeof(sb_conn_t *));
    if (th->conns == NULL || th->free == NULL) {
        return -1;
    }

    for (i = 0; i < th->nconns; i++) {
        c = &th->conns[i];
        c->fd = -1;
        c->th = th;

        if (sb_resp_init(&c->resp) != 0) {
            return -1;
        }

        /* pushed in reverse so connection 0 is used first */
        th->free[th->nconns - 1 - i] = c;
    }

    th->nfree = th->nconns;

    return 0;
}


/* Requests still in flight at the stop are dropped, not counted. */
static void
sb_loop_free(sb_thread_t *th)
{
    int  i;

    for (i = 0; th->conns && i < th->nconns; i++) {
        if (th->conns[i].fd != -1) {
            close(th->conns[i].fd);
        }
        sb_resp_free(&th->conns[i].resp);
    }

    if (th->ep != -1) {
        close(th->ep);
    }

    free(th->conns);
    free(th->free);
    th->conns = NULL;
    th->free = NULL;
}


/* Hands due work to free connections. */
static void
sb_dispatch(sb_thread_t *th, uint64_t now)
{
    sb_req_t     req;
    sb_conn_t   *c;
    uint64_t     due;

    while (th->nfree > 0 && !th->finished) {

        c = th->free[th->nfree - 1];

        if (c->state == SB_CONN_CLOSED && now < th->backoff) {
            return;
        }

        due = now;

        if (th->rate > 0) {
            due = th->t_pace + (uint64_t) ((double) th->sent * 1e9 / th->rate);
            if (due > now) {
                return;
            }
        }

        if (sb_scenario_next(th, &req) != 0) {
            th->finished = 1;
            return;
        }

        req.target = (uint8_t) atomic_load_explicit(&th->b->target_now,
                                                    memory_order_relaxed);

        th->nfree--;
        th->sent++;

        if (th->rate > 0
            && atomic_load_explicit(&th->b->measuring, memory_order_relaxed))
        {
            sb_hist_record(&th->lag_hist, now - due);
        }

        sb_send(c, &req, due, now);
        now = sb_now();
    }
}


/* Puts one request on a connection, opening it first when needed. */
static void
sb_send(sb_conn_t *c, const sb_req_t *req, uint64_t due, uint64_t now)
{
    sb_thread_t  *th;
    sb_target_t  *t;

    th = c->th;
    t = &th->b->target[req->target];

    c->req = *req;
    c->t_due = due;
    c->t_sent = now;
    c->deadline = now + (uint64_t) (th->b->conf.timeout * 1e9);
    th->busy++;

    c->wlen = sb_http_request(&th->b->conf, t, req, c->wbuf, SB_WBUF);
    c->woff = 0;

    if (c->wlen == 0) {
        sb_finish(c, SB_TE_WRITE);
        return;
    }

    if (c->state == SB_CONN_IDLE && c->addr_id != t->addr_id) {
        sb_close(c);
    }

    if (c->state == SB_CONN_CLOSED) {
        c->addr_id = t->addr_id;

        if (sb_open(c) != 0) {
            th->backoff = now + SB_BACKOFF_NS;
            sb_finish(c, SB_TE_CONNECT);
        }

        return;
    }

    c->state = SB_CONN_BUSY;
    sb_write(c);
}


/* Non-blocking connect; the request is written once it is established. */
static int
sb_open(sb_conn_t *c)
{
    int                  fd, one;
    struct epoll_event   ev;
    sb_thread_t         *th;
    sb_target_t         *t;

    th = c->th;
    t = &th->b->target[c->req.target];

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        return -1;
    }

    one = 1;
    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    c->fd = fd;
    c->out = 1;
    c->state = SB_CONN_CONNECTING;

    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.ptr = c;

    if (epoll_ctl(th->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        c->fd = -1;
        c->state = SB_CONN_CLOSED;
        return -1;
    }

    pthread_mutex_lock(&th->lock);
    th->live.opened++;
    pthread_mutex_unlock(&th->lock);

    if (connect(fd, (struct sockaddr *) &t->sa, sizeof(t->sa)) == 0) {
        c->state = SB_CONN_BUSY;
        sb_write(c);
        return 0;
    }

    if (errno == EINPROGRESS) {
        return 0;
    }

    sb_close(c);

    return -1;
}


/* Writes what the socket takes; arms EPOLLOUT only when it is full. */
static void
sb_write(sb_conn_t *c)
{
    ssize_t             n;
    struct epoll_event  ev;
    int                 want;

    while (c->woff < c->wlen) {
        n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);

        if (n > 0) {
            c->woff += (size_t) n;
            continue;
        }

        if (n == -1 && errno == EINTR) {
            continue;
        }

        if (n == -1 && errno == EAGAIN) {
            break;
        }

        sb_finish(c, SB_TE_WRITE);
        return;
    }

    want = c->woff < c->wlen;

    if (want != c->out) {
        ev.events = EPOLLIN | (want ? EPOLLOUT : 0);
        ev.data.ptr = c;
        (void) epoll_ctl(c->th->ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->out = want;
    }
}


/* One readiness report for one connection. */
static void
sb_event(sb_conn_t *c, uint32_t events)
{
    int        err;
    socklen_t  len;

    switch (c->state) {

    case SB_CONN_CONNECTING:
        err = 0;
        len = sizeof(err);

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0
            || err != 0 || (events & EPOLLERR))
        {
            c->th->backoff = sb_now() + SB_BACKOFF_NS;
            sb_finish(c, SB_TE_CONNECT);
            return;
        }

        if (events & (EPOLLOUT | EPOLLIN)) {
            c->state = SB_CONN_BUSY;
            sb_write(c);
        }

        return;

    case SB_CONN_BUSY:
        if ((events & EPOLLOUT) && c->woff < c->wlen) {
            sb_write(c);
            if (c->state != SB_CONN_BUSY) {
                return;
            }
        }

        if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
            sb_read(c);
        }

        return;

    case SB_CONN_IDLE:
        /* the server closed a kept-alive connection: reopen on next use */
        sb_close(c);
        return;

    default:
        return;
    }
}


/* Reads what is there and finishes the request once the answer is whole. */
static void
sb_read(sb_conn_t *c)
{
    sb_resp_t  *r;
    ssize_t     n;
    size_t      room;
    int         rc;

    r = &c->resp;

    for ( ;; ) {
        if (sb_resp_room(r) != 0) {
            sb_finish(c, SB_TE_PARSE);
            return;
        }

        room = r->cap - r->len;
        n = recv(c->fd, r->buf + r->len, room, 0);

        if (n > 0) {
            r->len += (size_t) n;
            rc = sb_resp_parse(r, 0);

            if (rc == 1) {
                sb_finish(c, -1);
                return;
            }

            if (rc == -1) {
                sb_finish(c, SB_TE_PARSE);
                return;
            }

            if ((size_t) n < room) {
                return;
            }

            continue;
        }

        if (n == 0) {
            rc = r->len ? sb_resp_parse(r, 1) : -1;

            if (rc == 1) {
                r->close = 1;
                sb_finish(c, -1);
            } else {
                sb_finish(c, r->len ? SB_TE_PARSE : SB_TE_CLOSED);
            }

            return;
        }

        if (errno == EINTR) {
            continue;
        }

        if (errno != EAGAIN) {
            sb_finish(c, errno == ECONNRESET && r->len == 0
                         ? SB_TE_CLOSED : SB_TE_READ);
        }

        return;
    }
}


/*
 * Ends the request on c: checks and records the answer (transport -1) or
 * the transport error, tells the scenario, and frees the connection.
 */
static void
sb_finish(sb_conn_t *c, int transport)
{
    sb_thread_t   *th;
    sb_outcome_t   out;
    uint64_t       ns;
    int            keep;

    th = c->th;

    memset(&out, 0, sizeof(out));
    out.transport = transport;
    ns = 0;
    keep = 0;

    if (transport == -1) {
        ns = sb_now() - c->t_due;
        sb_check(&th->b->conf, &c->req, c->resp.status, c->resp.body,
                 c->resp.body_len, c->resp.reg, &out);
        keep = !c->resp.close;
    }

    pthread_mutex_lock(&th->lock);
    sb_stats_add(&th->live, &c->req, &out, ns);
    pthread_mutex_unlock(&th->lock);

    if (transport == -1
        && atomic_load_explicit(&th->b->measuring, memory_order_relaxed))
    {
        sb_hist_record(&th->target_hist[c->req.target], ns);

        if (th->rate > 0) {
            sb_hist_record(&th->svc_hist, ns - (c->t_sent - c->t_due));
        }
    }

    sb_scenario_done(th, &c->req, out.status);

    th->busy--;
    sb_resp_reset(&c->resp);

    if (keep) {
        c->state = SB_CONN_IDLE;
    } else {
        sb_close(c);
    }

    th->free[th->nfree++] = c;
}


/* Closing also drops the fd from epoll; the next use reopens. */
static void
sb_close(sb_conn_t *c)
{
    if (c->fd != -1) {
        close(c->fd);
        c->fd = -1;
    }

    c->state = SB_CONN_CLOSED;
    c->out = 0;
}


/* Fails requests that waited longer than --timeout. */
static void
sb_sweep(sb_thread_t *th, uint64_t now)
{
    int         i;
    sb_conn_t  *c;

    for (i = 0; i < th->nconns; i++) {
        c = &th->conns[i];

        if ((c->state == SB_CONN_BUSY || c->state == SB_CONN_CONNECTING)
            && now > c->deadline)
        {
            sb_finish(c, SB_TE_TIMEOUT);
        }
    }
}
