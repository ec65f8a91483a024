
/*
 * Our own small stand-ins for the NGINX core functions that the module's
 * parsers call.  NGINX's core .c files are not installed on the build
 * machine (only its headers are), so the fuzz targets link these
 * instead.  They follow NGINX's documented behaviour for what the module
 * uses, not every corner of it; they are not NGINX's code.  Pools and the
 * slab give every allocation its own ASan-guarded block, so that an
 * overrun the real allocators would hide inside a page is reported.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <sanitizer/asan_interface.h>

#include "ngx_stubs.h"


#define NGX_STUBS_CHUNK_MAGIC  0x5ca1ab1e
#define NGX_STUBS_ZONE_MAX     (64 * 1024 * 1024)


/* the header in front of every slab chunk: its size, and whether it is
 * in use, so that a double free or a stray pointer aborts */
typedef struct {
    uint32_t                    magic;
    uint32_t                    used;
    size_t                      size;
} ngx_stubs_chunk_t;


static u_char *ngx_stubs_num(u_char *buf, u_char *last, uint64_t ui64,
    u_char zero, ngx_uint_t hex, ngx_uint_t width);
static void ngx_stubs_crc32_init(void);


ngx_uint_t              ngx_pagesize = 4096;
ngx_uint_t              ngx_pagesize_shift = 12;
ngx_uint_t              ngx_cacheline_size = 64;
ngx_pid_t               ngx_pid = 1;
ngx_uint_t              ngx_worker = 0;
volatile ngx_msec_t     ngx_current_msec = 1000000;
static ngx_time_t       ngx_stubs_time = { 1700000000, 0, 0 };
volatile ngx_time_t    *ngx_cached_time = &ngx_stubs_time;
volatile ngx_cycle_t   *ngx_cycle;

uint32_t                ngx_crc32_table256[256];
static uint32_t         ngx_stubs_crc32_short[16];
uint32_t               *ngx_crc32_table_short = ngx_stubs_crc32_short;

ngx_log_t               ngx_stubs_log;

static ngx_uint_t       ngx_stubs_print;
static u_char          *ngx_stubs_zone_mem;
static u_char          *ngx_stubs_zone_next;
static u_char          *ngx_stubs_zone_end;
static ngx_uint_t       ngx_stubs_locked;


void
ngx_stubs_init(void)
{
    ngx_stubs_crc32_init();

    ngx_stubs_log.log_level = NGX_LOG_DEBUG | NGX_LOG_DEBUG_ALL;
    ngx_stubs_print = (getenv("FUZZ_LOG") != NULL);
    srandom(1);

    ngx_stubs_zone_mem = malloc(NGX_STUBS_ZONE_MAX);
    if (ngx_stubs_zone_mem == NULL) {
        fprintf(stderr, "ngx_stubs_init: out of memory\n");
        abort();
    }

    ASAN_POISON_MEMORY_REGION(ngx_stubs_zone_mem, NGX_STUBS_ZONE_MAX);
}


/* the CRC-32 (IEEE 802.3, reflected) tables ngx_crc32.h reads */
static void
ngx_stubs_crc32_init(void)
{
    uint32_t    c;
    ngx_uint_t  i, k;

    for (i = 0; i < 256; i++) {
        c = (uint32_t) i;

        for (k = 0; k < 8; k++) {
            c = (c & 1) ? 0xedb88320 ^ (c >> 1) : c >> 1;
        }

        ngx_crc32_table256[i] = c;
    }

    for (i = 0; i < 16; i++) {
        c = (uint32_t) i;

        for (k = 0; k < 4; k++) {
            c = (c & 1) ? 0xedb88320 ^ (c >> 1) : c >> 1;
        }

        ngx_stubs_crc32_short[i] = c;
    }
}


/* every message is formatted (a wrong argument type shows here) */
void ngx_cdecl
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
    u_char   *p, text[NGX_MAX_ERROR_STR];
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(text, text + sizeof(text), fmt, args);
    va_end(args);

    if (err) {
        p = ngx_slprintf(p, text + sizeof(text), " (%d)", err);
    }

    if (ngx_stubs_print) {
        fprintf(stderr, "[log %d] %.*s\n", (int) level, (int) (p - text),
                text);
    }
}


/* pools: a list of separately malloc'ed blocks, freed together */

ngx_pool_t *
ngx_create_pool(size_t size, ngx_log_t *log)
{
    ngx_pool_t  *pool;

    pool = calloc(1, sizeof(ngx_pool_t));
    if (pool == NULL) {
        return NULL;
    }

    pool->max = size;
    pool->current = pool;
    pool->log = log;

    return pool;
}


void
ngx_reset_pool(ngx_pool_t *pool)
{
    ngx_pool_large_t  *l, *next;

    for (l = pool->large; l; l = next) {
        next = l->next;
        free(l->alloc);
        free(l);
    }

    pool->large = NULL;
}


void
ngx_destroy_pool(ngx_pool_t *pool)
{
    ngx_pool_cleanup_t  *c, *next;

    for (c = pool->cleanup; c; c = next) {
        next = c->next;

        if (c->handler) {
            c->handler(c->data);
        }

        free(c->data);
        free(c);
    }

    ngx_reset_pool(pool);
    free(pool);
}


void *
ngx_pnalloc(ngx_pool_t *pool, size_t size)
{
    void              *p;
    ngx_pool_large_t  *l;

    /* malloc(0) may give NULL; a pool always gives a pointer */
    p = malloc(size ? size : 1);
    l = malloc(sizeof(ngx_pool_large_t));

    if (p == NULL || l == NULL) {
        free(p);
        free(l);
        return NULL;
    }

    l->alloc = p;
    l->next = pool->large;
    pool->large = l;

    return p;
}


void *
ngx_palloc(ngx_pool_t *pool, size_t size)
{
    return ngx_pnalloc(pool, size);
}


void *
ngx_pcalloc(ngx_pool_t *pool, size_t size)
{
    void  *p;

    p = ngx_pnalloc(pool, size);
    if (p) {
        ngx_memzero(p, size);
    }

    return p;
}


void *
ngx_pmemalign(ngx_pool_t *pool, size_t size, size_t alignment)
{
    return ngx_pnalloc(pool, size);
}


ngx_int_t
ngx_pfree(ngx_pool_t *pool, void *p)
{
    return NGX_DECLINED;
}


ngx_pool_cleanup_t *
ngx_pool_cleanup_add(ngx_pool_t *p, size_t size)
{
    ngx_pool_cleanup_t  *c;

    c = calloc(1, sizeof(ngx_pool_cleanup_t));
    if (c == NULL) {
        return NULL;
    }

    if (size) {
        c->data = calloc(1, size);
        if (c->data == NULL) {
            free(c);
            return NULL;
        }
    }

    c->next = p->cleanup;
    p->cleanup = c;

    return c;
}


void *
ngx_alloc(size_t size, ngx_log_t *log)
{
    return malloc(size ? size : 1);
}


void *
ngx_calloc(size_t size, ngx_log_t *log)
{
    return calloc(1, size ? size : 1);
}


/*
 * The zone: one mapping, the slab pool header first, chunks handed out
 * upwards and never reused (freed ones stay poisoned, so a use after
 * free is reported).  Offsets from the pool fit in 32 bits as in a real
 * zone of up to 4 GB.
 */
ngx_http_scale_zone_ctx_t *
ngx_stubs_zone(size_t size)
{
    u_char                     *p;
    ngx_slab_pool_t            *shpool;
    ngx_http_scale_shctx_t     *sh;
    static ngx_http_scale_zone_ctx_t  ctx;

    if (size > NGX_STUBS_ZONE_MAX || size < 64 * 1024) {
        return NULL;
    }

    p = ngx_stubs_zone_mem;
    ASAN_UNPOISON_MEMORY_REGION(p, size);
    ngx_memzero(p, sizeof(ngx_slab_pool_t));

    shpool = (ngx_slab_pool_t *) p;
    shpool->min_shift = 3;
    shpool->min_size = 8;
    shpool->addr = p;
    shpool->start = p + ngx_align(sizeof(ngx_slab_pool_t), 16);
    shpool->end = p + size;
    shpool->pfree = size / ngx_pagesize;

    ngx_stubs_zone_next = shpool->start;
    ngx_stubs_zone_end = shpool->end;
    ngx_stubs_locked = 0;

    ASAN_POISON_MEMORY_REGION(shpool->start, shpool->end - shpool->start);

    sh = ngx_slab_calloc_locked(shpool, sizeof(ngx_http_scale_shctx_t));
    if (sh == NULL) {
        return NULL;
    }

    shpool->data = sh;
    sh->layout = 1;
    sh->start_time = ngx_time();
    sh->params.subset_size = 5;
    sh->params.max_age = 10000;
    sh->params.min_age = 2000;
    sh->params.health_fails = 2;
    sh->params.health_passes = 1;

    if (ngx_http_scale_registry_init(shpool, sh,
                                     ngx_http_scale_registry_capacity(size))
        != NGX_OK)
    {
        return NULL;
    }

    ctx.sh = sh;
    ctx.shpool = shpool;
    ctx.size = size;

    return &ctx;
}


void *
ngx_slab_alloc_locked(ngx_slab_pool_t *pool, size_t size)
{
    u_char             *p;
    size_t              need, pad;
    ngx_stubs_chunk_t  *c;

    /* NGINX's slab aligns a chunk to its size class (a page for large
     * ones): 64 bytes here, what the module's structures ask for */
    pad = (size_t) (-(uintptr_t) (ngx_stubs_zone_next
                                  + sizeof(ngx_stubs_chunk_t))) & 63;

    need = pad + sizeof(ngx_stubs_chunk_t) + ngx_align(size ? size : 1, 16)
           + 16;

    if (size > (size_t) (ngx_stubs_zone_end - ngx_stubs_zone_next)
        || need > (size_t) (ngx_stubs_zone_end - ngx_stubs_zone_next))
    {
        pool->pfree = 0;
        return NULL;
    }

    c = (ngx_stubs_chunk_t *) (ngx_stubs_zone_next + pad);
    ngx_stubs_zone_next += need;
    pool->pfree = (ngx_stubs_zone_end - ngx_stubs_zone_next) / ngx_pagesize;

    ASAN_UNPOISON_MEMORY_REGION(c, sizeof(ngx_stubs_chunk_t));
    c->magic = NGX_STUBS_CHUNK_MAGIC;
    c->used = 1;
    c->size = size;
    ASAN_POISON_MEMORY_REGION(c, sizeof(ngx_stubs_chunk_t));

    p = (u_char *) (c + 1);
    ASAN_UNPOISON_MEMORY_REGION(p, size);

    return p;
}


void *
ngx_slab_calloc_locked(ngx_slab_pool_t *pool, size_t size)
{
    void  *p;

    p = ngx_slab_alloc_locked(pool, size);
    if (p) {
        ngx_memzero(p, size);
    }

    return p;
}


void
ngx_slab_free_locked(ngx_slab_pool_t *pool, void *p)
{
    ngx_stubs_chunk_t  *c;

    c = (ngx_stubs_chunk_t *) p - 1;

    if ((u_char *) c < pool->start || (u_char *) p >= ngx_stubs_zone_next) {
        fprintf(stderr, "ngx_slab_free: %p is outside the zone\n", p);
        abort();
    }

    ASAN_UNPOISON_MEMORY_REGION(c, sizeof(ngx_stubs_chunk_t));

    if (c->magic != NGX_STUBS_CHUNK_MAGIC || !c->used) {
        fprintf(stderr, "ngx_slab_free: %p is not an allocated chunk\n", p);
        abort();
    }

    c->used = 0;
    ASAN_POISON_MEMORY_REGION(c, sizeof(ngx_stubs_chunk_t) + c->size);
}


void *
ngx_slab_alloc(ngx_slab_pool_t *pool, size_t size)
{
    return ngx_slab_alloc_locked(pool, size);
}


void *
ngx_slab_calloc(ngx_slab_pool_t *pool, size_t size)
{
    return ngx_slab_calloc_locked(pool, size);
}


void
ngx_slab_free(ngx_slab_pool_t *pool, void *p)
{
    ngx_slab_free_locked(pool, p);
}


/* one process: the lock only has to be taken and released in pairs */

void
ngx_shmtx_lock(ngx_shmtx_t *mtx)
{
    if (ngx_stubs_locked) {
        fprintf(stderr, "ngx_shmtx_lock: already locked (deadlock)\n");
        abort();
    }

    ngx_stubs_locked = 1;
}


void
ngx_shmtx_unlock(ngx_shmtx_t *mtx)
{
    if (!ngx_stubs_locked) {
        fprintf(stderr, "ngx_shmtx_unlock: not locked\n");
        abort();
    }

    ngx_stubs_locked = 0;
}


void
ngx_stubs_assert_unlocked(void)
{
    if (ngx_stubs_locked) {
        fprintf(stderr, "the zone lock is still held\n");
        abort();
    }
}


void
ngx_time_update(void)
{
}


/* at most n - 1 bytes up to a NUL, then a NUL; returns the NUL's place */
u_char *
ngx_cpystrn(u_char *dst, u_char *src, size_t n)
{
    if (n == 0) {
        return dst;
    }

    while (--n) {
        *dst = *src;

        if (*dst == '\0') {
            return dst;
        }

        dst++;
        src++;
    }

    *dst = '\0';

    return dst;
}


/* decimal digits only, NGX_ERROR on anything else or overflow */
ngx_int_t
ngx_atoi(u_char *line, size_t n)
{
    ngx_int_t  value, cutoff, cutlim;

    if (n == 0) {
        return NGX_ERROR;
    }

    cutoff = NGX_MAX_INT_T_VALUE / 10;
    cutlim = NGX_MAX_INT_T_VALUE % 10;

    for (value = 0; n--; line++) {
        if (*line < '0' || *line > '9') {
            return NGX_ERROR;
        }

        if (value >= cutoff && (value > cutoff || *line - '0' > cutlim)) {
            return NGX_ERROR;
        }

        value = value * 10 + (*line - '0');
    }

    return value;
}


ngx_int_t
ngx_hextoi(u_char *line, size_t n)
{
    u_char     c, ch;
    ngx_int_t  value, cutoff;

    if (n == 0) {
        return NGX_ERROR;
    }

    cutoff = NGX_MAX_INT_T_VALUE / 16;

    for (value = 0; n--; line++) {
        if (value > cutoff) {
            return NGX_ERROR;
        }

        ch = *line;

        if (ch >= '0' && ch <= '9') {
            value = value * 16 + (ch - '0');
            continue;
        }

        c = (u_char) (ch | 0x20);

        if (c >= 'a' && c <= 'f') {
            value = value * 16 + (c - 'a' + 10);
            continue;
        }

        return NGX_ERROR;
    }

    return value;
}


/* dotted quad, each part 0..255; INADDR_NONE otherwise */
in_addr_t
ngx_inet_addr(u_char *text, size_t len)
{
    u_char      *p, c;
    in_addr_t    addr;
    ngx_uint_t   octet, n;

    addr = 0;
    octet = 0;
    n = 0;

    for (p = text; p < text + len; p++) {
        c = *p;

        if (c >= '0' && c <= '9') {
            octet = octet * 10 + (c - '0');

            if (octet > 255) {
                return INADDR_NONE;
            }

            continue;
        }

        if (c == '.') {
            addr = (addr << 8) + octet;
            octet = 0;
            n++;
            continue;
        }

        return INADDR_NONE;
    }

    if (n == 3) {
        addr = (addr << 8) + octet;
        return htonl(addr);
    }

    return INADDR_NONE;
}


/* an IPv4 or IPv6 address without port (inet_pton for IPv6) */
static ngx_int_t
ngx_stubs_parse_addr(ngx_pool_t *pool, ngx_addr_t *addr, u_char *text,
    size_t len)
{
    char                  buf[NGX_SOCKADDR_STRLEN + 1];
    in_addr_t             inaddr;
    struct in6_addr       inaddr6;
    struct sockaddr_in   *sin;
    struct sockaddr_in6  *sin6;

    inaddr = ngx_inet_addr(text, len);

    if (inaddr != INADDR_NONE) {
        sin = ngx_pcalloc(pool, sizeof(struct sockaddr_in));
        if (sin == NULL) {
            return NGX_ERROR;
        }

        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = inaddr;
        addr->sockaddr = (struct sockaddr *) sin;
        addr->socklen = sizeof(struct sockaddr_in);
        return NGX_OK;
    }

    if (len == 0 || len >= sizeof(buf)) {
        return NGX_DECLINED;
    }

    ngx_memcpy(buf, text, len);
    buf[len] = '\0';

    if (inet_pton(AF_INET6, buf, &inaddr6) != 1) {
        return NGX_DECLINED;
    }

    sin6 = ngx_pcalloc(pool, sizeof(struct sockaddr_in6));
    if (sin6 == NULL) {
        return NGX_ERROR;
    }

    sin6->sin6_family = AF_INET6;
    sin6->sin6_addr = inaddr6;
    addr->sockaddr = (struct sockaddr *) sin6;
    addr->socklen = sizeof(struct sockaddr_in6);

    return NGX_OK;
}


/* "addr", "addr:port" or "[ipv6]:port", as NGINX reads them */
ngx_int_t
ngx_parse_addr_port(ngx_pool_t *pool, ngx_addr_t *addr, u_char *text,
    size_t len)
{
    u_char     *p, *last;
    size_t      plen;
    ngx_int_t   rc, port;

    rc = ngx_stubs_parse_addr(pool, addr, text, len);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    last = text + len;

    if (len && text[0] == '[') {
        p = ngx_strlchr(text, last, ']');

        if (p == NULL || p == last - 1 || *++p != ':') {
            return NGX_DECLINED;
        }

        text++;
        len -= 2;

    } else {
        p = ngx_strlchr(text, last, ':');

        if (p == NULL) {
            return NGX_DECLINED;
        }
    }

    p++;
    plen = last - p;

    port = ngx_atoi(p, plen);
    if (port < 1 || port > 65535) {
        return NGX_DECLINED;
    }

    len -= plen + 1;

    rc = ngx_stubs_parse_addr(pool, addr, text, len);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_inet_set_port(addr->sockaddr, (in_port_t) port);

    return NGX_OK;
}


in_port_t
ngx_inet_get_port(struct sockaddr *sa)
{
    switch (sa->sa_family) {

    case AF_INET6:
        return ntohs(((struct sockaddr_in6 *) sa)->sin6_port);

    case AF_INET:
        return ntohs(((struct sockaddr_in *) sa)->sin_port);

    default:
        return 0;
    }
}


void
ngx_inet_set_port(struct sockaddr *sa, in_port_t port)
{
    switch (sa->sa_family) {

    case AF_INET6:
        ((struct sockaddr_in6 *) sa)->sin6_port = htons(port);
        break;

    case AF_INET:
        ((struct sockaddr_in *) sa)->sin_port = htons(port);
        break;
    }
}


u_char * ngx_cdecl
ngx_sprintf(u_char *buf, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, (void *) -1, fmt, args);
    va_end(args);

    return p;
}


u_char * ngx_cdecl
ngx_snprintf(u_char *buf, size_t max, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + max, fmt, args);
    va_end(args);

    return p;
}


u_char * ngx_cdecl
ngx_slprintf(u_char *buf, u_char *last, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, last, fmt, args);
    va_end(args);

    return p;
}


/*
 * NGINX's format language, the conversions the module uses: %[0][width]
 * [u][x|X] with V s *s O P T M z i d l D L A p c Z N %, and %.Nf.  Output
 * stops at last and is not terminated unless %Z fits, as in NGINX.
 */
u_char *
ngx_vslprintf(u_char *buf, u_char *last, const char *fmt, va_list args)
{
    u_char      *p, zero;
    int          d;
    double       f;
    size_t       len, slen;
    int64_t      i64;
    uint64_t     ui64, frac, scale;
    ngx_msec_t   ms;
    ngx_uint_t   width, sign, hex, max_width, frac_width, n;
    ngx_str_t   *v;

    while (*fmt && buf < last) {

        if (*fmt != '%') {
            *buf++ = *fmt++;
            continue;
        }

        i64 = 0;
        ui64 = 0;

        zero = (u_char) ((*++fmt == '0') ? '0' : ' ');
        width = 0;
        sign = 1;
        hex = 0;
        max_width = 0;
        frac_width = 0;
        slen = (size_t) -1;

        while (*fmt >= '0' && *fmt <= '9') {
            width = width * 10 + (*fmt++ - '0');
        }

        for ( ;; ) {
            switch (*fmt) {

            case 'u':
                sign = 0;
                fmt++;
                continue;

            case 'm':
                max_width = 1;
                fmt++;
                continue;

            case 'X':
                hex = 2;
                sign = 0;
                fmt++;
                continue;

            case 'x':
                hex = 1;
                sign = 0;
                fmt++;
                continue;

            case '.':
                fmt++;

                while (*fmt >= '0' && *fmt <= '9') {
                    frac_width = frac_width * 10 + (*fmt++ - '0');
                }

                break;

            case '*':
                slen = va_arg(args, size_t);
                fmt++;
                continue;

            default:
                break;
            }

            break;
        }

        switch (*fmt) {

        case 'V':
            v = va_arg(args, ngx_str_t *);
            len = ngx_min((size_t) (last - buf), v->len);
            buf = ngx_cpymem(buf, v->data, len);
            fmt++;
            continue;

        case 's':
            p = va_arg(args, u_char *);

            if (slen == (size_t) -1) {
                while (*p && buf < last) {
                    *buf++ = *p++;
                }

            } else {
                len = ngx_min((size_t) (last - buf), slen);
                buf = ngx_cpymem(buf, p, len);
            }

            fmt++;
            continue;

        case 'O':
            i64 = (int64_t) va_arg(args, off_t);
            sign = 1;
            break;

        case 'P':
            i64 = (int64_t) va_arg(args, ngx_pid_t);
            sign = 1;
            break;

        case 'T':
            i64 = (int64_t) va_arg(args, time_t);
            sign = 1;
            break;

        case 'M':
            ms = (ngx_msec_t) va_arg(args, ngx_msec_t);

            if ((ngx_msec_int_t) ms == -1) {
                sign = 1;
                i64 = -1;

            } else {
                sign = 0;
                ui64 = (uint64_t) ms;
            }

            break;

        case 'z':
            if (sign) {
                i64 = (int64_t) va_arg(args, ssize_t);

            } else {
                ui64 = (uint64_t) va_arg(args, size_t);
            }

            break;

        case 'i':
            if (sign) {
                i64 = (int64_t) va_arg(args, ngx_int_t);

            } else {
                ui64 = (uint64_t) va_arg(args, ngx_uint_t);
            }

            if (max_width) {
                width = NGX_INT_T_LEN;
            }

            break;

        case 'd':
            if (sign) {
                i64 = (int64_t) va_arg(args, int);

            } else {
                ui64 = (uint64_t) va_arg(args, u_int);
            }

            break;

        case 'l':
            if (sign) {
                i64 = (int64_t) va_arg(args, long);

            } else {
                ui64 = (uint64_t) va_arg(args, u_long);
            }

            break;

        case 'D':
            if (sign) {
                i64 = (int64_t) va_arg(args, int32_t);

            } else {
                ui64 = (uint64_t) va_arg(args, uint32_t);
            }

            break;

        case 'L':
            if (sign) {
                i64 = va_arg(args, int64_t);

            } else {
                ui64 = va_arg(args, uint64_t);
            }

            break;

        case 'A':
            if (sign) {
                i64 = (int64_t) va_arg(args, ngx_atomic_int_t);

            } else {
                ui64 = (uint64_t) va_arg(args, ngx_atomic_uint_t);
            }

            if (max_width) {
                width = NGX_ATOMIC_T_LEN;
            }

            break;

        case 'f':
            f = va_arg(args, double);

            if (f < 0) {
                *buf++ = '-';
                f = -f;
            }

            ui64 = (uint64_t) f;
            frac = 0;

            if (frac_width) {
                scale = 1;

                for (n = frac_width; n; n--) {
                    scale *= 10;
                }

                frac = (uint64_t) ((f - (double) ui64) * scale + 0.5);

                if (frac == scale) {
                    ui64++;
                    frac = 0;
                }
            }

            buf = ngx_stubs_num(buf, last, ui64, zero, 0, width);

            if (frac_width) {
                if (buf < last) {
                    *buf++ = '.';
                }

                buf = ngx_stubs_num(buf, last, frac, '0', 0, frac_width);
            }

            fmt++;
            continue;

        case 'p':
            ui64 = (uintptr_t) va_arg(args, void *);
            hex = 2;
            sign = 0;
            zero = '0';
            width = 2 * sizeof(void *);
            break;

        case 'c':
            d = va_arg(args, int);
            *buf++ = (u_char) (d & 0xff);
            fmt++;
            continue;

        case 'Z':
            *buf++ = '\0';
            fmt++;
            continue;

        case 'N':
            *buf++ = LF;
            fmt++;
            continue;

        case '%':
            *buf++ = '%';
            fmt++;
            continue;

        default:
            *buf++ = *fmt++;
            continue;
        }

        if (sign) {
            if (i64 < 0) {
                *buf++ = '-';
                ui64 = (uint64_t) -i64;

            } else {
                ui64 = (uint64_t) i64;
            }
        }

        buf = ngx_stubs_num(buf, last, ui64, zero, hex, width);

        fmt++;
    }

    return buf;
}


/* one number, right-aligned in width, cut at last */
static u_char *
ngx_stubs_num(u_char *buf, u_char *last, uint64_t ui64, u_char zero,
    ngx_uint_t hex, ngx_uint_t width)
{
    u_char       *p, temp[NGX_INT64_LEN + 1];
    size_t        len;
    const char   *digits;

    digits = (hex == 2) ? "0123456789ABCDEF" : "0123456789abcdef";

    p = temp + NGX_INT64_LEN;

    do {
        *--p = (u_char) digits[hex ? ui64 & 0xf : ui64 % 10];
        ui64 = hex ? ui64 >> 4 : ui64 / 10;
    } while (ui64);

    len = (temp + NGX_INT64_LEN) - p;

    while (len++ < width && buf < last) {
        *buf++ = zero;
    }

    len = (temp + NGX_INT64_LEN) - p;

    if (buf + len > last) {
        len = last - buf;
    }

    return ngx_cpymem(buf, p, len);
}
