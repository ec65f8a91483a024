
/*
 * Stand-ins for the few NGINX core functions the module's parsers link
 * against (see README.md: these are ours, not NGINX's), and helpers the
 * fuzz targets share: a quiet log, a slab zone with a registry in it.
 */


#ifndef _NGX_STUBS_H_INCLUDED_
#define _NGX_STUBS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_scale_registry.h"


/* a log that formats every message (so bad format arguments show) and
 * drops it; FUZZ_LOG=1 in the environment prints them */
extern ngx_log_t  ngx_stubs_log;


/* a zone of size bytes with a fresh registry in it, as init_zone makes
 * one; the previous zone, if any, is gone */
ngx_http_scale_zone_ctx_t *ngx_stubs_zone(size_t size);

/* aborts when the lock is held: every fuzzed path must release it */
void ngx_stubs_assert_unlocked(void);

/* called once before the first input */
void ngx_stubs_init(void);


#endif /* _NGX_STUBS_H_INCLUDED_ */
