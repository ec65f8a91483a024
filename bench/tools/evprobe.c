/*
 * evprobe: the libevent side of the "epoll or libevent?" measurement.
 *
 * The smallest keep-alive POST loop on bufferevents: T threads, each with
 * its own event_base and C/T connections, one request in flight per
 * connection, no checks.  scale-bench's own epoll loop does more per
 * answer (parses and checks it) and is compared against this and wrk in
 * bench/README.md.  Built only by `make -C bench evprobe`.
 *
 *   usage: evprobe THREADS CONNECTIONS SECONDS PORT PATH
 */

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>


#define EP_MAX_THREADS  16


typedef struct {
    struct event_base  *base;
    long                answers;
} ep_thread_t;


static char                ep_req[512];
static size_t              ep_req_len;
static struct sockaddr_in  ep_sa;
static int                 ep_conns;
static int                 ep_secs;


/* Takes every whole answer off the input and sends the next request. */
static void
ep_read(struct bufferevent *bev, void *arg)
{
    ep_thread_t          *t;
    struct evbuffer      *in;
    struct evbuffer_ptr   end;
    char                  head[2048], *cl;
    size_t                len, hlen;
    long                  blen;

    t = arg;
    in = bufferevent_get_input(bev);

    for ( ;; ) {
        len = evbuffer_get_length(in);

        end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
        if (end.pos < 0) {
            return;
        }

        hlen = (size_t) end.pos + 4;
        if (hlen >= sizeof(head)) {
            exit(1);
        }

        evbuffer_copyout(in, head, hlen);
        head[hlen] = '\0';

        cl = strcasestr(head, "content-length:");
        blen = cl ? atol(cl + 15) : 0;

        if (len < hlen + (size_t) blen) {
            return;
        }

        evbuffer_drain(in, hlen + (size_t) blen);
        t->answers++;
        bufferevent_write(bev, ep_req, ep_req_len);
    }
}


/* Sends the first request once connected; a lost connection is dropped. */
static void
ep_event(struct bufferevent *bev, short what, void *arg)
{
    int  one;

    (void) arg;

    if (what & BEV_EVENT_CONNECTED) {
        one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one,
                   sizeof(one));
        bufferevent_write(bev, ep_req, ep_req_len);
        return;
    }

    if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
        fprintf(stderr, "evprobe: connection lost\n");
        bufferevent_free(bev);
    }
}


/* The run's end: the timer breaks the loop. */
static void
ep_stop(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;

    event_base_loopbreak(arg);
}


/* One thread: its own base, its share of the connections. */
static void *
ep_run(void *arg)
{
    ep_thread_t         *t;
    struct bufferevent  *bev;
    struct event        *timer;
    struct timeval       tv;
    int                  i;

    t = arg;
    t->base = event_base_new();

    for (i = 0; i < ep_conns; i++) {
        bev = bufferevent_socket_new(t->base, -1, BEV_OPT_CLOSE_ON_FREE);
        bufferevent_setcb(bev, ep_read, NULL, ep_event, t);
        bufferevent_enable(bev, EV_READ | EV_WRITE);
        bufferevent_socket_connect(bev, (struct sockaddr *) &ep_sa,
                                   sizeof(ep_sa));
    }

    tv.tv_sec = ep_secs;
    tv.tv_usec = 0;
    timer = evtimer_new(t->base, ep_stop, t->base);
    evtimer_add(timer, &tv);

    event_base_dispatch(t->base);

    return NULL;
}


/* Prints the requests answered and the rate. */
int
main(int argc, char **argv)
{
    pthread_t    tid[EP_MAX_THREADS];
    ep_thread_t  th[EP_MAX_THREADS];
    int          i, nth;
    long         total;

    if (argc != 6) {
        fprintf(stderr, "usage: evprobe THREADS CONNECTIONS SECONDS PORT "
                "PATH\n");
        return 1;
    }

    nth = atoi(argv[1]);
    if (nth < 1 || nth > EP_MAX_THREADS) {
        return 1;
    }

    ep_conns = atoi(argv[2]) / nth;
    ep_secs = atoi(argv[3]);

    ep_sa.sin_family = AF_INET;
    ep_sa.sin_port = htons((uint16_t) atoi(argv[4]));
    inet_pton(AF_INET, "127.0.0.1", &ep_sa.sin_addr);

    ep_req_len = (size_t) snprintf(ep_req, sizeof(ep_req),
                                   "POST %s HTTP/1.1\r\n"
                                   "Host: 127.0.0.1:%s\r\n"
                                   "Content-Type: text/plain\r\n"
                                   "Content-Length: 7\r\n\r\nbench-1",
                                   argv[5], argv[4]);

    memset(th, 0, sizeof(th));

    for (i = 0; i < nth; i++) {
        pthread_create(&tid[i], NULL, ep_run, &th[i]);
    }

    total = 0;

    for (i = 0; i < nth; i++) {
        pthread_join(tid[i], NULL);
        total += th[i].answers;
    }

    printf("libevent: %ld requests, %.0f rps\n", total,
           (double) total / ep_secs);

    return 0;
}
