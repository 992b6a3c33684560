/* Deadline scopes: expiry, nesting, outside cancel, reschedule, wait_for. */
#include <math.h>

#include "test.h"

TASK_TEST_VIRTUAL(scope_deadline_expires) {
    aioc_scope s;
    double t0 = aioc_now();
    CHECK_ERR(aioc_scope_enter(&s, 2), 0);
    CHECK_ERR(aioc_sleep(1), 0);
    CHECK_ERR(aioc_sleep(5), -ETIMEDOUT);
    CHECK(fabs(aioc_now() - t0 - 2) < 0.25);
    CHECK_ERR(aioc_yield(), -ETIMEDOUT); /* level-triggered until exit */
    CHECK_ERR(aioc_scope_exit(&s), -ETIMEDOUT);
    CHECK_ERR(aioc_sleep(1), 0);
    /* a scope that does not expire */
    CHECK_ERR(aioc_scope_enter(&s, 10), 0);
    CHECK_ERR(aioc_sleep(1), 0);
    CHECK_ERR(aioc_scope_exit(&s), 0);
    /* infinite and already-past deadlines */
    CHECK_ERR(aioc_scope_enter(&s, INFINITY), 0);
    CHECK_ERR(aioc_sleep(100), 0);
    CHECK_ERR(aioc_scope_exit(&s), 0);
    CHECK_ERR(aioc_scope_enter_at(&s, aioc_now() - 1), 0);
    CHECK_ERR(aioc_yield(), -ETIMEDOUT);
    CHECK_ERR(aioc_scope_exit(&s), -ETIMEDOUT);
    return NULL;
}

TASK_TEST_VIRTUAL(nested_scope_inner_expiry) {
    aioc_scope outer, inner;
    double t0 = aioc_now();
    aioc_scope_enter(&outer, 10);
    aioc_scope_enter(&inner, 1);
    CHECK_ERR(aioc_sleep(5), -ETIMEDOUT);
    CHECK_ERR(aioc_scope_exit(&inner), -ETIMEDOUT);
    CHECK_ERR(aioc_sleep(2), 0); /* outer still has time */
    CHECK(fabs(aioc_now() - t0 - 3) < 0.25);
    CHECK_ERR(aioc_scope_exit(&outer), 0);
    return NULL;
}

TASK_TEST_VIRTUAL(nested_scope_outer_expiry) {
    aioc_scope outer, inner;
    double t0 = aioc_now();
    aioc_scope_enter(&outer, 1);
    aioc_scope_enter(&inner, 10);
    CHECK_ERR(aioc_sleep(5), -ETIMEDOUT); /* the earliest deadline wins */
    CHECK(fabs(aioc_now() - t0 - 1) < 0.25);
    CHECK_ERR(aioc_scope_exit(&inner), 0); /* the inner one did not expire */
    CHECK_ERR(aioc_sleep(1), -ETIMEDOUT);
    CHECK_ERR(aioc_scope_exit(&outer), -ETIMEDOUT);
    return NULL;
}

static void *cancelled_inside_scope(void *arg) {
    int *result = arg;
    aioc_scope s;
    aioc_scope_enter(&s, 5);
    result[0] = aioc_sleep(10);      /* cancelled at 1 s */
    result[1] = aioc_sleep(10);      /* deadline passes meanwhile? no: */
    result[2] = aioc_scope_exit(&s); /* cancelled, and 5 s not yet up */
    return NULL;
}

TASK_TEST_VIRTUAL(outer_cancel_is_never_reported_as_timeout) {
    int result[3];
    aioc_task t = aioc_spawn(cancelled_inside_scope, result);
    aioc_sleep(1);
    aioc_cancel(t);
    CHECK_ERR(aioc_await(t, NULL), -ECANCELED);
    CHECK_ERR(result[0], -ECANCELED);
    CHECK_ERR(result[1], -ECANCELED);
    CHECK_ERR(result[2], 0);
    return NULL;
}

static void *cancel_and_expiry_together(void *arg) {
    int *result = arg;
    aioc_scope s;
    aioc_scope_enter(&s, 1);
    aioc_scope inner_shield;
    aioc_shield_enter(&inner_shield);
    aioc_sleep(3); /* both the deadline and a cancel arrive while shielded */
    aioc_scope_exit(&inner_shield);
    result[0] = aioc_yield();
    result[1] = aioc_scope_exit(&s);
    return NULL;
}

TASK_TEST_VIRTUAL(outer_cancel_wins_over_pending_expiry) {
    int result[2];
    aioc_task t = aioc_spawn(cancel_and_expiry_together, result);
    aioc_sleep(2);
    aioc_cancel(t);
    CHECK_ERR(aioc_await(t, NULL), -ECANCELED);
    CHECK_ERR(result[0], -ECANCELED); /* the outer cause wins */
    CHECK_ERR(result[1], -ETIMEDOUT); /* but the scope knows it expired */
    return NULL;
}

static aioc_scope shared_scope;

static void *scoped_worker(void *arg) {
    int *result = arg;
    aioc_scope_enter(&shared_scope, INFINITY);
    result[0] = aioc_sleep(100);
    result[1] = aioc_scope_exit(&shared_scope);
    result[2] = aioc_sleep(1); /* the task itself was not cancelled */
    return NULL;
}

TASK_TEST_VIRTUAL(scope_cancelled_from_another_task) {
    int result[3];
    aioc_task t = aioc_spawn(scoped_worker, result);
    aioc_sleep(1);
    aioc_scope copy = shared_scope;
    CHECK_ERR(aioc_scope_cancel(copy), 0);
    CHECK_ERR(aioc_await(t, NULL), 0);
    CHECK_ERR(result[0], -ECANCELED);
    CHECK_ERR(result[1], -ECANCELED);
    CHECK_ERR(result[2], 0);
    CHECK_ERR(aioc_scope_cancel(copy), AIOC_ESTALE); /* exited */
    return NULL;
}

TASK_TEST_VIRTUAL(scope_reschedule) {
    aioc_scope s;
    double t0 = aioc_now();
    aioc_scope_enter(&s, 1);
    CHECK_ERR(aioc_scope_reschedule(s, 3), 0);
    CHECK_ERR(aioc_sleep(2), 0);
    CHECK_ERR(aioc_sleep(2), -ETIMEDOUT);
    CHECK(fabs(aioc_now() - t0 - 3) < 0.25);
    CHECK_ERR(aioc_scope_reschedule(s, 3), -EALREADY);
    CHECK_ERR(aioc_scope_exit(&s), -ETIMEDOUT);
    CHECK_ERR(aioc_scope_reschedule(s, 3), AIOC_ESTALE);
    return NULL;
}

TASK_TEST_VIRTUAL(scope_exit_out_of_order_is_estale) {
    aioc_scope a, b;
    aioc_scope_enter(&a, 10);
    aioc_scope_enter(&b, 10);
    CHECK_ERR(aioc_scope_exit(&a), AIOC_ESTALE); /* b is innermost */
    CHECK_ERR(aioc_scope_exit(&b), 0);
    CHECK_ERR(aioc_scope_exit(&a), 0);
    CHECK_ERR(aioc_scope_exit(&a), AIOC_ESTALE);
    /* a scope left open when the task ends is closed for it */
    aioc_scope_enter(&a, 1);
    return NULL;
}

static void *slow(void *arg) {
    if (aioc_sleep(I(arg)))
        return aioc_fail(-EINTR);
    return P(I(arg) * 10);
}

TASK_TEST_VIRTUAL(wait_for_result_and_timeout) {
    void *r;
    CHECK_ERR(aioc_wait_for(aioc_spawn(slow, P(1)), 2, &r), 0);
    CHECK_EQ(I(r), 10);
    double t0 = aioc_now();
    aioc_task t = aioc_spawn(slow, P(5));
    CHECK_ERR(aioc_wait_for(t, 2, &r), -ETIMEDOUT);
    CHECK(fabs(aioc_now() - t0 - 2) < 0.25);
    CHECK(r == NULL);
    CHECK_ERR(aioc_await(t, NULL), AIOC_ESTALE); /* consumed: it was cancelled and reaped */
    return NULL;
}

static void *waits_for_slow(void *arg) {
    int *result = arg;
    *result = aioc_wait_for(aioc_spawn(slow, P(50)), 10, NULL);
    return NULL;
}

TASK_TEST_VIRTUAL(wait_for_reports_outer_cancel_as_ecanceled) {
    int result = 0;
    aioc_task t = aioc_spawn(waits_for_slow, &result);
    aioc_sleep(1);
    aioc_cancel(t);
    CHECK_ERR(aioc_await(t, NULL), -ECANCELED);
    CHECK_ERR(result, -ECANCELED);
    return NULL;
}

/* As asyncio: a timeout of 0 or less (a remaining time computed too late)
 * or a deadline in the past expires at once, NaN too; AIOC_NO_TIMEOUT is
 * the one way to say "none". Under virtual time, "at once" is exact: the
 * clock has not moved. */
static void *quick(void *arg) {
    (void)arg;
    return P(7);
}

TASK_TEST_VIRTUAL(past_timeouts_expire_at_once_none_waits) {
    const double past[] = {-1, -INFINITY, NAN, 0};
    double t0 = aioc_now();
    aioc_scope s;
    for (size_t i = 0; i < sizeof past / sizeof past[0]; i++) {
        CHECK_ERR(aioc_scope_enter(&s, past[i]), 0);
        CHECK_ERR(aioc_sleep(100), -ETIMEDOUT);
        CHECK_ERR(aioc_scope_exit(&s), -ETIMEDOUT);
        CHECK_ERR(aioc_scope_enter_at(&s, past[i]), 0);
        CHECK_ERR(aioc_sleep(100), -ETIMEDOUT);
        CHECK_ERR(aioc_scope_exit(&s), -ETIMEDOUT);
        CHECK_ERR(aioc_scope_enter(&s, 10), 0);
        CHECK_ERR(aioc_scope_reschedule(s, past[i]), 0);
        CHECK_ERR(aioc_sleep(100), -ETIMEDOUT);
        CHECK_ERR(aioc_scope_exit(&s), -ETIMEDOUT);
        void *r = P(1);
        aioc_task t = aioc_spawn(slow, P(100));
        CHECK_ERR(aioc_wait_for(t, past[i], &r), -ETIMEDOUT);
        CHECK(r == NULL);
        CHECK_ERR(aioc_await(t, NULL), AIOC_ESTALE); /* cancelled and reaped */
    }
    CHECK(aioc_now() == t0); /* nothing waited */
    /* a task that has ended is still collected with a past timeout */
    aioc_task done = aioc_spawn(quick, NULL);
    aioc_yield();
    void *r;
    CHECK_ERR(aioc_wait_for(done, -1, &r), 0);
    CHECK_EQ(I(r), 7);
    /* none: waits as long as it takes */
    CHECK_ERR(aioc_scope_enter(&s, AIOC_NO_TIMEOUT), 0);
    CHECK_ERR(aioc_sleep(100), 0);
    CHECK_ERR(aioc_scope_exit(&s), 0);
    CHECK_ERR(aioc_scope_enter_at(&s, AIOC_NO_TIMEOUT), 0);
    CHECK_ERR(aioc_scope_reschedule(s, AIOC_NO_TIMEOUT), 0);
    CHECK_ERR(aioc_sleep(100), 0);
    CHECK_ERR(aioc_scope_exit(&s), 0);
    CHECK_ERR(aioc_wait_for(aioc_spawn(slow, P(100)), AIOC_NO_TIMEOUT, &r), 0);
    CHECK_EQ(I(r), 1000);
    CHECK(fabs(aioc_now() - t0 - 300) < 0.25);
    return NULL;
}
