/*
 * scale-bench: what each thread sends next.
 *
 * Thread t owns the names i with i % workers == t, so two threads never
 * race on one name and the churn and seed bookkeeping needs no locks.
 *
 *   register  every name of the slice once, then the thread is finished
 *   refresh   /connect of known names, cycling through the slice
 *   churn     refresh, and a share of delete followed by re-register
 *   mixed     refresh, churn, and 1% GET /status
 *   seed      the seed client's loop: register a new name; when every
 *             name is registered, delete a random one
 */

#include <stdlib.h>

#include "bench.h"


/* xorshift64*: a fast per-thread generator, no shared state. */
static uint32_t
sb_rand(sb_thread_t *th)
{
    th->rng ^= th->rng >> 12;
    th->rng ^= th->rng << 25;
    th->rng ^= th->rng >> 27;

    return (uint32_t) ((th->rng * 0x2545f4914f6cdd1dULL) >> 32);
}


/* Local index in this thread's slice -> index in the whole pool. */
static uint32_t
sb_global(sb_thread_t *th, uint32_t local)
{
    return local * (uint32_t) th->b->conf.workers + (uint32_t) th->id;
}


/* Sizes the thread's slice and allocates what its scenario keeps. */
int
sb_scenario_init(sb_thread_t *th)
{
    sb_scen_t        *sc;
    const sb_conf_t  *conf;
    uint32_t          i;

    sc = &th->sc;
    conf = &th->b->conf;

    sc->nlocal = conf->clients / (uint32_t) conf->workers
                 + ((uint32_t) th->id < conf->clients
                                        % (uint32_t) conf->workers);

    th->rng = conf->seed * 0x9e3779b97f4a7c15ULL + (uint64_t) th->id + 1;
    sc->next = sb_rand(th) % sc->nlocal;

    if (conf->scenario == SB_SC_REGISTER) {
        sc->next = 0;
    }

    if (conf->scenario == SB_SC_SEED) {
        sc->perm = malloc(sc->nlocal * sizeof(uint32_t));
        if (sc->perm == NULL) {
            return -1;
        }

        for (i = 0; i < sc->nlocal; i++) {
            sc->perm[i] = i;
        }
    }

    sc->follow_cap = (uint32_t) th->nconns + 1;
    sc->follow = malloc(sc->follow_cap * sizeof(sb_req_t));
    if (sc->follow == NULL) {
        return -1;
    }

    return 0;
}


/* Frees what sb_scenario_init() allocated. */
void
sb_scenario_free(sb_thread_t *th)
{
    free(th->sc.perm);
    free(th->sc.follow);
}


/* Seed: perm[0..nreg) are registered names; swaps move one across. */
static void
sb_seed_swap(sb_scen_t *sc, uint32_t i, uint32_t j)
{
    uint32_t  a;

    a = sc->perm[i];
    sc->perm[i] = sc->perm[j];
    sc->perm[j] = a;
}


/* A delete whose name is registered again once the delete is answered. */
static void
sb_scenario_churn(sb_thread_t *th, sb_req_t *req)
{
    req->op = SB_OP_DELETE;
    req->follow = 1;
    req->name = sb_global(th, sb_rand(th) % th->sc.nlocal);
}


/* The next name of the slice, round robin: each name as rarely as can be. */
static void
sb_scenario_refresh(sb_thread_t *th, sb_req_t *req)
{
    sb_scen_t  *sc;

    sc = &th->sc;

    req->op = SB_OP_CONNECT;
    req->name = sb_global(th, sc->next);

    if (++sc->next == sc->nlocal) {
        sc->next = 0;
    }
}


/*
 * Fills req with the next operation (req->target is left to the caller).
 * Returns 0, or -1 when the scenario has nothing more to send.
 */
int
sb_scenario_next(sb_thread_t *th, sb_req_t *req)
{
    sb_scen_t        *sc;
    const sb_conf_t  *conf;
    uint32_t          r, i;

    sc = &th->sc;
    conf = &th->b->conf;

    req->follow = 0;

    if (sc->follow_len) {
        *req = sc->follow[sc->follow_head];
        sc->follow_head = (sc->follow_head + 1) % sc->follow_cap;
        sc->follow_len--;
        return 0;
    }

    switch (conf->scenario) {

    case SB_SC_REGISTER:
        if (sc->next >= sc->nlocal) {
            return -1;
        }

        req->op = SB_OP_CONNECT;
        req->name = sb_global(th, sc->next++);
        return 0;

    case SB_SC_CHURN:
        if (sb_rand(th) % 100 < (uint32_t) conf->churn_pct) {
            sb_scenario_churn(th, req);
        } else {
            sb_scenario_refresh(th, req);
        }
        return 0;

    case SB_SC_MIXED:
        r = sb_rand(th) % 100;

        if (r == 0) {
            req->op = SB_OP_STATUS;
            req->name = 0;
        } else if (r <= (uint32_t) conf->churn_pct) {
            sb_scenario_churn(th, req);
        } else {
            sb_scenario_refresh(th, req);
        }
        return 0;

    case SB_SC_SEED:
        if (sc->nreg < sc->nlocal) {
            i = sc->nreg + sb_rand(th) % (sc->nlocal - sc->nreg);
            sb_seed_swap(sc, i, sc->nreg);
            req->op = SB_OP_CONNECT;
            req->name = sb_global(th, sc->perm[sc->nreg++]);

        } else {
            i = sb_rand(th) % sc->nreg;
            sb_seed_swap(sc, i, --sc->nreg);
            req->op = SB_OP_DELETE;
            req->name = sb_global(th, sc->perm[sc->nreg]);
        }
        return 0;

    default:
        sb_scenario_refresh(th, req);
        return 0;
    }
}


/*
 * Told about every finished request (status 0: transport error): counts
 * register progress and queues the re-registration of churned names.
 */
void
sb_scenario_done(sb_thread_t *th, const sb_req_t *req, int status)
{
    sb_scen_t  *sc;
    sb_req_t   *f;

    (void) status;

    sc = &th->sc;

    if (th->b->conf.scenario == SB_SC_REGISTER) {
        sc->done++;
        return;
    }

    if (req->follow && sc->follow_len < sc->follow_cap) {
        f = &sc->follow[(sc->follow_head + sc->follow_len) % sc->follow_cap];
        f->op = SB_OP_CONNECT;
        f->target = req->target;
        f->follow = 0;
        f->pad = 0;
        f->name = req->name;
        sc->follow_len++;
    }
}
