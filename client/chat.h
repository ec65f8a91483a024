/*
 * scale-client: chat messages, their store and their delivery.
 */

#ifndef SC_CHAT_H
#define SC_CHAT_H


#include "core.h"
#include "http.h"


typedef struct sc_msg_s       sc_msg_t;
typedef struct sc_delivery_s  sc_delivery_t;


struct sc_msg_s {
    unsigned        refs;
    sc_msg_t       *hnext;
    const char     *id;
    const char     *from;
    const char     *to;
    const char     *text;
    char           *known;
    int64_t         ts;
    int64_t         recv;
    unsigned        hops;
    unsigned        mine:1;
    unsigned        final:1;
    unsigned        targets;
    unsigned        delivered;
    unsigned        failed;
    unsigned        pending;
    char            error[128];
    char            data[];
};


typedef struct {
    sc_msg_t      **ring;
    unsigned        cap;
    unsigned        head;
    unsigned        n;
    sc_msg_t      **buckets;
    unsigned        nbuckets;
    sc_delivery_t  *deliveries;
    unsigned        ndeliveries;
    uint64_t        seq;
    char           *path;
    uint64_t        sent;
    uint64_t        received;
    uint64_t        failed;
} sc_chat_t;


#define SC_MSG_API   0
#define SC_MSG_WIRE  1
#define SC_MSG_FILE  2


int sc_chat_init(sc_peer_t *peer);
void sc_chat_free(sc_peer_t *peer);
int sc_chat_send(sc_peer_t *peer, const char *to, const char *text,
    size_t len, json_t **reply);

void sc_chat_send_handler(sc_http_req_t *r);
void sc_chat_message_handler(sc_http_req_t *r);
void sc_chat_messages_handler(sc_http_req_t *r);

int sc_chat_store_init(sc_peer_t *peer);
void sc_chat_store_free(sc_peer_t *peer);
sc_msg_t *sc_chat_msg_new(const char *id, const char *from, const char *to,
    const char *text, int64_t ts);
void sc_chat_msg_unref(sc_msg_t *m);
json_t *sc_chat_msg_json(sc_msg_t *m, int mode);
sc_msg_t *sc_chat_find(sc_chat_t *c, const char *id);
void sc_chat_store(sc_peer_t *peer, sc_msg_t *m, int persist);
void sc_chat_final(sc_peer_t *peer, sc_msg_t *m);
int sc_chat_valid_id(const char *s);


#endif /* SC_CHAT_H */
