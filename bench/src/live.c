/*
 * scale-bench: the live page (--http 127.0.0.1:PORT).
 *
 * A thread of its own with a blocking loop: one short connection at a
 * time, GET / for the embedded page, GET /stats.json for the figures the
 * main thread publishes after every interval.  It never touches the load
 * threads' data.
 */

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <jansson.h>

#include "bench.h"
#include "live_html.h"


static int          sb_live_fd = -1;
static pthread_t    sb_live_tid;
static atomic_int   sb_live_quit;


static void *sb_live_run(void *data);
static void sb_live_serve(sb_bench_t *b, int fd);
static void sb_live_send(int fd, const char *status, const char *type,
    const char *body, size_t len);


/* Binds the listener (loopback only) and starts the page's thread. */
int
sb_live_start(sb_bench_t *b)
{
    struct sockaddr_in   sa;
    const char          *spec, *colon;
    char                 host[64];
    long                 port;
    char                *end;
    int                  fd, one;

    spec = b->conf.http_listen;
    colon = strrchr(spec, ':');

    if (colon == NULL) {
        strcpy(host, "127.0.0.1");
        colon = spec - 1;

    } else if ((size_t) (colon - spec) >= sizeof(host)) {
        goto bad;

    } else {
        memcpy(host, spec, (size_t) (colon - spec));
        host[colon - spec] = '\0';
        if (host[0] == '\0' || strcmp(host, "localhost") == 0) {
            strcpy(host, "127.0.0.1");
        }
    }

    port = strtol(colon + 1, &end, 10);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;

    if (*end != '\0' || port <= 0 || port > 65535
        || inet_pton(AF_INET, host, &sa.sin_addr) != 1
        || (ntohl(sa.sin_addr.s_addr) >> 24) != 127)
    {
        goto bad;
    }

    sa.sin_port = htons((uint16_t) port);

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        perror("scale-bench: --http: socket");
        return -1;
    }

    one = 1;
    (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));

    if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0
        || listen(fd, 16) != 0)
    {
        fprintf(stderr, "scale-bench: --http %s: %s\n", spec,
                strerror(errno));
        close(fd);
        return -1;
    }

    sb_live_fd = fd;
    b->running = 1;
    sb_live_publish(b);

    if (pthread_create(&sb_live_tid, NULL, sb_live_run, b) != 0) {
        perror("scale-bench: pthread_create");
        close(fd);
        sb_live_fd = -1;
        return -1;
    }

    fprintf(stderr, "live page: http://%s:%ld/\n", host, port);

    return 0;

bad:

    fprintf(stderr, "scale-bench: --http \"%s\": want 127.0.0.1:PORT "
            "(loopback only)\n", spec);
    return -1;
}


/* Ends the page's thread within one poll period and closes the port. */
void
sb_live_stop(sb_bench_t *b)
{
    (void) b;

    if (sb_live_fd == -1) {
        return;
    }

    atomic_store(&sb_live_quit, 1);
    pthread_join(sb_live_tid, NULL);
    close(sb_live_fd);
    sb_live_fd = -1;
}


/* Called by the main thread after each interval: swaps in fresh figures. */
void
sb_live_publish(sb_bench_t *b)
{
    char  *s, *old;

    s = sb_report_json_text(b, !b->running, JSON_COMPACT);
    if (s == NULL) {
        return;
    }

    pthread_mutex_lock(&b->snap_lock);
    old = b->snap;
    b->snap = s;
    pthread_mutex_unlock(&b->snap_lock);

    free(old);
}


/* Polls so that the thread notices the end of the run within 200 ms. */
static void *
sb_live_run(void *data)
{
    sb_bench_t      *b;
    struct pollfd    pfd;
    struct timeval   tv;
    int              fd;

    b = data;

    while (!atomic_load(&sb_live_quit)) {
        pfd.fd = sb_live_fd;
        pfd.events = POLLIN;

        if (poll(&pfd, 1, 200) <= 0) {
            continue;
        }

        fd = accept4(sb_live_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd == -1) {
            continue;
        }

        tv.tv_sec = 1;
        tv.tv_usec = 0;
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

        sb_live_serve(b, fd);
        close(fd);
    }

    return NULL;
}


/* Reads one request line and answers it; anything else is a 404. */
static void
sb_live_serve(sb_bench_t *b, int fd)
{
    char     req[4096], *s;
    size_t   len;
    ssize_t  n;

    len = 0;

    while (len < sizeof(req) - 1) {
        n = recv(fd, req + len, sizeof(req) - 1 - len, 0);
        if (n <= 0) {
            return;
        }

        len += (size_t) n;
        req[len] = '\0';

        if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n")) {
            break;
        }
    }

    if (strncmp(req, "GET / ", 6) == 0
        || strncmp(req, "GET /index.html ", 16) == 0)
    {
        sb_live_send(fd, "200 OK", "text/html; charset=utf-8", sb_live_html,
                     sizeof(sb_live_html) - 1);
        return;
    }

    if (strncmp(req, "GET /stats.json ", 16) == 0) {
        pthread_mutex_lock(&b->snap_lock);
        s = b->snap ? strdup(b->snap) : NULL;
        pthread_mutex_unlock(&b->snap_lock);

        if (s) {
            sb_live_send(fd, "200 OK", "application/json", s, strlen(s));
            free(s);
            return;
        }
    }

    sb_live_send(fd, "404 Not Found", "text/plain", "not found\n", 10);
}


/* One whole answer; the connection is closed after it. */
static void
sb_live_send(int fd, const char *status, const char *type, const char *body,
    size_t len)
{
    char     head[256];
    int      n;
    size_t   off;
    ssize_t  w;

    n = snprintf(head, sizeof(head),
                 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                 "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                 status, type, len);

    if (send(fd, head, (size_t) n, MSG_NOSIGNAL) != n) {
        return;
    }

    for (off = 0; off < len; off += (size_t) w) {
        w = send(fd, body + off, len - off, MSG_NOSIGNAL);
        if (w <= 0) {
            return;
        }
    }
}
