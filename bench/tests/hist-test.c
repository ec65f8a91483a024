/*
 * Checks the promise of hist.h: every quantile within 1% of the exact
 * value (the bucket midpoint is within 0.4% of its members), from 1 ns to
 * minutes, in fixed memory.  Run by `make -C bench check`.
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "hist.h"


/* qsort order for the exact quantiles. */
static int
cmp(const void *a, const void *b)
{
    uint64_t  x, y;

    x = *(const uint64_t *) a;
    y = *(const uint64_t *) b;

    return x < y ? -1 : x > y;
}


/* xorshift64*, so the test is the same everywhere */
static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;

    return *s * 0x2545f4914f6cdd1dULL;
}


/* Exit 0 when every check holds, 1 otherwise. */
int
main(void)
{
    static sb_hist_t  h, one;
    static const double  q[] = { 0.5, 0.9, 0.99, 0.999, 0.9999 };
    uint64_t  *v, seed, exact, got, x;
    size_t     i, n;
    double     err, worst;
    int        k, fails;

    n = 1000000;
    seed = 7;
    fails = 0;

    v = malloc(n * sizeof(uint64_t));
    if (v == NULL) {
        return 1;
    }

    sb_hist_reset(&h);

    /* log-uniform from 1 ns to about 8 minutes */
    for (i = 0; i < n; i++) {
        v[i] = (uint64_t) exp((double) (rnd(&seed) >> 11) / 9007199254740992.0
                              * 26.9);
        sb_hist_record(&h, v[i]);
    }

    qsort(v, n, sizeof(uint64_t), cmp);

    for (k = 0; k < 5; k++) {
        exact = v[(size_t) ceil(q[k] * (double) n) - 1];
        got = sb_hist_quantile(&h, q[k]);
        err = fabs((double) got - (double) exact) / (double) exact;

        printf("q%-6g exact %12llu histogram %12llu error %.3f%%\n", q[k],
               (unsigned long long) exact, (unsigned long long) got,
               err * 100);

        fails += err > 0.01;
    }

    fails += sb_hist_quantile(&h, 1.0) != v[n - 1];
    fails += h.min != v[0] || h.count != n;

    worst = 0;

    for (x = 1; x < 600000000000ULL; x += 1 + x / 997) {
        sb_hist_reset(&one);
        sb_hist_record(&one, x);
        one.min = 0;
        one.max = UINT64_MAX;

        got = sb_hist_quantile(&one, 0.5);
        err = fabs((double) got - (double) x) / (double) x;

        if (err > worst) {
            worst = err;
        }
    }

    printf("worst bucket error %.3f%%, %zu bytes per histogram\n",
           worst * 100, sizeof(sb_hist_t));

    fails += worst > 0.004;

    free(v);

    printf("%s\n", fails ? "FAIL" : "ok");

    return fails != 0;
}
