
/*
 * The embedded default persistence: the registry saved to
 * <scale_data_dir>/<zone>.snapshot, a versioned text file with one line
 * per entry and a checksummed end line:
 *
 *     ngx_scale snapshot 1 zone=<zone> saved=<unix ms>
 *     <id> <name> <addr or -> <created unix s> <seen unix ms>
 *     ...
 *     end <entries> <crc32 of the entry lines>
 *
 * Worker 0 saves when the registry changed, every snapshot_interval, a
 * few thousand hash buckets per timer tick so that no request waits
 * long; the master saves once more when nginx stops.  A save goes to a
 * temporary file that is fsync'ed and renamed over the old one.  The
 * master loads the file into a fresh zone; what cannot be read is
 * reported with its line and byte offset, skipped, and the file is kept
 * aside as <file>.corrupt-<time> once a good one has replaced it.
 */


#include "ngx_http_scale_identity.h"
#include "ngx_http_scale_journal.h"


#define NGX_HTTP_SCALE_STORE_VERSION   1
#define NGX_HTTP_SCALE_STORE_BUCKETS   65536     /* per tick, at most */
#define NGX_HTTP_SCALE_STORE_ENTRIES   8192      /* per tick, about */
#define NGX_HTTP_SCALE_STORE_BATCH     1024      /* entries per lock */
#define NGX_HTTP_SCALE_STORE_LINE      (3 * 256 + 2 * NGX_INT64_LEN + 8)
#define NGX_HTTP_SCALE_STORE_REPORTS   10
#define NGX_HTTP_SCALE_STORE_STALE     60000


/* one save in progress: a temporary file filled bucket by bucket */
typedef struct {
    ngx_fd_t                    fd;
    ngx_uint_t                  open;
    u_char                     *tmp;           /* null-terminated paths */
    u_char                     *path;
    ngx_uint_t                  bucket;
    ngx_uint_t                  entries;
    off_t                       bytes;
    uint32_t                    crc;
    uint64_t                    changes;       /* j->changes at start */
    ngx_msec_t                  started;
    u_char                     *buf;
    size_t                      buf_size;
    ngx_log_t                  *log;
} ngx_http_scale_save_t;


/* a file being loaded, for the error messages */
typedef struct {
    ngx_str_t                  *path;
    ngx_log_t                  *log;
    ngx_uint_t                  line;
    off_t                       offset;
    ngx_uint_t                  problems;
} ngx_http_scale_load_t;


static ngx_int_t ngx_http_scale_store_load(ngx_cycle_t *cycle,
    ngx_http_scale_main_conf_t *smcf);
static ngx_int_t ngx_http_scale_store_parse(ngx_http_scale_load_t *ld,
    ngx_http_scale_zone_ctx_t *ctx, u_char *start, u_char *end,
    ngx_uint_t *loaded);
static ngx_int_t ngx_http_scale_store_entry(ngx_http_scale_load_t *ld,
    ngx_pool_t *pool, u_char *p, u_char *last,
    ngx_http_scale_identity_t *ident, uint32_t *created);
static void ngx_http_scale_store_problem(ngx_http_scale_load_t *ld,
    const char *fmt, ...);
static void ngx_http_scale_store_remove_temps(ngx_cycle_t *cycle,
    ngx_http_scale_persist_conf_t *pcf);
static ngx_int_t ngx_http_scale_save_open(ngx_http_scale_save_t *sv,
    ngx_http_scale_main_conf_t *smcf, ngx_log_t *log);
static ngx_int_t ngx_http_scale_save_step(ngx_http_scale_save_t *sv,
    ngx_http_scale_zone_ctx_t *ctx, ngx_uint_t n, ngx_uint_t entries);
static ngx_int_t ngx_http_scale_save_finish(ngx_http_scale_save_t *sv,
    ngx_http_scale_zone_ctx_t *ctx, ngx_str_t *keep);
static void ngx_http_scale_save_abort(ngx_http_scale_save_t *sv);
static void ngx_http_scale_save_free(ngx_http_scale_save_t *sv);
static ngx_int_t ngx_http_scale_save_write(ngx_http_scale_save_t *sv,
    u_char *p, size_t len);
static ngx_int_t ngx_http_scale_save_all(ngx_http_scale_main_conf_t *smcf,
    ngx_log_t *log, ngx_str_t *keep);


static ngx_http_scale_save_t       ngx_http_scale_save;
static ngx_msec_t                  ngx_http_scale_save_last;
static ngx_http_scale_zone_ctx_t  *ngx_http_scale_save_zone;


/* scale_data_dir <path>: relative paths are under the prefix (-p) */
char *
ngx_http_scale_data_dir(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_scale_main_conf_t  *smcf = conf;

    ngx_str_t                      *value;
    ngx_http_scale_persist_conf_t  *pcf;

    pcf = ngx_http_scale_persist_conf(cf, smcf);
    if (pcf == NULL) {
        return NGX_CONF_ERROR;
    }

    if (pcf->data_dir.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    pcf->data_dir = value[1];

    if (pcf->data_dir.len == 0) {
        return "needs a path";
    }

    while (pcf->data_dir.len > 1
           && pcf->data_dir.data[pcf->data_dir.len - 1] == '/')
    {
        pcf->data_dir.len--;
    }

    if (ngx_conf_full_name(cf->cycle, &pcf->data_dir, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* scale_snapshot_interval <time>: how often a changed registry is saved */
char *
ngx_http_scale_snapshot_interval(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_scale_main_conf_t  *smcf = conf;

    ngx_msec_t                      ms;
    ngx_str_t                      *value;
    ngx_http_scale_persist_conf_t  *pcf;

    pcf = ngx_http_scale_persist_conf(cf, smcf);
    if (pcf == NULL) {
        return NGX_CONF_ERROR;
    }

    if (pcf->snapshot_interval != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ms = ngx_parse_time(&value[1], 0);
    if (ms == (ngx_msec_t) NGX_ERROR || ms < 100) {
        return "invalid value: 100ms at least";
    }

    pcf->snapshot_interval = ms;

    return NGX_CONF_OK;
}


/*
 * In the master: makes the directory and the file name, and fills a
 * fresh zone from the file.  A kept zone (reload) is left alone.
 */
ngx_int_t
ngx_http_scale_store_init_module(ngx_cycle_t *cycle,
    ngx_http_scale_main_conf_t *smcf, ngx_uint_t fresh)
{
    u_char                         *p;
    ngx_err_t                       err;
    ngx_str_t                      *zone;
    ngx_core_conf_t                *ccf;
    ngx_http_scale_zone_ctx_t      *ctx;
    ngx_http_scale_persist_conf_t  *pcf;

    pcf = smcf->persist;
    zone = &smcf->shm_zone->shm.name;

    if (pcf->file.data == NULL) {
        pcf->file.len = pcf->data_dir.len + 1 + zone->len
                        + sizeof(".snapshot") - 1;

        p = ngx_pnalloc(cycle->pool, pcf->file.len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        pcf->file.data = p;
        ngx_sprintf(p, "%V/%V.snapshot%Z", &pcf->data_dir, zone);
    }

    /* data_dir has room for the terminating zero: ngx_conf_full_name */
    p = ngx_pnalloc(cycle->pool, pcf->data_dir.len + 2);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(p, "%V/%Z", &pcf->data_dir);

    err = ngx_create_full_path(p, 0700);
    if (err == 0 && ngx_create_dir(pcf->data_dir.data, 0700) == NGX_FILE_ERROR
        && ngx_errno != NGX_EEXIST)
    {
        err = ngx_errno;
    }

    if (err) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, err,
                      "scale data dir \"%V\" cannot be created",
                      &pcf->data_dir);
        return NGX_ERROR;
    }

    /* worker 0 writes here: like NGINX's temp paths, the workers' user
     * owns it when the master runs as root */
    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    if (geteuid() == 0 && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT
        && chown((char *) pcf->data_dir.data, ccf->user, -1) == -1)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "chown(\"%V\", %d) failed", &pcf->data_dir,
                      ccf->user);
        return NGX_ERROR;
    }

    if (!fresh) {
        /* a kept zone is the registry: nothing to load, saves may begin */
        ctx = smcf->shm_zone->data;
        ctx->sh->journal->loaded = 1;
        return NGX_OK;
    }

    ngx_http_scale_store_remove_temps(cycle, pcf);

    return ngx_http_scale_store_load(cycle, smcf);
}


/*
 * Reads the whole snapshot into a fresh zone.  Never fails the start
 * for a bad file: every problem is logged, what could be read is
 * loaded, and a good file is written before the bad one is moved aside.
 */
static ngx_int_t
ngx_http_scale_store_load(ngx_cycle_t *cycle,
    ngx_http_scale_main_conf_t *smcf)
{
    u_char                         *buf, *p;
    size_t                          size;
    ssize_t                         n;
    ngx_fd_t                        fd;
    ngx_str_t                       keep;
    ngx_uint_t                      loaded, level;
    ngx_msec_t                      start;
    ngx_time_t                     *tp;
    ngx_file_info_t                 fi;
    ngx_http_scale_load_t           ld;
    ngx_http_scale_journal_t       *j;
    ngx_http_scale_zone_ctx_t      *ctx;
    ngx_http_scale_persist_conf_t  *pcf;

    pcf = smcf->persist;
    ctx = smcf->shm_zone->data;
    j = ctx->sh->journal;

    ngx_time_update();
    tp = ngx_timeofday();
    start = (ngx_msec_t) (tp->sec * 1000 + tp->msec);

    fd = ngx_open_file(pcf->file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        if (ngx_errno == NGX_ENOENT) {
            ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                          "scale data dir: no snapshot \"%V\" yet, "
                          "starting empty", &pcf->file);
            j->loaded = 1;
            return NGX_OK;
        }

        ngx_log_error(NGX_LOG_ERR, cycle->log, ngx_errno,
                      "scale data dir: cannot open \"%V\", starting empty; "
                      "nothing is saved until it can be read",
                      &pcf->file);
        return NGX_OK;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, cycle->log, ngx_errno,
                      "scale data dir: " ngx_fd_info_n " \"%V\" failed; "
                      "nothing is saved until it can be read", &pcf->file);
        ngx_close_file(fd);
        return NGX_OK;
    }

    size = (size_t) ngx_file_size(&fi);

    buf = ngx_alloc(size + 1, cycle->log);
    if (buf == NULL) {
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    p = buf;

    while (p < buf + size) {
        n = ngx_read_fd(fd, p, buf + size - p);

        if (n == -1) {
            ngx_log_error(NGX_LOG_ERR, cycle->log, ngx_errno,
                          "scale data dir: reading \"%V\" failed at byte %uz",
                          &pcf->file, (size_t) (p - buf));
            break;
        }

        if (n == 0) {
            break;
        }

        p += n;
    }

    ngx_close_file(fd);

    ld.path = &pcf->file;
    ld.log = cycle->log;
    ld.line = 0;
    ld.offset = 0;
    ld.problems = 0;
    loaded = 0;

    if (ngx_http_scale_store_parse(&ld, ctx, buf, p, &loaded) != NGX_OK) {
        ngx_free(buf);
        return NGX_ERROR;
    }

    ngx_free(buf);

    ngx_time_update();
    tp = ngx_timeofday();

    j->store.loaded = loaded;
    j->store.load_problems = ld.problems;
    j->store.load_ms = (ngx_msec_t) (tp->sec * 1000 + tp->msec) - start;
    j->store.saved_changes = j->changes;

    level = ld.problems ? NGX_LOG_WARN : NGX_LOG_NOTICE;

    ngx_log_error(level, cycle->log, 0,
                  "scale data dir: loaded %ui entries from \"%V\" "
                  "(%uz bytes) in %M ms, %ui problems",
                  loaded, &pcf->file, size, j->store.load_ms, ld.problems);

    if (ld.problems == 0) {
        j->loaded = 1;
        return NGX_OK;
    }

    /* a good file first, then the bad one moves aside, never lost */

    keep.len = pcf->file.len + sizeof(".corrupt-") - 1 + NGX_TIME_T_LEN;
    keep.data = ngx_pnalloc(cycle->pool, keep.len + 1);
    if (keep.data == NULL) {
        return NGX_ERROR;
    }

    keep.len = ngx_sprintf(keep.data, "%V.corrupt-%T%Z", &pcf->file,
                           tp->sec)
               - keep.data - 1;

    if (ngx_http_scale_save_all(smcf, cycle->log, &keep) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                      "scale data dir: could not write a good snapshot; "
                      "\"%V\" stays as it is and nothing is saved",
                      &pcf->file);
        return NGX_OK;
    }

    j->loaded = 1;

    return NGX_OK;
}


/*
 * Header, entry lines, end line.  A bad line is reported and skipped;
 * a missing end line means the file was cut short.
 */
static ngx_int_t
ngx_http_scale_store_parse(ngx_http_scale_load_t *ld,
    ngx_http_scale_zone_ctx_t *ctx, u_char *start, u_char *end,
    ngx_uint_t *loaded)
{
    u_char                     *p, *nl, *q;
    uint32_t                    crc, created;
    ngx_int_t                   rc, version, count, want;
    ngx_uint_t                  lines, batch, full;
    ngx_pool_t                 *pool;
    ngx_http_scale_identity_t   ident;

    p = start;
    lines = 0;
    batch = 0;
    full = 0;
    ngx_crc32_init(crc);

    pool = ngx_create_pool(16384, ld->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    /* the header */

    nl = ngx_strlchr(p, end, '\n');
    ld->line = 1;

    if (nl == NULL || end - p < 20
        || ngx_strncmp(p, "ngx_scale snapshot ", 19) != 0)
    {
        ngx_http_scale_store_problem(ld, "not a ngx_scale snapshot "
                                     "(bad header)");
        goto done;
    }

    q = p + 19;

    while (q < nl && *q >= '0' && *q <= '9') {
        q++;
    }

    version = ngx_atoi(p + 19, q - p - 19);

    if (version != NGX_HTTP_SCALE_STORE_VERSION) {
        ngx_http_scale_store_problem(ld, "snapshot version \"%*s\" is not "
                                     "supported (this build reads %d)",
                                     (size_t) (q - p - 19), p + 19,
                                     NGX_HTTP_SCALE_STORE_VERSION);
        goto done;
    }

    p = nl + 1;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    while (p < end) {
        ld->line++;
        ld->offset = p - start;

        nl = ngx_strlchr(p, end, '\n');

        if (nl == NULL) {
            ngx_http_scale_store_problem(ld, "the file is truncated: the "
                                         "last line has no end");
            break;
        }

        if (nl - p > 4 && ngx_strncmp(p, "end ", 4) == 0) {
            q = ngx_strlchr(p + 4, nl, ' ');
            count = q ? ngx_atoi(p + 4, q - p - 4) : NGX_ERROR;
            want = q ? ngx_hextoi(q + 1, nl - q - 1) : NGX_ERROR;

            ngx_crc32_final(crc);

            if (count == NGX_ERROR || want == NGX_ERROR) {
                ngx_http_scale_store_problem(ld, "bad end line");

            } else if ((ngx_uint_t) count != lines) {
                ngx_http_scale_store_problem(ld, "the end line counts %i "
                                             "entries, the file has %ui",
                                             count, lines);

            } else if ((uint32_t) want != crc) {
                ngx_http_scale_store_problem(ld, "checksum mismatch "
                                             "(%08xD in the file, %08xD "
                                             "computed)", (uint32_t) want,
                                             crc);
            }

            if (nl + 1 != end) {
                ld->line++;
                ld->offset = nl + 1 - start;
                ngx_http_scale_store_problem(ld, "unexpected data after "
                                             "the end line");
            }

            goto locked_done;
        }

        ngx_crc32_update(&crc, p, nl + 1 - p);
        lines++;

        if (full) {
            p = nl + 1;
            continue;
        }

        rc = ngx_http_scale_store_entry(ld, pool, p, nl, &ident, &created);

        if (rc == NGX_ERROR) {
            ngx_shmtx_unlock(&ctx->shpool->mutex);
            ngx_destroy_pool(pool);
            return NGX_ERROR;
        }

        if (rc == NGX_OK) {
            rc = ngx_http_scale_journal_apply_locked(ctx->shpool, ctx->sh,
                                                     &ident, created, 0);
            if (rc == NGX_OK) {
                (*loaded)++;

            } else if (rc == NGX_BUSY) {
                full = 1;
                ngx_log_error(NGX_LOG_ERR, ld->log, 0,
                              "scale data dir: the zone is full after %ui "
                              "entries of \"%V\"; the rest is not loaded "
                              "(a larger \"scale_zone\" size holds more)",
                              *loaded, ld->path);
                ld->problems++;
            }
        }

        if (++batch == NGX_HTTP_SCALE_STORE_BATCH) {
            batch = 0;
            ngx_shmtx_unlock(&ctx->shpool->mutex);
            ngx_reset_pool(pool);
            ngx_shmtx_lock(&ctx->shpool->mutex);
        }

        p = nl + 1;
    }

    ld->line++;
    ld->offset = end - start;
    ngx_http_scale_store_problem(ld, "the file is truncated: no end line "
                                 "after %ui entries", lines);

locked_done:

    ngx_shmtx_unlock(&ctx->shpool->mutex);

done:

    ngx_destroy_pool(pool);

    if (ld->problems > NGX_HTTP_SCALE_STORE_REPORTS) {
        ngx_log_error(NGX_LOG_ERR, ld->log, 0,
                      "scale data dir: \"%V\": %ui problems in all, the "
                      "first %d are logged", ld->path, ld->problems,
                      NGX_HTTP_SCALE_STORE_REPORTS);
    }

    return NGX_OK;
}


/* "<id> <name> <addr or -> <created> <seen>" into an identity */
static ngx_int_t
ngx_http_scale_store_entry(ngx_http_scale_load_t *ld, ngx_pool_t *pool,
    u_char *p, u_char *last, ngx_http_scale_identity_t *ident,
    uint32_t *created)
{
    u_char     *f[5], *q;
    size_t      len[5];
    ngx_int_t   rc, n;
    ngx_str_t   id, name, addr;
    ngx_uint_t  i;

    for (i = 0; i < 5; i++) {
        q = (i < 4) ? ngx_strlchr(p, last, ' ') : last;

        if (q == NULL || q == p) {
            ngx_http_scale_store_problem(ld, "%ui fields, 5 expected",
                                         q == NULL ? i + 1 : i);
            return NGX_DECLINED;
        }

        f[i] = p;
        len[i] = q - p;
        p = q + 1;
    }

    if (ngx_strlchr(f[4], last, ' ')) {
        ngx_http_scale_store_problem(ld, "more than 5 fields");
        return NGX_DECLINED;
    }

    n = ngx_atoi(f[3], len[3]);
    if (n == NGX_ERROR || n > 0xffffffff || ngx_atoi(f[4], len[4]) < 0) {
        ngx_http_scale_store_problem(ld, "bad time fields");
        return NGX_DECLINED;
    }

    *created = (uint32_t) n;

    id.data = f[0];
    id.len = len[0];
    name.data = f[1];
    name.len = len[1];
    addr.data = f[2];
    addr.len = (len[2] == 1 && f[2][0] == '-') ? 0 : len[2];

    rc = ngx_http_scale_journal_ident(pool, &id, &name, &addr, ident);

    if (rc == NGX_DECLINED) {
        ngx_http_scale_store_problem(ld, "\"%*s\" is not a valid identity",
                                     ngx_min(len[0], 64), f[0]);
    }

    return rc;
}


/* one problem of a file being loaded, with its line and byte offset;
 * only the first few are logged, all are counted */
static void
ngx_http_scale_store_problem(ngx_http_scale_load_t *ld, const char *fmt, ...)
{
    u_char   *p, text[NGX_MAX_ERROR_STR];
    va_list   args;

    if (++ld->problems > NGX_HTTP_SCALE_STORE_REPORTS) {
        return;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(text, text + sizeof(text), fmt, args);
    va_end(args);

    ngx_log_error(NGX_LOG_ERR, ld->log, 0,
                  "scale data dir: \"%V\" line %ui (byte %O): %*s",
                  ld->path, ld->line, ld->offset, p - text, text);
}


/* temporary files of saves that a killed process left behind */
static void
ngx_http_scale_store_remove_temps(ngx_cycle_t *cycle,
    ngx_http_scale_persist_conf_t *pcf)
{
    u_char     *name, path[NGX_MAX_PATH];
    size_t      len, plen;
    ngx_dir_t   dir;

    if (ngx_open_dir(&pcf->data_dir, &dir) != NGX_OK) {
        return;
    }

    name = pcf->file.data + pcf->data_dir.len + 1;
    plen = pcf->file.len - pcf->data_dir.len - 1;

    while (ngx_read_dir(&dir) == NGX_OK) {
        len = ngx_de_namelen(&dir);

        if (len <= plen + 5
            || ngx_strncmp(ngx_de_name(&dir), name, plen) != 0
            || ngx_strncmp(ngx_de_name(&dir) + plen, ".tmp.", 5) != 0
            || pcf->data_dir.len + 1 + len >= NGX_MAX_PATH)
        {
            continue;
        }

        ngx_sprintf(path, "%V/%s%Z", &pcf->data_dir, ngx_de_name(&dir));

        if (ngx_delete_file(path) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_WARN, cycle->log, ngx_errno,
                          "scale data dir: " ngx_delete_file_n " \"%s\" "
                          "failed", path);
        }
    }

    ngx_close_dir(&dir);
}


/*
 * Worker 0's timer: starts a save when the registry changed and the
 * interval passed, then writes it a chunk of buckets per tick.
 */
void
ngx_http_scale_store_tick(ngx_http_scale_main_conf_t *smcf, ngx_log_t *log)
{
    ngx_int_t                       rc;
    ngx_msec_t                      now;
    ngx_pid_t                       saving;
    ngx_http_scale_save_t          *sv;
    ngx_http_scale_journal_t       *j;
    ngx_http_scale_zone_ctx_t      *ctx;
    ngx_http_scale_persist_conf_t  *pcf;

    pcf = smcf->persist;
    ctx = smcf->shm_zone->data;
    j = ctx->sh->journal;
    sv = &ngx_http_scale_save;
    now = ngx_current_msec;

    ngx_http_scale_save_zone = ctx;

    if (!j->loaded) {
        return;
    }

    if (!sv->open) {

        if (ngx_http_scale_save_last == 0) {
            ngx_http_scale_save_last = now;
            return;
        }

        if (now - ngx_http_scale_save_last < pcf->snapshot_interval) {
            return;
        }

        ngx_shmtx_lock(&ctx->shpool->mutex);

        saving = j->store.saving;

        if (j->changes == j->store.saved_changes
            || (saving && saving != ngx_pid
                && now - j->store.save_started < NGX_HTTP_SCALE_STORE_STALE
                && kill(saving, 0) == 0))
        {
            ngx_shmtx_unlock(&ctx->shpool->mutex);
            ngx_http_scale_save_last = now;
            return;
        }

        j->store.saving = ngx_pid;
        j->store.save_started = now;

        ngx_shmtx_unlock(&ctx->shpool->mutex);

        ngx_http_scale_save_last = now;

        if (ngx_http_scale_save_open(sv, smcf, log) != NGX_OK) {
            ngx_shmtx_lock(&ctx->shpool->mutex);
            j->store.saving = 0;
            j->store.save_errors++;
            ngx_shmtx_unlock(&ctx->shpool->mutex);
            return;
        }
    }

    rc = ngx_http_scale_save_step(sv, ctx, NGX_HTTP_SCALE_STORE_BUCKETS,
                                  NGX_HTTP_SCALE_STORE_ENTRIES);

    if (rc == NGX_AGAIN) {
        return;
    }

    if (rc == NGX_OK) {
        rc = ngx_http_scale_save_finish(sv, ctx, NULL);
    }

    if (rc != NGX_OK) {
        ngx_http_scale_save_abort(sv);
    }

    ngx_shmtx_lock(&ctx->shpool->mutex);
    j->store.saving = 0;
    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


/* a worker exits: its unfinished save goes, and so does its claim */
void
ngx_http_scale_store_exit_process(void)
{
    ngx_http_scale_zone_ctx_t  *ctx;

    ctx = ngx_http_scale_save_zone;

    if (ngx_http_scale_save.open && ctx) {
        ngx_shmtx_lock(&ctx->shpool->mutex);

        if (ctx->sh->journal->store.saving == ngx_pid) {
            ctx->sh->journal->store.saving = 0;
        }

        ngx_shmtx_unlock(&ctx->shpool->mutex);
    }

    ngx_http_scale_save_abort(&ngx_http_scale_save);
    ngx_http_scale_save_free(&ngx_http_scale_save);
}


/* nginx stops: the last save, in full, if anything changed */
void
ngx_http_scale_store_exit_master(ngx_cycle_t *cycle,
    ngx_http_scale_main_conf_t *smcf)
{
    ngx_http_scale_journal_t       *j;
    ngx_http_scale_zone_ctx_t      *ctx;
    ngx_http_scale_persist_conf_t  *pcf;

    ctx = smcf->shm_zone->data;
    j = ctx->sh->journal;
    pcf = smcf->persist;

    ngx_http_scale_store_exit_process();

    if (!j->loaded || j->changes == j->store.saved_changes) {
        return;
    }

    ngx_time_update();

    if (ngx_http_scale_save_all(smcf, cycle->log, NULL) == NGX_OK) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "scale data dir: saved %ui entries to \"%V\" on exit",
                      j->store.saved_entries, &pcf->file);
    }
}


/* a whole save at once: at exit, and after loading a bad file */
static ngx_int_t
ngx_http_scale_save_all(ngx_http_scale_main_conf_t *smcf, ngx_log_t *log,
    ngx_str_t *keep)
{
    ngx_int_t                   rc;
    ngx_http_scale_save_t       sv;
    ngx_http_scale_zone_ctx_t  *ctx;

    ctx = smcf->shm_zone->data;
    ngx_memzero(&sv, sizeof(ngx_http_scale_save_t));

    if (ngx_http_scale_save_open(&sv, smcf, log) != NGX_OK) {
        return NGX_ERROR;
    }

    do {
        rc = ngx_http_scale_save_step(&sv, ctx, ctx->sh->nbuckets,
                                      (ngx_uint_t) -1);
    } while (rc == NGX_AGAIN);

    if (rc == NGX_OK) {
        rc = ngx_http_scale_save_finish(&sv, ctx, keep);
    }

    if (rc != NGX_OK) {
        ngx_http_scale_save_abort(&sv);
    }

    ngx_http_scale_save_free(&sv);

    return rc;
}


/* a temporary file of this process, and the versioned header */
static ngx_int_t
ngx_http_scale_save_open(ngx_http_scale_save_t *sv,
    ngx_http_scale_main_conf_t *smcf, ngx_log_t *log)
{
    u_char                         *p, header[128];
    size_t                          len;
    ngx_time_t                     *tp;
    ngx_http_scale_journal_t       *j;
    ngx_http_scale_zone_ctx_t      *ctx;
    ngx_http_scale_persist_conf_t  *pcf;

    pcf = smcf->persist;
    ctx = smcf->shm_zone->data;
    j = ctx->sh->journal;

    sv->log = log;
    sv->path = pcf->file.data;
    sv->bucket = 0;
    sv->entries = 0;
    sv->bytes = 0;
    sv->started = ngx_current_msec;
    ngx_crc32_init(sv->crc);

    if (sv->tmp == NULL) {
        len = pcf->file.len + sizeof(".tmp.") + NGX_INT64_LEN;

        sv->tmp = ngx_alloc(len, log);
        if (sv->tmp == NULL) {
            return NGX_ERROR;
        }
    }

    ngx_sprintf(sv->tmp, "%V.tmp.%P%Z", &pcf->file, ngx_pid);

    if (sv->buf == NULL) {
        sv->buf_size = 256 * 1024;

        sv->buf = ngx_alloc(sv->buf_size, log);
        if (sv->buf == NULL) {
            return NGX_ERROR;
        }
    }

    ngx_shmtx_lock(&ctx->shpool->mutex);
    sv->changes = j->changes;
    ngx_shmtx_unlock(&ctx->shpool->mutex);

    sv->fd = ngx_open_file(sv->tmp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                           0600);

    if (sv->fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "scale data dir: " ngx_open_file_n " \"%s\" failed",
                      sv->tmp);
        return NGX_ERROR;
    }

    sv->open = 1;

    tp = ngx_timeofday();

    p = ngx_snprintf(header, sizeof(header),
                     "ngx_scale snapshot %d zone=%V saved=%uL\n",
                     NGX_HTTP_SCALE_STORE_VERSION, &smcf->shm_zone->shm.name,
                     (uint64_t) tp->sec * 1000 + tp->msec);

    return ngx_http_scale_save_write(sv, header, p - header);
}


/*
 * Formats the entries of up to n buckets (and about as many entries as
 * asked) under the lock, a batch at a time, and writes them after it.
 * Walking buckets rather than the dense array: an entry never changes
 * bucket, so one that lives through the whole save is written exactly
 * once even though the lock is let go between batches.  NGX_AGAIN: more
 * buckets are left.
 */
static ngx_int_t
ngx_http_scale_save_step(ngx_http_scale_save_t *sv,
    ngx_http_scale_zone_ctx_t *ctx, ngx_uint_t n, ngx_uint_t entries)
{
    u_char                  *p, *last, *nb;
    size_t                   size;
    uint32_t                 off;
    ngx_uint_t               end, batch;
    ngx_slab_pool_t         *shpool;
    ngx_http_scale_shctx_t  *sh;
    ngx_http_scale_entry_t  *e;

    sh = ctx->sh;
    shpool = ctx->shpool;

    while (n && entries) {
        p = sv->buf;
        batch = 0;

        ngx_shmtx_lock(&shpool->mutex);

        end = ngx_min(sh->nbuckets, sv->bucket + n);

        while (sv->bucket < end && batch < NGX_HTTP_SCALE_STORE_BATCH) {

            for (off = sh->buckets[sv->bucket]; off; off = e->next) {
                e = ngx_http_scale_ptr(shpool, off);

                if ((size_t) (sv->buf + sv->buf_size - p)
                    < NGX_HTTP_SCALE_STORE_LINE)
                {
                    /* a long chain: grow rather than write under lock */
                    size = sv->buf_size * 2;

                    nb = ngx_alloc(size, sv->log);
                    if (nb == NULL) {
                        ngx_shmtx_unlock(&shpool->mutex);
                        return NGX_ERROR;
                    }

                    p = ngx_cpymem(nb, sv->buf, p - sv->buf);
                    ngx_free(sv->buf);
                    sv->buf = nb;
                    sv->buf_size = size;
                }

                last = p;
                p = ngx_cpymem(p, e->data, e->id_len);
                *p++ = ' ';
                p = ngx_cpymem(p, ngx_http_scale_entry_name(e),
                               ngx_http_scale_entry_name_len(e));
                *p++ = ' ';

                if (e->addr_len) {
                    p = ngx_cpymem(p, ngx_http_scale_entry_addr(e),
                                   e->addr_len);

                } else {
                    *p++ = '-';
                }

                p = ngx_sprintf(p, " %uD %uL\n", e->created,
                                ngx_http_scale_journal_seen(e));

                ngx_crc32_update(&sv->crc, last, p - last);
                sv->entries++;
                batch++;
            }

            sv->bucket++;
            n--;
        }

        ngx_shmtx_unlock(&shpool->mutex);

        entries = entries > batch ? entries - batch : 0;

        if (ngx_http_scale_save_write(sv, sv->buf, p - sv->buf) != NGX_OK) {
            return NGX_ERROR;
        }

        if (sv->bucket >= sh->nbuckets) {
            return NGX_OK;
        }
    }

    return NGX_AGAIN;
}


/*
 * End line, fsync, rename over the old file, fsync the directory.  With
 * keep, the old (bad) file is first linked to that name.
 */
static ngx_int_t
ngx_http_scale_save_finish(ngx_http_scale_save_t *sv,
    ngx_http_scale_zone_ctx_t *ctx, ngx_str_t *keep)
{
    u_char                    *p, line[64];
    ngx_fd_t                   dfd;
    ngx_msec_t                 ms;
    ngx_http_scale_journal_t  *j;

    j = ctx->sh->journal;

    ngx_crc32_final(sv->crc);

    p = ngx_sprintf(line, "end %ui %08xD\n", sv->entries, sv->crc);

    if (ngx_http_scale_save_write(sv, line, p - line) != NGX_OK) {
        return NGX_ERROR;
    }

    if (fsync(sv->fd) == -1) {
        ngx_log_error(NGX_LOG_ERR, sv->log, ngx_errno,
                      "scale data dir: fsync() \"%s\" failed", sv->tmp);
        return NGX_ERROR;
    }

    sv->open = 0;

    if (ngx_close_file(sv->fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, sv->log, ngx_errno,
                      "scale data dir: " ngx_close_file_n " \"%s\" failed",
                      sv->tmp);
        (void) ngx_delete_file(sv->tmp);
        return NGX_ERROR;
    }

    if (keep) {
        if (link((char *) sv->path, (char *) keep->data) == -1
            && ngx_rename_file(sv->path, keep->data) == NGX_FILE_ERROR)
        {
            ngx_log_error(NGX_LOG_ERR, sv->log, ngx_errno,
                          "scale data dir: cannot keep \"%s\" as \"%V\"; "
                          "it is not replaced", sv->path, keep);
            return NGX_ERROR;
        }

        ngx_log_error(NGX_LOG_WARN, sv->log, 0,
                      "scale data dir: the unreadable snapshot is kept as "
                      "\"%V\"", keep);
    }

    if (ngx_rename_file(sv->tmp, sv->path) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, sv->log, ngx_errno,
                      "scale data dir: " ngx_rename_file_n " \"%s\" to "
                      "\"%s\" failed", sv->tmp, sv->path);
        (void) ngx_delete_file(sv->tmp);
        return NGX_ERROR;
    }

    /* the rename is durable once the directory is */
    for (p = sv->path + ngx_strlen(sv->path); p > sv->path; p--) {
        if (*p == '/') {
            break;
        }
    }

    if (p > sv->path) {
        *p = '\0';
        dfd = ngx_open_file(sv->path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
        *p = '/';

        if (dfd != NGX_INVALID_FILE) {
            (void) fsync(dfd);
            (void) ngx_close_file(dfd);
        }
    }

    ngx_time_update();
    ms = ngx_current_msec - sv->started;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    if (sv->changes - j->store.saved_changes < (uint64_t) 1 << 62) {
        j->store.saved_changes = sv->changes;
    }

    j->store.saved_at = ngx_time();
    j->store.saved_entries = sv->entries;
    j->store.saved_bytes = (size_t) sv->bytes;
    j->store.save_ms = ms;
    j->store.saves++;

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, sv->log, 0,
                   "scale data dir: saved %ui entries, %O bytes, %M ms",
                   sv->entries, sv->bytes, ms);

    return NGX_OK;
}


/* a save that cannot finish leaves no temporary file behind */
static void
ngx_http_scale_save_abort(ngx_http_scale_save_t *sv)
{
    if (sv->open) {
        (void) ngx_close_file(sv->fd);
        (void) ngx_delete_file(sv->tmp);
        sv->open = 0;
    }
}


/* the buffers a save keeps between ticks */
static void
ngx_http_scale_save_free(ngx_http_scale_save_t *sv)
{
    if (sv->tmp) {
        ngx_free(sv->tmp);
        sv->tmp = NULL;
    }

    if (sv->buf) {
        ngx_free(sv->buf);
        sv->buf = NULL;
    }
}


/* all of it, or an error: a short write leaves no good file */
static ngx_int_t
ngx_http_scale_save_write(ngx_http_scale_save_t *sv, u_char *p, size_t len)
{
    ssize_t  n;

    while (len) {
        n = ngx_write_fd(sv->fd, p, len);

        if (n == -1) {
            if (ngx_errno == NGX_EINTR) {
                continue;
            }

            ngx_log_error(NGX_LOG_ERR, sv->log, ngx_errno,
                          "scale data dir: writing \"%s\" failed", sv->tmp);
            return NGX_ERROR;
        }

        p += n;
        len -= n;
        sv->bytes += n;
    }

    return NGX_OK;
}
