
/*
 * Rate limits.  A registered client needs the server rarely: a refresh
 * sooner than refresh_min is refused.  New registrations across all
 * workers pass a leaky bucket kept in the zone (the limit_req algorithm:
 * "excess" drains at rate, a request adds one, burst bounds it).
 * Both are called with the zone lock held.
 */


#include "ngx_http_scale_module.h"


/* NGX_OK, or NGX_BUSY with the milliseconds until a refresh is allowed */
ngx_int_t
ngx_http_scale_limit_refresh(ngx_http_scale_shctx_t *sh,
    ngx_http_scale_entry_t *e, ngx_msec_t now, ngx_msec_t *retry)
{
    ngx_msec_int_t  elapsed;

    if (sh->params.refresh_min == 0) {
        return NGX_OK;
    }

    elapsed = ngx_http_scale_msec32_diff(now, e->refreshed);

    if (elapsed >= 0 && (ngx_msec_t) elapsed < sh->params.refresh_min) {
        *retry = sh->params.refresh_min - elapsed;
        return NGX_BUSY;
    }

    return NGX_OK;
}


/*
 * Admits one new registration: NGX_OK with the requests left in the
 * burst, or NGX_BUSY with the milliseconds until one more is admitted.
 */
ngx_int_t
ngx_http_scale_limit_new(ngx_http_scale_shctx_t *sh, ngx_msec_t now,
    ngx_uint_t *remaining, ngx_msec_t *retry)
{
    ngx_int_t       excess;
    ngx_msec_int_t  elapsed;

    if (sh->params.rate == 0) {
        return NGX_OK;
    }

    elapsed = (ngx_msec_int_t) (now - sh->rate_last);
    if (elapsed < 0) {
        elapsed = 0;
    }

    excess = (ngx_int_t) sh->rate_excess
             - (ngx_int_t) (sh->params.rate * elapsed / 1000) + 1000;

    if (excess < 0) {
        excess = 0;
    }

    if ((ngx_uint_t) excess > sh->params.burst + 1000) {
        *retry = (excess - sh->params.burst - 1000) * 1000
                 / sh->params.rate;
        *retry = ngx_max(*retry, 1);
        *remaining = 0;
        return NGX_BUSY;
    }

    sh->rate_excess = excess;
    sh->rate_last = now;
    *remaining = (sh->params.burst + 1000 - excess) / 1000;

    return NGX_OK;
}


/* RateLimit-Limit / -Remaining / -Reset (seconds), as in the IETF draft */
ngx_int_t
ngx_http_scale_limit_headers(ngx_http_request_t *r, ngx_uint_t limit,
    ngx_uint_t remaining, ngx_msec_t reset)
{
    ngx_uint_t        i;
    ngx_table_elt_t  *h;

    static ngx_str_t  names[] = {
        ngx_string("RateLimit-Limit"),
        ngx_string("RateLimit-Remaining"),
        ngx_string("RateLimit-Reset")
    };

    for (i = 0; i < 3; i++) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->value.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (h->value.data == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        h->key = names[i];
        h->value.len = ngx_sprintf(h->value.data, "%ui",
                                   i == 0 ? limit
                                   : i == 1 ? remaining
                                   : (reset + 999) / 1000)
                       - h->value.data;
    }

    return NGX_OK;
}
