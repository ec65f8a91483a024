/*
 * scale-bench: HTTP/1.1 requests and an incremental response parser.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"


/*
 * Builds the constant part of every request once, so the hot path only
 * appends the body length and the body.  The baseline target gets the same
 * POST as /connect, sent to its own path.
 */
int
sb_http_heads(sb_bench_t *b, sb_target_t *t, int baseline)
{
    int          op, n;
    char         buf[1024];
    const char  *ctype;
    static const char  *paths[SB_OP_N] = { "/connect", "/delete", "/status" };

    ctype = b->conf.json_body ? "application/json" : "text/plain";

    for (op = 0; op < SB_OP_N; op++) {

        if (op == SB_OP_STATUS && !baseline) {
            n = snprintf(buf, sizeof(buf),
                         "GET %s%s HTTP/1.1\r\nHost: %s\r\n\r\n",
                         t->path, paths[op], t->host);

        } else {
            n = snprintf(buf, sizeof(buf),
                         "POST %s%s HTTP/1.1\r\nHost: %s\r\n"
                         "Content-Type: %s\r\nContent-Length: ",
                         t->path, baseline ? "" : paths[op], t->host, ctype);
        }

        if (n < 0 || (size_t) n >= sizeof(buf)) {
            fprintf(stderr, "scale-bench: request head too long\n");
            return -1;
        }

        t->head[op] = strdup(buf);
        if (t->head[op] == NULL) {
            return -1;
        }

        t->head_len[op] = (size_t) n;
    }

    return 0;
}


/* Appends one decimal number; cheaper than snprintf on the hot path. */
static char *
sb_http_num(char *p, size_t v)
{
    char   tmp[24];
    int    n;

    n = 0;

    do {
        tmp[n++] = (char) ('0' + v % 10);
        v /= 10;
    } while (v);

    while (n) {
        *p++ = tmp[--n];
    }

    return p;
}


/*
 * Writes the full request for req into buf and returns its length,
 * or 0 when it does not fit.
 */
size_t
sb_http_request(const sb_conf_t *conf, const sb_target_t *t,
    const sb_req_t *req, char *buf, size_t cap)
{
    char    *p, name[SB_NAME_MAX + 1], body[2 * SB_NAME_MAX + 128];
    size_t   nlen, blen;

    if (cap < t->head_len[req->op] + sizeof(body) + 32) {
        return 0;
    }

    p = buf;
    memcpy(p, t->head[req->op], t->head_len[req->op]);
    p += t->head_len[req->op];

    if (req->op == SB_OP_STATUS && req->target == 0) {
        return (size_t) (p - buf);
    }

    nlen = sb_name(conf, req->name, name);

    if (conf->json_body) {
        blen = (size_t) snprintf(body, sizeof(body),
                                 "{\"name\":\"%s\",\"id\":\"%s\"%s%s%s}",
                                 name, name,
                                 conf->addr ? ",\"addr\":\"" : "",
                                 conf->addr ? conf->addr : "",
                                 conf->addr ? "\"" : "");
        if (blen >= sizeof(body)) {
            return 0;
        }

    } else {
        memcpy(body, name, nlen);
        blen = nlen;
    }

    p = sb_http_num(p, blen);
    memcpy(p, "\r\n\r\n", 4);
    p += 4;
    memcpy(p, body, blen);
    p += blen;

    return (size_t) (p - buf);
}


/* Allocates the read buffer of one connection. */
int
sb_resp_init(sb_resp_t *r)
{
    memset(r, 0, sizeof(sb_resp_t));

    r->cap = 8192;
    r->buf = malloc(r->cap);
    if (r->buf == NULL) {
        return -1;
    }

    sb_resp_reset(r);

    return 0;
}


/* Releases the read buffer when the thread ends. */
void
sb_resp_free(sb_resp_t *r)
{
    free(r->buf);
    r->buf = NULL;
}


/* Forgets the previous answer; the buffer is kept for the next one. */
void
sb_resp_reset(sb_resp_t *r)
{
    r->len = 0;
    r->scan = 0;
    r->body_off = 0;
    r->clen = -1;
    r->status = 0;
    r->chunked = 0;
    r->close = 0;
    r->reg = 0;
    r->body = NULL;
    r->body_len = 0;
}


/* Makes sure there is room to read into; -1 when the answer is too big. */
int
sb_resp_room(sb_resp_t *r)
{
    char    *p;
    size_t   cap;

    if (r->cap - r->len >= 1024) {
        return 0;
    }

    cap = r->cap * 2;
    if (cap > SB_RESP_MAX) {
        return -1;
    }

    p = realloc(r->buf, cap);
    if (p == NULL) {
        return -1;
    }

    r->buf = p;
    r->cap = cap;

    return 0;
}


/* Case-insensitive "name:" match at the start of a header line. */
static const char *
sb_http_header(const char *line, const char *end, const char *name)
{
    size_t  n;

    n = strlen(name);

    if ((size_t) (end - line) <= n || line[n] != ':'
        || strncasecmp(line, name, n) != 0)
    {
        return NULL;
    }

    line += n + 1;

    while (line < end && (*line == ' ' || *line == '\t')) {
        line++;
    }

    return line;
}


/* Parses the status line and the headers we care about; -1 if malformed. */
static int
sb_http_headers(sb_resp_t *r, size_t end)
{
    char        *p, *last, *eol;
    const char  *v;
    int64_t      n;

    p = r->buf;
    last = r->buf + end;

    if (end < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ') {
        return -1;
    }

    if (p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9'
        || p[11] < '0' || p[11] > '9')
    {
        return -1;
    }

    r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    r->close = (p[7] == '0');

    p = memchr(p, '\n', (size_t) (last - p));

    while (p && ++p < last) {
        eol = memchr(p, '\r', (size_t) (last - p));
        if (eol == NULL) {
            eol = last;
        }

        if ((v = sb_http_header(p, eol, "Content-Length"))) {
            n = 0;
            if (v == eol) {
                return -1;
            }
            for ( /* void */ ; v < eol; v++) {
                if (*v < '0' || *v > '9' || n > SB_RESP_MAX) {
                    return -1;
                }
                n = n * 10 + (*v - '0');
            }
            r->clen = n;

        } else if ((v = sb_http_header(p, eol, "Transfer-Encoding"))) {
            r->chunked = (eol - v == 7 && strncasecmp(v, "chunked", 7) == 0);

        } else if ((v = sb_http_header(p, eol, "Connection"))) {
            if (eol - v == 5 && strncasecmp(v, "close", 5) == 0) {
                r->close = 1;
            } else if (eol - v == 10 && strncasecmp(v, "keep-alive", 10) == 0)
            {
                r->close = 0;
            }

        } else if ((v = sb_http_header(p, eol, "X-Scale-Registered"))) {
            if (eol - v == 3 && memcmp(v, "new", 3) == 0) {
                r->reg = 1;
            } else if (eol - v == 7 && memcmp(v, "refresh", 7) == 0) {
                r->reg = 2;
            } else {
                r->reg = 3;
            }
        }

        p = memchr(p, '\n', (size_t) (last - p));
    }

    return 0;
}


/*
 * Walks a chunked body: returns 1 complete, 0 incomplete, -1 malformed.
 * With join set (only once it is known complete) it also joins the chunks
 * in place, so a half-read body is never rewritten.
 */
static int
sb_http_chunked(sb_resp_t *r, int join)
{
    char    *p, *last, *out;
    size_t   size;
    int      digits, c;

    p = r->buf + r->body_off;
    last = r->buf + r->len;
    out = p;

    for ( ;; ) {
        size = 0;
        digits = 0;

        while (p < last && *p != '\r' && *p != ';') {
            c = *p++;
            if (c >= '0' && c <= '9') {
                c -= '0';
            } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
                c = (c | 0x20) - 'a' + 10;
            } else {
                return -1;
            }
            if (++digits > 8) {
                return -1;
            }
            size = size * 16 + (size_t) c;
        }

        while (p < last && *p != '\n') {
            p++;
        }

        if (p >= last) {
            return 0;
        }

        if (digits == 0) {
            return -1;
        }

        p++;

        if (size == 0) {
            if (last - p < 2) {
                return 0;
            }
            break;
        }

        if ((size_t) (last - p) < size + 2) {
            return 0;
        }

        if (join) {
            memmove(out, p, size);
        }

        out += size;
        p += size + 2;
    }

    r->body = r->buf + r->body_off;
    r->body_len = (size_t) (out - r->body);

    return 1;
}


/*
 * Looks at what was read so far.  Returns 1 when a whole answer is in
 * (r->body, r->body_len set), 0 when more bytes are needed, -1 when the
 * bytes are not HTTP.  eof says the server closed the connection.
 */
int
sb_resp_parse(sb_resp_t *r, int eof)
{
    char    *p;
    size_t   from;

    if (r->body_off == 0) {
        from = r->scan > 3 ? r->scan - 3 : 0;

        p = memmem(r->buf + from, r->len - from, "\r\n\r\n", 4);
        if (p == NULL) {
            r->scan = r->len;
            return eof && r->len ? -1 : 0;
        }

        r->body_off = (size_t) (p - r->buf) + 4;

        if (sb_http_headers(r, r->body_off - 2) != 0) {
            return -1;
        }

        if (r->status == 204 || r->status == 304) {
            r->clen = 0;
            r->chunked = 0;
        }
    }

    if (r->chunked) {
        switch (sb_http_chunked(r, 0)) {
        case 1:
            return sb_http_chunked(r, 1);
        case 0:
            return eof ? -1 : 0;
        default:
            return -1;
        }
    }

    if (r->clen >= 0) {
        if (r->len - r->body_off < (size_t) r->clen) {
            return eof ? -1 : 0;
        }

        r->body = r->buf + r->body_off;
        r->body_len = (size_t) r->clen;

        return 1;
    }

    /* no length: the body ends when the server closes */
    if (!eof) {
        return 0;
    }

    r->close = 1;
    r->body = r->buf + r->body_off;
    r->body_len = r->len - r->body_off;

    return 1;
}
