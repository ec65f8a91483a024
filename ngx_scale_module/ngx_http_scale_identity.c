
/*
 * Identity parsing and validation.  A body is either a plain name
 * ("my-client") or a JSON object {"id", "name", "addr"}; the seed
 * client's "container_id" and "domain_name" (+ "port") are aliases.
 * Every string is checked here, so the registry only ever holds names
 * of [A-Za-z0-9._:@-] with an optional leading "[ipv6]" part.
 */


#include <jansson.h>

#include "ngx_http_scale_identity.h"


#define NGX_HTTP_SCALE_REASON_MAX  192


static ngx_int_t ngx_http_scale_identity_json(ngx_pool_t *pool,
    u_char *body, size_t len, ngx_http_scale_identity_t *ident,
    u_char *reason);
static ngx_int_t ngx_http_scale_identity_string(ngx_pool_t *pool,
    json_t *obj, const char *key, ngx_str_t *out, u_char *reason);
static ngx_int_t ngx_http_scale_identity_port(json_t *obj, ngx_uint_t *port,
    u_char *reason);
static ngx_uint_t ngx_http_scale_identity_bracket(u_char *p, size_t len);
static void ngx_http_scale_identity_address(ngx_pool_t *pool,
    ngx_http_scale_identity_t *ident);


static u_char  ngx_http_scale_name_chars[256];


/*
 * Fills ident from the body.  Returns NGX_OK, or NGX_DECLINED with a
 * human-readable reason (allocated from pool) for a 400 answer, or
 * NGX_ERROR when memory runs out.  The strings point into pool memory.
 */
ngx_int_t
ngx_http_scale_identity_parse(ngx_pool_t *pool, u_char *body, size_t len,
    ngx_http_scale_identity_t *ident, u_char **reason)
{
    u_char  *p, *last;

    ngx_memzero(ident, sizeof(ngx_http_scale_identity_t));

    *reason = ngx_pnalloc(pool, NGX_HTTP_SCALE_REASON_MAX);
    if (*reason == NULL) {
        return NGX_ERROR;
    }

    p = body;
    last = body + len;

    while (p < last && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
    {
        p++;
    }

    while (last > p
           && (last[-1] == ' ' || last[-1] == '\t' || last[-1] == '\r'
               || last[-1] == '\n'))
    {
        last--;
    }

    if (p == last) {
        ngx_sprintf(*reason, "empty body: a client name is required%Z");
        return NGX_DECLINED;
    }

    if (*p == '{' || *p == '"'
        || (*p == '['
            && ngx_http_scale_identity_valid_name(p, last - p) != NGX_OK))
    {
        ident->json = 1;
        return ngx_http_scale_identity_json(pool, p, last - p, ident,
                                            *reason);
    }

    if (ngx_http_scale_identity_valid_name(p, last - p) != NGX_OK) {
        ngx_sprintf(*reason, "invalid name: 1 to 255 bytes of "
                    "[A-Za-z0-9._:@-] expected%Z");
        return NGX_DECLINED;
    }

    ident->id.data = p;
    ident->id.len = last - p;
    ident->name = ident->id;

    ngx_http_scale_identity_address(pool, ident);

    return NGX_OK;
}


/*
 * Decides where health probes go: the "addr" given, else the name when it
 * is an IP:port.  Host names are not probed (no resolver on the request
 * path); such clients live by their refreshes.  Also derives the /24 or
 * /48 network key used by diverse subsets.
 */
static void
ngx_http_scale_identity_address(ngx_pool_t *pool,
    ngx_http_scale_identity_t *ident)
{
    u_char               *p;
    uint32_t              net;
    ngx_str_t            *text;
    ngx_addr_t            addr;
    struct sockaddr_in   *sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6  *sin6;
#endif

    text = ident->addr.len ? &ident->addr : &ident->name;

    if (ngx_http_scale_identity_valid_addr(text->data, text->len) != NGX_OK
        || ngx_parse_addr_port(pool, &addr, text->data, text->len) != NGX_OK)
    {
        return;
    }

    switch (addr.sockaddr->sa_family) {

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) addr.sockaddr;
        p = sin6->sin6_addr.s6_addr;
        net = ngx_crc32_short(p, 6) | 1;
        break;
#endif

    case AF_INET:
        sin = (struct sockaddr_in *) addr.sockaddr;
        p = (u_char *) &sin->sin_addr.s_addr;
        net = ngx_crc32_short(p, 3) & ~1u;
        break;

    default:
        return;
    }

    if (ngx_inet_get_port(addr.sockaddr) == 0) {
        return;
    }

    ident->probeable = 1;
    ident->name_addr = (ident->addr.len == 0);
    ident->net = net ? net : 2;
}


/* 1..255 bytes of [A-Za-z0-9._:@-], optionally led by "[ipv6]" */
ngx_int_t
ngx_http_scale_identity_valid_name(u_char *p, size_t len)
{
    size_t      i;
    ngx_uint_t  c;

    if (len == 0 || len > NGX_HTTP_SCALE_NAME_MAX) {
        return NGX_DECLINED;
    }

    if (ngx_http_scale_name_chars['a'] == 0) {
        for (c = 0; c < 256; c++) {
            ngx_http_scale_name_chars[c] =
                (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                || (c >= '0' && c <= '9') || c == '.' || c == '_'
                || c == ':' || c == '@' || c == '-';
        }
    }

    i = 0;

    if (p[0] == '[') {
        i = ngx_http_scale_identity_bracket(p, len);
        if (i == 0) {
            return NGX_DECLINED;
        }
    }

    for ( /* void */ ; i < len; i++) {
        if (!ngx_http_scale_name_chars[p[i]]) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* "host:port" with host a DNS name, an IPv4 address or "[ipv6]" */
ngx_int_t
ngx_http_scale_identity_valid_addr(u_char *p, size_t len)
{
    size_t      i, colon;
    ngx_int_t   port;

    if (len < 3 || len > NGX_HTTP_SCALE_NAME_MAX) {
        return NGX_DECLINED;
    }

    colon = len;

    while (colon > 0 && p[colon - 1] != ':') {
        colon--;
    }

    if (colon < 2 || colon == len || len - colon > 5) {
        return NGX_DECLINED;
    }

    port = ngx_atoi(p + colon, len - colon);
    if (port < 1 || port > 65535) {
        return NGX_DECLINED;
    }

    colon--;

    if (p[0] == '[') {
        return ngx_http_scale_identity_bracket(p, colon) == colon
               ? NGX_OK : NGX_DECLINED;
    }

    for (i = 0; i < colon; i++) {
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z')
              || (p[i] >= '0' && p[i] <= '9') || p[i] == '.' || p[i] == '-'))
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * The JSON form: every member type-checked, the aliases folded in, the
 * id and name validated like plain names, the address as host:port.
 */
static ngx_int_t
ngx_http_scale_identity_json(ngx_pool_t *pool, u_char *body, size_t len,
    ngx_http_scale_identity_t *ident, u_char *reason)
{
    u_char        *p, *q;
    json_t        *obj;
    ngx_int_t      rc;
    ngx_str_t      host;
    ngx_uint_t     port;
    json_error_t   err;

    obj = json_loadb((const char *) body, len, JSON_REJECT_DUPLICATES, &err);
    if (obj == NULL) {
        p = ngx_snprintf(reason, NGX_HTTP_SCALE_REASON_MAX - 1,
                         "invalid JSON at byte %uz: %s", err.position,
                         err.text);
        *p = '\0';

        /*
         * jansson quotes the body's bytes ("near '...'"): keep the
         * reason ASCII, or the error answer itself could not be encoded
         */
        for (q = reason; q < p; q++) {
            if (*q >= 0x80) {
                *q = '?';
            }
        }

        return NGX_DECLINED;
    }

    rc = NGX_DECLINED;
    ngx_str_null(&host);
    port = 0;

    if (!json_is_object(obj)) {
        ngx_sprintf(reason, "a JSON object is expected%Z");
        goto done;
    }

    if (ngx_http_scale_identity_string(pool, obj, "id", &ident->id, reason)
        != NGX_OK
        || ngx_http_scale_identity_string(pool, obj, "name", &ident->name,
                                          reason)
           != NGX_OK
        || ngx_http_scale_identity_string(pool, obj, "addr", &ident->addr,
                                          reason)
           != NGX_OK
        || ngx_http_scale_identity_string(pool, obj, "domain_name", &host,
                                          reason)
           != NGX_OK
        || ngx_http_scale_identity_port(obj, &port, reason) != NGX_OK)
    {
        goto done;
    }

    if (ident->id.len == 0
        && ngx_http_scale_identity_string(pool, obj, "container_id",
                                          &ident->id, reason)
           != NGX_OK)
    {
        goto done;
    }

    if (ident->id.len == 0) {
        ident->id = ident->name;
    }

    if (ident->name.len == 0) {
        ident->name = ident->id;
    }

    if (ident->id.len == 0) {
        ngx_sprintf(reason, "\"name\" or \"id\" is required%Z");
        goto done;
    }

    if (ngx_http_scale_identity_valid_name(ident->id.data, ident->id.len)
        != NGX_OK)
    {
        ngx_sprintf(reason, "invalid \"id\": 1 to 255 bytes of "
                    "[A-Za-z0-9._:@-] expected%Z");
        goto done;
    }

    if (ngx_http_scale_identity_valid_name(ident->name.data, ident->name.len)
        != NGX_OK)
    {
        ngx_sprintf(reason, "invalid \"name\": 1 to 255 bytes of "
                    "[A-Za-z0-9._:@-] expected%Z");
        goto done;
    }

    if (ident->addr.len == 0 && host.len) {
        p = ngx_pnalloc(pool, host.len + sizeof(":65535"));
        if (p == NULL) {
            rc = NGX_ERROR;
            goto done;
        }

        ident->addr.data = p;
        ident->addr.len = port ? ngx_sprintf(p, "%V:%ui", &host, port) - p
                               : ngx_cpymem(p, host.data, host.len) - p;

        if (port == 0) {
            ngx_sprintf(reason, "\"domain_name\" needs a \"port\"%Z");
            goto done;
        }
    }

    if (ident->addr.len
        && ngx_http_scale_identity_valid_addr(ident->addr.data,
                                              ident->addr.len)
           != NGX_OK)
    {
        ngx_sprintf(reason, "invalid \"addr\": host:port expected%Z");
        goto done;
    }

    ngx_http_scale_identity_address(pool, ident);

    rc = NGX_OK;

done:

    json_decref(obj);

    return rc;
}


/* copies an optional string member; any other type is an error */
static ngx_int_t
ngx_http_scale_identity_string(ngx_pool_t *pool, json_t *obj, const char *key,
    ngx_str_t *out, u_char *reason)
{
    size_t   len;
    json_t  *v;

    v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v)) {
        return NGX_OK;
    }

    if (!json_is_string(v)) {
        ngx_sprintf(reason, "\"%s\" must be a string%Z", key);
        return NGX_DECLINED;
    }

    len = json_string_length(v);

    if (len == 0 || len > NGX_HTTP_SCALE_NAME_MAX) {
        ngx_sprintf(reason, "\"%s\" must hold 1 to 255 bytes%Z", key);
        return NGX_DECLINED;
    }

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        ngx_sprintf(reason, "out of memory%Z");
        return NGX_DECLINED;
    }

    ngx_memcpy(out->data, json_string_value(v), len);
    out->len = len;

    return NGX_OK;
}


/* "port": a number or a string of digits, 1..65535 */
static ngx_int_t
ngx_http_scale_identity_port(json_t *obj, ngx_uint_t *port, u_char *reason)
{
    json_t     *v;
    ngx_int_t   n;

    v = json_object_get(obj, "port");

    if (v == NULL || json_is_null(v)) {
        return NGX_OK;
    }

    if (json_is_integer(v)) {
        n = json_integer_value(v) > 65535 ? -1 : json_integer_value(v);

    } else if (json_is_string(v)) {
        n = ngx_atoi((u_char *) json_string_value(v), json_string_length(v));

    } else {
        n = -1;
    }

    if (n < 1 || n > 65535) {
        ngx_sprintf(reason, "\"port\" must be 1..65535%Z");
        return NGX_DECLINED;
    }

    *port = n;

    return NGX_OK;
}


/* the length of a leading "[hex:hex::.]" part, 0 when malformed */
static ngx_uint_t
ngx_http_scale_identity_bracket(u_char *p, size_t len)
{
    size_t  i;

    for (i = 1; i < len && p[i] != ']'; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')
              || (p[i] >= 'A' && p[i] <= 'F') || p[i] == ':' || p[i] == '.'))
        {
            return 0;
        }
    }

    if (i == len || i < 3) {
        return 0;
    }

    return i + 1;
}
