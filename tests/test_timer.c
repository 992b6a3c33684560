/* The timer heap against a brute-force model: random arms, re-arms and
 * disarms, then every timer must come out in (deadline, arming) order. */
#include <stdbool.h>

#include "test.h"
#include "timer.h"

#define N 20000

static uint64_t rng = 42;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

TEST(timer_heap_orders_random_timers) {
    static aioc__timer timers[N];
    static bool armed[N];
    aioc__timer_heap h;
    aioc__timers_init(&h);
    for (int i = 0; i < N; i++)
        timers[i] = (aioc__timer){.index = AIOC__TIMER_IDLE};
    for (int round = 0; round < 4 * N; round++) {
        int i = (int)(next_rand() % N);
        if (next_rand() % 4 == 0) {
            aioc__timer_disarm(&h, &timers[i]);
            armed[i] = false;
        } else {
            /* few distinct deadlines, so ties (FIFO by arming) are common */
            CHECK_ERR(aioc__timer_arm(&h, &timers[i], next_rand() % 500), 0);
            armed[i] = true;
        }
    }
    uint32_t count = 0;
    for (int i = 0; i < N; i++)
        count += armed[i];
    CHECK_EQ(h.len, count);
    uint64_t last_when = 0, last_seq = 0;
    bool first = true;
    aioc__timer *t;
    while ((t = aioc__timers_first(&h))) {
        CHECK(t->index == 0);
        if (!first)
            CHECK(t->when > last_when || (t->when == last_when && t->seq > last_seq));
        first = false;
        last_when = t->when;
        last_seq = t->seq;
        aioc__timer_disarm(&h, t);
        CHECK(t->index == AIOC__TIMER_IDLE);
        armed[t - timers] = false;
        count--;
    }
    CHECK_EQ(count, 0);
    for (int i = 0; i < N; i++)
        CHECK(!armed[i]);
    aioc__timers_free(&h);
}
