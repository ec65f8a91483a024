/*
 * scale-bench: the contract every answer is held to (shared-api.md).
 *
 * A 2xx /connect answer must be a JSON array of at most K distinct peers,
 * never the caller, each a name of our pool (plain callers get names, JSON
 * callers identity objects), and must say X-Scale-Registered.  A failed
 * rule is a violation; statuses and transport errors are counted elsewhere.
 */

#include <string.h>
#include <jansson.h>

#include "bench.h"


#define SB_CHECK_MAX  128


/* The identity of one peer in an answer, or NULL if it has none. */
static const char *
sb_check_entry(const sb_conf_t *conf, json_t *e, size_t *len, int *bad)
{
    json_t      *id, *name;
    const char  *s;

    if (!conf->json_body) {
        if (!json_is_string(e)) {
            return NULL;
        }

        *len = json_string_length(e);
        return json_string_value(e);
    }

    if (!json_is_object(e)) {
        return NULL;
    }

    id = json_object_get(e, "id");
    name = json_object_get(e, "name");

    if (!json_is_string(id)) {
        return NULL;
    }

    s = json_string_value(id);
    *len = json_string_length(id);

    /* we register name == id, so a pool entry must come back that way */
    if (!json_is_string(name)
        || (sb_name_index(conf, s, *len) >= 0
            && (json_string_length(name) != *len
                || memcmp(json_string_value(name), s, *len) != 0)))
    {
        *bad = 1;
    }

    return s;
}


/* Checks the peer list of a 2xx /connect answer. */
static void
sb_check_connect(const sb_conf_t *conf, const sb_req_t *req, json_t *root,
    sb_outcome_t *out)
{
    size_t       i, j, n, len, self_len, lens[SB_CHECK_MAX];
    const char  *s, *keys[SB_CHECK_MAX];
    char         self[SB_NAME_MAX + 1];
    int          bad;

    if (!json_is_array(root)) {
        out->violations |= 1u << SB_CV_NOT_ARRAY;
        return;
    }

    n = json_array_size(root);
    out->peers = (uint16_t) (n > 65535 ? 65535 : n);

    if (n > (size_t) conf->subset) {
        out->violations |= 1u << SB_CV_TOO_MANY;
    } else if (n < (size_t) conf->subset) {
        out->short_answer = 1;
    }

    if (n > SB_CHECK_MAX) {
        n = SB_CHECK_MAX;
    }

    self_len = sb_name(conf, req->name, self);

    for (i = 0; i < n; i++) {
        bad = 0;
        s = sb_check_entry(conf, json_array_get(root, i), &len, &bad);

        if (s == NULL || len == 0 || bad) {
            out->violations |= 1u << SB_CV_BAD_ENTRY;
            keys[i] = NULL;
            continue;
        }

        keys[i] = s;
        lens[i] = len;

        if (len == self_len && memcmp(s, self, len) == 0) {
            out->violations |= 1u << SB_CV_SELF;
        }

        if (!conf->allow_foreign && sb_name_index(conf, s, len) < 0) {
            out->violations |= 1u << SB_CV_FOREIGN;
        }

        for (j = 0; j < i; j++) {
            if (keys[j] && lens[j] == len && memcmp(keys[j], s, len) == 0) {
                out->violations |= 1u << SB_CV_DUPLICATE;
                break;
            }
        }
    }
}


/* A 2xx /delete answer is {"deleted":"<id>"} naming what we deleted. */
static void
sb_check_delete(const sb_conf_t *conf, const sb_req_t *req, json_t *root,
    sb_outcome_t *out)
{
    json_t  *d;
    char     self[SB_NAME_MAX + 1];
    size_t   len;

    d = json_object_get(root, "deleted");
    len = sb_name(conf, req->name, self);

    if (!json_is_string(d) || json_string_length(d) != len
        || memcmp(json_string_value(d), self, len) != 0)
    {
        out->violations |= 1u << SB_CV_BAD_BODY;
    }
}


/*
 * Judges one complete answer and fills out->violations and the answer's
 * figures.  Baseline answers are only counted by status.
 */
void
sb_check(const sb_conf_t *conf, const sb_req_t *req, int status,
    const char *body, size_t len, int reg, sb_outcome_t *out)
{
    json_t        *root;
    json_error_t   err;

    out->status = status;

    if (req->target != 0 || status / 100 != 2) {
        return;
    }

    if (req->op == SB_OP_CONNECT && (reg == 0 || reg == 3)) {
        out->violations |= 1u << SB_CV_NO_HEADER;
    }

    out->reg = (uint8_t) (reg == 1 || reg == 2 ? reg : 0);

    root = json_loadb(body, len, 0, &err);
    if (root == NULL) {
        out->violations |= 1u << SB_CV_NOT_JSON;
        return;
    }

    switch (req->op) {

    case SB_OP_CONNECT:
        sb_check_connect(conf, req, root, out);
        break;

    case SB_OP_DELETE:
        sb_check_delete(conf, req, root, out);
        break;

    default:
        if (!json_is_integer(json_object_get(root, "clients"))) {
            out->violations |= 1u << SB_CV_BAD_BODY;
        }
        break;
    }

    json_decref(root);
}
