/*
 * scale-client: the chat store of one peer: messages it sent or received
 * in a bounded ring with an id index (the de-duplication set) and, with
 * --data-dir, an append-only JSON-lines file read back at start and
 * rewritten when it has grown well past the ring.
 */

#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <unistd.h>

#include "peer.h"


#define SC_CHAT_LINE_MAX       (2 * 1024 * 1024)


static void sc_chat_append(sc_peer_t *peer, json_t *record);
static void sc_chat_write(FILE *f, json_t *record);
static json_t *sc_chat_final_json(sc_msg_t *m);
static int sc_chat_load(sc_peer_t *peer);
static void sc_chat_compact(sc_peer_t *peer);
static uint32_t sc_chat_hash(const char *s);


/* The ring, its index and the file's path; then the file's messages. */
int
sc_chat_store_init(sc_peer_t *peer)
{
    size_t      len;
    sc_chat_t  *c = &peer->chat;

    c->cap = peer->conf->chat_ring;
    c->nbuckets = 16;

    while (c->nbuckets < c->cap * 2) {
        c->nbuckets *= 2;
    }

    c->ring = calloc(c->cap, sizeof(sc_msg_t *));
    c->buckets = calloc(c->nbuckets, sizeof(sc_msg_t *));

    if (c->ring == NULL || c->buckets == NULL) {
        return -1;
    }

    if (peer->conf->data_dir == NULL) {
        return 0;
    }

    len = strlen(peer->conf->data_dir) + strlen(peer->id) + 16;
    c->path = malloc(len);
    if (c->path == NULL) {
        return -1;
    }

    snprintf(c->path, len, "%s/%s.chat.jsonl", peer->conf->data_dir,
             peer->id);

    return sc_chat_load(peer);
}


/* Safe to call twice. */
void
sc_chat_store_free(sc_peer_t *peer)
{
    unsigned    i;
    sc_chat_t  *c = &peer->chat;

    for (i = 0; c->ring && i < c->n; i++) {
        sc_chat_msg_unref(c->ring[(c->head + i) % c->cap]);
    }

    free(c->ring);
    free(c->buckets);
    free(c->path);

    c->ring = NULL;
    c->buckets = NULL;
    c->path = NULL;
    c->n = 0;
}


/* One allocation: the struct and its four strings. */
sc_msg_t *
sc_chat_msg_new(const char *id, const char *from, const char *to,
    const char *text, int64_t ts)
{
    size_t     lid, lfrom, lto, ltext;
    sc_msg_t  *m;

    lid = strlen(id) + 1;
    lfrom = strlen(from) + 1;
    lto = strlen(to) + 1;
    ltext = strlen(text) + 1;

    m = calloc(1, sizeof(sc_msg_t) + lid + lfrom + lto + ltext);
    if (m == NULL) {
        return NULL;
    }

    m->refs = 1;
    m->id = memcpy(m->data, id, lid);
    m->from = memcpy(m->data + lid, from, lfrom);
    m->to = memcpy(m->data + lid + lfrom, to, lto);
    m->text = memcpy(m->data + lid + lfrom + lto, text, ltext);
    m->ts = ts;

    return m;
}


/* Ring, deliveries and handlers share messages by count. */
void
sc_chat_msg_unref(sc_msg_t *m)
{
    if (--m->refs == 0) {
        free(m->known);
        free(m);
    }
}


/* What travels to peers, what the file keeps, or what the API shows. */
json_t *
sc_chat_msg_json(sc_msg_t *m, int mode)
{
    json_t      *j;
    const char  *status;

    j = json_pack("{sssssssssIsi}", "id", m->id, "from", m->from,
                  "to", m->to, "text", m->text, "ts", (json_int_t) m->ts,
                  "hops", (int) m->hops);

    if (j && mode == SC_MSG_WIRE && m->known) {
        json_object_set_new(j, "known", json_pack("{ss}", "bits", m->known));
    }

    if (j == NULL || mode == SC_MSG_WIRE) {
        return j;
    }

    json_object_set_new(j, "recv", json_integer(m->recv));

    if (mode == SC_MSG_FILE) {
        return j;
    }

    json_object_set_new(j, "mine", json_boolean(m->mine));

    if (!m->mine) {
        return j;
    }

    if (m->pending) {
        status = "sending";
    } else if (m->targets && m->failed == 0) {
        status = "delivered";
    } else if (m->delivered) {
        status = "partial";
    } else {
        status = "failed";
    }

    json_object_set_new(j, "status", json_string(status));
    json_object_set_new(j, "targets", json_integer(m->targets));
    json_object_set_new(j, "delivered", json_integer(m->delivered));
    json_object_set_new(j, "failed", json_integer(m->failed));
    json_object_set_new(j, "pending", json_integer(m->pending));

    if (m->error[0]) {
        json_object_set_new(j, "error", json_string(m->error));
    }

    return j;
}


/* The de-duplication lookup: is this id already stored? */
sc_msg_t *
sc_chat_find(sc_chat_t *c, const char *id)
{
    sc_msg_t  *m;

    for (m = c->buckets[sc_chat_hash(id) & (c->nbuckets - 1)];
         m;
         m = m->hnext)
    {
        if (strcmp(m->id, id) == 0) {
            return m;
        }
    }

    return NULL;
}


/*
 * Into the ring (the oldest message falls out, and with it its id from
 * the de-duplication index) and, unless reloading, onto the file.
 */
void
sc_chat_store(sc_peer_t *peer, sc_msg_t *m, int persist)
{
    uint32_t    b;
    sc_msg_t   *old, **pp;
    sc_chat_t  *c = &peer->chat;

    if (c->n == c->cap) {
        old = c->ring[c->head];

        pp = &c->buckets[sc_chat_hash(old->id) & (c->nbuckets - 1)];
        while (*pp != old) {
            pp = &(*pp)->hnext;
        }
        *pp = old->hnext;

        sc_chat_msg_unref(old);
        c->ring[c->head] = m;
        c->head = (c->head + 1) % c->cap;

    } else {
        c->ring[(c->head + c->n) % c->cap] = m;
        c->n++;
    }

    m->refs++;

    b = sc_chat_hash(m->id) & (c->nbuckets - 1);
    m->hnext = c->buckets[b];
    c->buckets[b] = m;

    if (persist) {
        sc_chat_append(peer, sc_chat_msg_json(m, SC_MSG_FILE));
    }
}


/* One JSON line per record; open-append-close keeps no fd per peer. */
static void
sc_chat_append(sc_peer_t *peer, json_t *record)
{
    FILE  *f;

    if (peer->chat.path == NULL) {
        json_decref(record);
        return;
    }

    f = fopen(peer->chat.path, "a");

    if (f == NULL) {
        json_decref(record);
        sc_log(SC_LOG_ERR, "peer %s: cannot append to %s: %s", peer->id,
               peer->chat.path, strerror(errno));
        return;
    }

    sc_chat_write(f, record);

    if (fclose(f) != 0) {
        sc_log(SC_LOG_ERR, "peer %s: cannot append to %s: %s", peer->id,
               peer->chat.path, strerror(errno));
    }
}


/* Writes one record as a line and releases it. */
static void
sc_chat_write(FILE *f, json_t *record)
{
    char  *s;

    s = record ? json_dumps(record, JSON_COMPACT) : NULL;
    json_decref(record);

    if (s) {
        fprintf(f, "%s\n", s);
        free(s);
    }
}


/* A sent message's outcome is known: record it next to the message. */
void
sc_chat_final(sc_peer_t *peer, sc_msg_t *m)
{
    m->final = 1;

    if (m->failed || m->targets == 0) {
        peer->chat.failed++;
        sc_log(SC_LOG_INFO, "peer %s: message %s reached %u of %u: %s",
               peer->id, m->id, m->delivered, m->targets, m->error);
    }

    sc_chat_append(peer, sc_chat_final_json(m));
}


/* The file record that follows a sent message. */
static json_t *
sc_chat_final_json(sc_msg_t *m)
{
    return json_pack("{sssisisiss}", "final", m->id,
                     "targets", (int) m->targets,
                     "delivered", (int) m->delivered,
                     "failed", (int) m->failed,
                     "error", m->error);
}


/*
 * Reads the file back into the ring (the newest --chat-ring messages win)
 * and rewrites it when it has grown well past the ring.
 */
static int
sc_chat_load(sc_peer_t *peer)
{
    FILE        *f;
    char        *line;
    size_t       size;
    ssize_t      len;
    json_t      *j, *v;
    sc_msg_t    *m;
    unsigned     lines, loaded;
    const char  *id, *from, *to, *text, *e1, *e2, *e3, *e4;

    f = fopen(peer->chat.path, "r");

    if (f == NULL) {
        if (errno == ENOENT) {
            return 0;
        }

        sc_log(SC_LOG_ERR, "peer %s: cannot read %s: %s", peer->id,
               peer->chat.path, strerror(errno));
        return -1;
    }

    line = NULL;
    size = 0;
    lines = 0;
    loaded = 0;

    while ((len = getline(&line, &size, f)) > 0) {
        lines++;

        if (len > SC_CHAT_LINE_MAX) {
            continue;
        }

        j = json_loadb(line, len, 0, NULL);
        if (!json_is_object(j)) {
            json_decref(j);
            continue;
        }

        v = json_object_get(j, "final");

        if (json_is_string(v)) {
            m = sc_chat_find(&peer->chat, json_string_value(v));
            if (m) {
                m->final = 1;
                m->targets = json_integer_value(json_object_get(j,
                                                                "targets"));
                m->delivered = json_integer_value(json_object_get(j,
                                                            "delivered"));
                m->failed = json_integer_value(json_object_get(j, "failed"));
                snprintf(m->error, sizeof(m->error), "%s",
                         json_string_value(json_object_get(j, "error"))
                         ? json_string_value(json_object_get(j, "error"))
                         : "");
            }

            json_decref(j);
            continue;
        }

        id = sc_json_string(j, "id", SC_MSG_ID_MAX, 1, &e1);
        from = sc_json_string(j, "from", SC_NAME_MAX, 1, &e2);
        to = sc_json_string(j, "to", SC_NAME_MAX, 1, &e3);
        text = sc_json_string(j, "text", SIZE_MAX, 1, &e4);

        if (id && from && to && text && !sc_chat_find(&peer->chat, id)) {
            m = sc_chat_msg_new(id, from, to, text,
                                json_integer_value(json_object_get(j, "ts")));
            if (m) {
                m->recv = json_integer_value(json_object_get(j, "recv"));
                m->hops = json_integer_value(json_object_get(j, "hops"));
                m->mine = (strcmp(from, peer->id) == 0);
                m->final = 1;
                sc_chat_store(peer, m, 0);
                sc_chat_msg_unref(m);
                loaded++;
            }
        }

        json_decref(j);
    }

    free(line);
    fclose(f);

    if (loaded) {
        sc_log(SC_LOG_INFO, "peer %s: %u messages reloaded from %s",
               peer->id, peer->chat.n, peer->chat.path);
    }

    if (lines > 4 * peer->chat.cap + 64) {
        sc_chat_compact(peer);
    }

    return 0;
}


/* Rewrites the file with what the ring holds: temp file, then rename. */
static void
sc_chat_compact(sc_peer_t *peer)
{
    FILE       *f;
    char       *tmp;
    size_t      len;
    unsigned    i;
    sc_msg_t   *m;
    sc_chat_t  *c = &peer->chat;

    len = strlen(c->path) + 8;
    tmp = malloc(len);
    if (tmp == NULL) {
        return;
    }

    snprintf(tmp, len, "%s.tmp", c->path);

    f = fopen(tmp, "w");
    if (f == NULL) {
        free(tmp);
        return;
    }

    for (i = 0; i < c->n; i++) {
        m = c->ring[(c->head + i) % c->cap];
        sc_chat_write(f, sc_chat_msg_json(m, SC_MSG_FILE));

        if (m->mine && m->final) {
            sc_chat_write(f, sc_chat_final_json(m));
        }
    }

    if (fclose(f) != 0 || rename(tmp, c->path) != 0) {
        sc_log(SC_LOG_ERR, "peer %s: cannot compact %s: %s", peer->id,
               c->path, strerror(errno));
        unlink(tmp);
    }

    free(tmp);
}


/* Message ids are "<peer id>-<ms>-<seq>": a name a bit longer. */
int
sc_chat_valid_id(const char *s)
{
    size_t  len;

    len = strlen(s);

    if (len <= SC_NAME_MAX) {
        return sc_valid_name(s, len);
    }

    return len <= SC_MSG_ID_MAX && sc_valid_name(s, SC_NAME_MAX)
           && sc_valid_name(s + SC_NAME_MAX, len - SC_NAME_MAX);
}


/* FNV-1a: ids are short strings. */
static uint32_t
sc_chat_hash(const char *s)
{
    uint32_t  h = 2166136261u;

    while (*s) {
        h = (h ^ (unsigned char) *s++) * 16777619u;
    }

    return h;
}
