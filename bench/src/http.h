/*
 * scale-bench: HTTP/1.1 requests and an incremental response parser.
 *
 * Only what a keep-alive client of NGINX needs: one request in flight per
 * connection, Content-Length or chunked bodies, "Connection: close".
 */

#ifndef SB_HTTP_H
#define SB_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "bench.h"


#define SB_RESP_MAX  (4 * 1024 * 1024)


typedef struct {
    char     *buf;
    size_t    len;
    size_t    cap;
    size_t    scan;        /* the header-end search resumes here */
    size_t    body_off;    /* 0 until the headers are complete */
    int64_t   clen;        /* -1 when the answer has no Content-Length */
    int       status;
    int       chunked;
    int       close;
    int       reg;         /* X-Scale-Registered: 1 new, 2 refresh */
    char     *body;
    size_t    body_len;
} sb_resp_t;


int sb_http_heads(sb_bench_t *b, sb_target_t *t, int baseline);
size_t sb_http_request(const sb_conf_t *conf, const sb_target_t *t,
    const sb_req_t *req, char *buf, size_t cap);

int sb_resp_init(sb_resp_t *r);
void sb_resp_free(sb_resp_t *r);
void sb_resp_reset(sb_resp_t *r);
int sb_resp_room(sb_resp_t *r);
int sb_resp_parse(sb_resp_t *r, int eof);


#endif /* SB_HTTP_H */
