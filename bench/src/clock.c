/*
 * scale-bench: the one clock every figure is measured with.
 */

#include <time.h>

#include "bench.h"


/* Monotonic nanoseconds: immune to wall-clock steps during a run. */
uint64_t
sb_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}
