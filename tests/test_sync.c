/* Locks, conditions, semaphores, barriers: FIFO service, misuse, and the
 * races where a waiter gives up around the moment it is served. */
#include "test.h"

static char order[64];
static int order_len;

/* ---------------------------------------------------------------- lock -- */

static aioc_lock lk = AIOC_LOCK_INIT;

static void *lock_user(void *arg) {
    CHECK_ERR(aioc_lock_acquire(&lk), 0);
    order[order_len++] = (char)I(arg);
    aioc_sleep(1);
    CHECK_ERR(aioc_lock_release(&lk), 0);
    return NULL;
}

TASK_TEST_VIRTUAL(lock_serves_waiters_in_order) {
    order_len = 0;
    aioc_lock_init(&lk);
    aioc_task t[4];
    for (int i = 0; i < 4; i++)
        t[i] = aioc_spawn(lock_user, P('a' + i));
    aioc_yield();
    CHECK(aioc_lock_locked(&lk));
    CHECK_ERR(aioc_lock_try_acquire(&lk), -EBUSY);
    CHECK_ERR(aioc_lock_release(&lk), -EPERM); /* main does not hold it */
    CHECK_ERR(aioc_lock_destroy(&lk), -EBUSY);
    CHECK_ERR(aioc_gather(t, 4, NULL), 0);
    CHECK(memcmp(order, "abcd", 4) == 0);
    CHECK(!aioc_lock_locked(&lk));
    CHECK_ERR(aioc_lock_try_acquire(&lk), 0);
    CHECK_ERR(aioc_lock_acquire(&lk), -EDEADLK);
    CHECK_ERR(aioc_lock_try_acquire(&lk), -EDEADLK);
    CHECK_ERR(aioc_lock_release(&lk), 0);
    CHECK_ERR(aioc_lock_release(&lk), -EPERM); /* not held any more */
    CHECK_ERR(aioc_lock_destroy(&lk), 0);
    return NULL;
}

static void *lock_then_record(void *arg) {
    int err = aioc_lock_acquire(&lk);
    order[order_len++] = (char)(err ? 'x' : I(arg));
    if (!err)
        aioc_lock_release(&lk);
    return P(err);
}

/* A waiter cancelled while queued is skipped; one cancelled after the lock
 * was handed to it still owns it (returns 0) and must release it. */
TASK_TEST_VIRTUAL(lock_cancelled_waiters_lose_nothing) {
    order_len = 0;
    aioc_lock_init(&lk);
    CHECK_ERR(aioc_lock_acquire(&lk), 0);
    aioc_task a = aioc_spawn(lock_then_record, P('a'));
    aioc_task b = aioc_spawn(lock_then_record, P('b'));
    aioc_task c = aioc_spawn(lock_then_record, P('c'));
    aioc_yield();
    aioc_cancel(a);                       /* queued: leaves the queue */
    CHECK_ERR(aioc_lock_release(&lk), 0); /* handed to b */
    aioc_cancel(b);                       /* too late: b owns it now */
    void *r;
    CHECK_ERR(aioc_await(a, &r), -ECANCELED);
    CHECK_ERR(aioc_await(b, &r), -ECANCELED); /* its release ran; then its status */
    CHECK_ERR(aioc_await(c, &r), 0);
    CHECK_EQ(order_len, 3);
    CHECK(memcmp(order, "xbc", 3) == 0);
    CHECK(!aioc_lock_locked(&lk));
    return NULL;
}

static void *lock_with_deadline(void *arg) {
    aioc_scope s;
    aioc_scope_enter(&s, I(arg));
    int err = aioc_lock_acquire(&lk);
    aioc_scope_exit(&s);
    if (!err)
        aioc_lock_release(&lk);
    return P(err);
}

/* A waiter whose deadline passes leaves the queue; the lock goes to the
 * next one. */
TASK_TEST_VIRTUAL(lock_waiter_deadline_passes_lock_on) {
    order_len = 0;
    aioc_lock_init(&lk);
    CHECK_ERR(aioc_lock_acquire(&lk), 0);
    aioc_task impatient = aioc_spawn(lock_with_deadline, P(1));
    aioc_task patient = aioc_spawn(lock_then_record, P('p'));
    aioc_sleep(2);
    void *r;
    CHECK_ERR(aioc_await(impatient, &r), 0);
    CHECK_ERR(I(r), -ETIMEDOUT);
    CHECK_ERR(aioc_lock_release(&lk), 0);
    CHECK_ERR(aioc_await(patient, NULL), 0);
    CHECK_EQ(order_len, 1);
    CHECK_EQ(order[0], 'p');
    return NULL;
}

/* ----------------------------------------------------------- condition -- */

static aioc_cond cv = AIOC_COND_INIT;
static int items;

static void *consumer(void *arg) {
    CHECK_ERR(aioc_lock_acquire(&lk), 0);
    int err = 0;
    while (items == 0 && err == 0)
        err = aioc_cond_wait(&cv, &lk);
    CHECK(aioc_lock_locked(&lk)); /* held again, whatever happened */
    if (err == 0) {
        items--;
        order[order_len++] = (char)I(arg);
    }
    aioc_lock_release(&lk);
    return P(err);
}

TASK_TEST_VIRTUAL(condition_wait_and_notify) {
    order_len = items = 0;
    aioc_lock_init(&lk);
    aioc_cond_init(&cv);
    aioc_task t[3] = {aioc_spawn(consumer, P('1')), aioc_spawn(consumer, P('2')),
                      aioc_spawn(consumer, P('3'))};
    aioc_sleep(1);
    CHECK_ERR(aioc_cond_destroy(&cv), -EBUSY);
    aioc_cancel(t[0]); /* gives up: returns -ECANCELED holding the lock */
    aioc_lock_acquire(&lk);
    items = 2;
    CHECK_EQ(aioc_cond_notify(&cv, 1), 1);
    CHECK_EQ(aioc_cond_notify_all(&cv), 1);
    CHECK_EQ(aioc_cond_notify(&cv, 5), 0);
    aioc_lock_release(&lk);
    int st[3];
    CHECK_ERR(aioc_gather_all(t, 3, NULL, st), 0);
    CHECK_ERR(st[0], -ECANCELED);
    CHECK_ERR(st[1], 0);
    CHECK_ERR(st[2], 0);
    CHECK(memcmp(order, "23", 2) == 0);
    CHECK_ERR(aioc_cond_wait(&cv, &lk), -EPERM); /* lock not held */
    CHECK_ERR(aioc_cond_destroy(&cv), 0);
    return NULL;
}

/* ----------------------------------------------------------- semaphore -- */

static aioc_sem sm = AIOC_SEM_INIT(2);
static int inside, most_inside;

static void *limited(void *arg) {
    int err = aioc_sem_acquire(&sm);
    if (err)
        return P(err);
    if (++inside > most_inside)
        most_inside = inside;
    order[order_len++] = (char)I(arg);
    aioc_sleep(1);
    inside--;
    aioc_sem_release(&sm);
    return NULL;
}

TASK_TEST_VIRTUAL(semaphore_limits_and_serves_in_order) {
    order_len = inside = most_inside = 0;
    aioc_sem_init(&sm, 2);
    aioc_task t[6];
    for (int i = 0; i < 6; i++)
        t[i] = aioc_spawn(limited, P('a' + i));
    aioc_sleep(0.5);
    CHECK_EQ(aioc_sem_value(&sm), 0);
    aioc_cancel(t[2]); /* waiting: gives up, and no permit goes with it */
    CHECK_ERR(aioc_sem_try_acquire(&sm), -EAGAIN);
    int st[6];
    CHECK_ERR(aioc_gather_all(t, 6, NULL, st), 0);
    CHECK_ERR(st[2], -ECANCELED);
    CHECK_EQ(most_inside, 2);
    CHECK_EQ(order_len, 5);
    CHECK(memcmp(order, "abdef", 5) == 0); /* first come, first served */
    CHECK_EQ(aioc_sem_value(&sm), 2);      /* every permit came back */
    CHECK_ERR(aioc_sem_release(&sm), 0);   /* unbounded: may exceed */
    CHECK_EQ(aioc_sem_value(&sm), 3);
    CHECK_ERR(aioc_sem_destroy(&sm), 0);
    return NULL;
}

TASK_TEST_VIRTUAL(bounded_semaphore_refuses_extra_release) {
    static aioc_sem b = AIOC_BOUNDED_SEM_INIT(1);
    CHECK_ERR(aioc_sem_release(&b), -EOVERFLOW); /* more than it had */
    CHECK_EQ(aioc_sem_value(&b), 1);
    CHECK_ERR(aioc_sem_acquire(&b), 0);
    CHECK_ERR(aioc_sem_release(&b), 0);
    CHECK_ERR(aioc_sem_release(&b), -EOVERFLOW);
    aioc_sem c;
    aioc_sem_init_bounded(&c, 0);
    CHECK_ERR(aioc_sem_release(&c), -EOVERFLOW);
    return NULL;
}

/* A permit released to a waiter that is then cancelled before it runs
 * stays with that waiter; one that timed out first never gets it. */
static void *sem_take(void *arg) {
    (void)arg;
    int err = aioc_sem_acquire(&sm);
    return P(err);
}

TASK_TEST_VIRTUAL(semaphore_cancel_races) {
    aioc_sem_init(&sm, 0);
    aioc_task a = aioc_spawn(sem_take, NULL), b = aioc_spawn(sem_take, NULL);
    aioc_yield();
    aioc_sem_release(&sm); /* to a */
    aioc_cancel(a);        /* after the hand-over: a keeps it */
    void *r;
    CHECK_ERR(aioc_await(a, &r), -ECANCELED);
    CHECK_ERR(I(r), 0); /* unused: a cancelled task has no result */
    CHECK_EQ(aioc_sem_value(&sm), 0);
    aioc_cancel(b); /* before any release */
    CHECK_ERR(aioc_await(b, NULL), -ECANCELED);
    aioc_sem_release(&sm);
    CHECK_EQ(aioc_sem_value(&sm), 1); /* nobody took it */
    return NULL;
}

/* ------------------------------------------------------------- barrier -- */

static aioc_barrier br = AIOC_BARRIER_INIT(3);

static void *arrive(void *arg) {
    aioc_sleep(I(arg));
    return P(aioc_barrier_wait(&br));
}

TASK_TEST_VIRTUAL(barrier_rounds_cancel_abort) {
    aioc_barrier_init(&br, 3);
    for (int round = 0; round < 2; round++) {
        aioc_task t[3] = {aioc_spawn(arrive, P(3)), aioc_spawn(arrive, P(1)),
                          aioc_spawn(arrive, P(2))};
        aioc_sleep(2.5);
        CHECK_EQ(aioc_barrier_waiting(&br), 2);
        void *r[3];
        CHECK_ERR(aioc_gather(t, 3, r), 0);
        CHECK_EQ(I(r[1]), 0); /* arrival order */
        CHECK_EQ(I(r[2]), 1);
        CHECK_EQ(I(r[0]), 2);
        CHECK_EQ(aioc_barrier_waiting(&br), 0);
    }
    /* one waiter gives up: it no longer counts */
    aioc_task quitter = aioc_spawn(arrive, P(0));
    aioc_task x = aioc_spawn(arrive, P(1));
    aioc_sleep(0.5);
    aioc_cancel(quitter);
    CHECK_ERR(aioc_await(quitter, NULL), -ECANCELED);
    aioc_sleep(1);
    CHECK_EQ(aioc_barrier_waiting(&br), 1);
    /* abort breaks the waiter and later waits, until a reset */
    aioc_barrier_abort(&br);
    void *r;
    CHECK_ERR(aioc_await(x, &r), 0);
    CHECK_ERR(I(r), AIOC_EBROKEN);
    CHECK_ERR(aioc_barrier_wait(&br), AIOC_EBROKEN);
    aioc_barrier_reset(&br);
    aioc_barrier one;
    aioc_barrier_init(&one, 1);
    CHECK_EQ(aioc_barrier_wait(&one), 0); /* a party of one passes at once */
    CHECK_ERR(aioc_barrier_destroy(&br), 0);
    return NULL;
}

static aioc_event ev_destroy = AIOC_EVENT_INIT;

static void *event_waiter(void *arg) {
    (void)arg;
    return P(aioc_event_wait(&ev_destroy));
}

TASK_TEST_VIRTUAL(destroying_a_waited_primitive_is_ebusy) {
    aioc_task t = aioc_spawn(event_waiter, NULL);
    aioc_yield();
    CHECK_ERR(aioc_event_destroy(&ev_destroy), -EBUSY);
    aioc_event_set(&ev_destroy);
    CHECK_ERR(aioc_await(t, NULL), 0);
    CHECK_ERR(aioc_event_destroy(&ev_destroy), 0);
    return NULL;
}

/* Thousands of tasks contending on one lock: mutual exclusion holds and
 * every task gets its turn. */
static int counter, in_critical;

static void *contender(void *arg) {
    int rounds = I(arg);
    for (int i = 0; i < rounds; i++) {
        CHECK_ERR(aioc_lock_acquire(&lk), 0);
        CHECK_EQ(++in_critical, 1);
        int seen = counter;
        aioc_yield(); /* others run while we hold it */
        counter = seen + 1;
        in_critical--;
        CHECK_ERR(aioc_lock_release(&lk), 0);
    }
    return NULL;
}

TASK_TEST_VIRTUAL(lock_stress_thousands_of_tasks) {
    counter = in_critical = 0;
    aioc_lock_init(&lk);
    enum { TASKS = 3000, ROUNDS = 5 };
    aioc_task *t = calloc(TASKS, sizeof *t);
    for (int i = 0; i < TASKS; i++)
        t[i] = aioc_spawn(contender, P(ROUNDS));
    CHECK_ERR(aioc_gather(t, TASKS, NULL), 0);
    CHECK_EQ(counter, TASKS * ROUNDS);
    free(t);
    return NULL;
}

/* Two tasks taking two locks in opposite orders: the loop reports the
 * deadlock instead of hanging. */
static aioc_lock first = AIOC_LOCK_INIT, second = AIOC_LOCK_INIT;

static void *take_both(void *arg) {
    aioc_lock *a = I(arg) ? &first : &second, *b = I(arg) ? &second : &first;
    aioc_lock_acquire(a);
    aioc_yield();
    aioc_lock_acquire(b); /* each now waits for the other */
    aioc_lock_release(b);
    aioc_lock_release(a);
    return NULL;
}

static void *lock_order_deadlock(void *arg) {
    (void)arg;
    aioc_task t[2] = {aioc_spawn(take_both, P(1)), aioc_spawn(take_both, P(0))};
    aioc_gather(t, 2, NULL);
    return NULL;
}

TEST(lock_order_deadlock_is_reported) {
    CHECK_ERR(aioc_run(lock_order_deadlock, NULL, NULL), -EDEADLK);
}

/* A waiter notified and then cancelled before it runs keeps its notify:
 * it returns 0 holding the lock, and no other waiter was woken for it. */
TASK_TEST_VIRTUAL(condition_notify_survives_a_late_cancel) {
    order_len = items = 0;
    aioc_lock_init(&lk);
    aioc_cond_init(&cv);
    aioc_task a = aioc_spawn(consumer, P('a')), b = aioc_spawn(consumer, P('b'));
    aioc_sleep(1);
    aioc_lock_acquire(&lk);
    items = 1;
    CHECK_EQ(aioc_cond_notify(&cv, 1), 1); /* to a */
    aioc_lock_release(&lk);
    aioc_cancel(a); /* a is queued to run: the notify is already its own */
    void *r;
    CHECK_ERR(aioc_await(a, &r), -ECANCELED); /* status: cancelled... */
    CHECK_EQ(order_len, 1);
    CHECK_EQ(order[0], 'a');   /* ...but it consumed the item first */
    CHECK(!aioc_task_done(b)); /* b was not woken for a's notify */
    aioc_cancel(b);
    CHECK_ERR(aioc_await(b, NULL), -ECANCELED);
    return NULL;
}
