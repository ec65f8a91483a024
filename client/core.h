/*
 * scale-client: shared types, limits and small helpers (util.c).
 */

#ifndef SC_CORE_H
#define SC_CORE_H


#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <string.h>
#include <event2/event.h>
#include <jansson.h>


#define SC_NAME_MAX        255
#define SC_ADDR_MAX        300
#define SC_MSG_ID_MAX      (SC_NAME_MAX + 32)

#define SC_LOG_ERR         0
#define SC_LOG_WARN        1
#define SC_LOG_INFO        2
#define SC_LOG_DEBUG       3


typedef struct sc_conf_s    sc_conf_t;
typedef struct sc_peer_s    sc_peer_t;
typedef struct sc_swarm_s   sc_swarm_t;


extern int  sc_log_level;

void sc_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

int64_t sc_now_ms(void);
int64_t sc_now_us(void);
int64_t sc_wall_ms(void);
void sc_tv_ms(struct timeval *tv, int64_t ms);

void sc_rand_seed(uint64_t seed);
uint32_t sc_rand(void);
uint32_t sc_rand_below(uint32_t n);

int sc_parse_ms(const char *s, int64_t *ms);
int sc_parse_uint(const char *s, unsigned long max, unsigned long *out);
int sc_parse_bool(const char *s, int *out);
int sc_valid_name(const char *s, size_t len);
int sc_split_addr(const char *addr, char *host, size_t hsize,
    unsigned *port);
int sc_is_loopback(const char *host);

const char *sc_json_string(json_t *obj, const char *key, size_t max,
    int required, const char **err);


#endif /* SC_CORE_H */
