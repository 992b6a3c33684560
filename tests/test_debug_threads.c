/* Debug mode's check of thread-unsafe calls: a loop's event, lock, queue
 * (any primitive, any stream) used from another thread's loop, or from a
 * thread with no loop, is reported once per object and refused (-EXDEV,
 * AIOC_ENOLOOP, or for the calls returning nothing, nothing done), so
 * that neither loop's lists are corrupted. Work handed over with
 * aioc_loop_call is not reported. Off, nothing is checked: the same calls
 * are undefined behaviour, and only a use that happens to be harmless
 * (no task waits, the loops take turns) is tried here.
 *
 * stderr goes to a pipe (read after the run); the loops take turns
 * through an atomic flag that the second loop polls between sleeps, and
 * the first loop waits for the hand-over on an event: no test waits for a
 * time. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>

#include "capture_stderr.h"
#include "test.h"

/* How many times `needle` occurs in what was captured. */
static int captured_count(const char *needle) {
    int n = 0;
    for (const char *p = captured; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* "aioc debug: KIND ADDR of loop" for `obj`. */
static const char *report_of(const char *kind, const void *obj) {
    static char buf[128];
    snprintf(buf, sizeof buf, "aioc debug: %s %p of loop", kind, obj);
    return buf;
}

/* ------------------------------------- two loops, one's objects -- */

static aioc_event owned_event = AIOC_EVENT_INIT;
static aioc_lock owned_lock = AIOC_LOCK_INIT;
static aioc_queue *owned_queue;
static aioc_event handed = AIOC_EVENT_INIT; /* loop 0's, set through aioc_loop_call */
static atomic_int claimed;                  /* loop 0 has used its objects */
static int item = 7;

static void set_handed(void *arg) {
    (void)arg;
    aioc_event_set(&handed); /* runs on loop 0: its own event */
}

/* Loop 1's task: uses loop 0's objects, then hands over properly. */
static void *intrude(void *arg) {
    int expected = *(int *)arg; /* -EXDEV in debug mode, 0 without */
    while (!atomic_load(&claimed))
        CHECK_ERR(aioc_sleep(0.001), 0);
    void *got = NULL;
    if (expected) { /* refused before anything is touched, so waits return */
        CHECK_ERR(aioc_event_wait(&owned_event), expected);
        aioc_event_set(&owned_event);
        CHECK_ERR(aioc_lock_acquire(&owned_lock), expected);
        CHECK_ERR(aioc_queue_get(owned_queue, &got), expected);
        CHECK_ERR(aioc_queue_put(owned_queue, &item), expected);
    }
    CHECK_ERR(aioc_lock_try_acquire(&owned_lock), expected);
    if (!expected)
        CHECK_ERR(aioc_lock_release(&owned_lock), 0);
    CHECK_ERR(aioc_queue_try_get(owned_queue, &got), expected);
    CHECK(got == (expected ? NULL : &item));
    CHECK_ERR(aioc_loop_call(aioc_loop_at(0), set_handed, NULL), 0);
    return NULL;
}

static void *two_loops(void *arg) {
    if (aioc_loop_index() == 1) {
        aioc_task t = aioc_spawn_with(intrude, arg, &(aioc_spawn_opts){.name = "intruder"});
        return aioc_await(t, NULL) == 0 ? NULL : (void *)1;
    }
    aioc_event_set(&owned_event); /* loop 0 uses its objects first */
    aioc_event_clear(&owned_event);
    CHECK_ERR(aioc_lock_try_acquire(&owned_lock), 0);
    CHECK_ERR(aioc_lock_release(&owned_lock), 0);
    CHECK_ERR(aioc_queue_try_put(owned_queue, &item), 0);
    atomic_store(&claimed, 1);
    CHECK_ERR(aioc_event_wait(&handed), 0);
    CHECK(!aioc_event_is_set(&owned_event)); /* the other loop's set was refused */
    CHECK(!aioc_lock_locked(&owned_lock));
    return NULL;
}

/* Runs two loops, the second using the first's objects; returns with
 * stderr captured. */
static void run_two_loops(int debug, int expected) {
    aioc_event_init(&owned_event);
    aioc_lock_init(&owned_lock);
    aioc_event_init(&handed);
    atomic_store(&claimed, 0);
    owned_queue = aioc_queue_new(AIOC_QUEUE_FIFO, 0, NULL);
    CHECK(owned_queue);
    capture_start();
    aioc_run_opts opts = {.loops = 2, .debug = debug};
    int err = aioc_run_with(two_loops, &expected, NULL, &opts);
    capture_stop();
    CHECK_ERR(err, 0);
    CHECK_ERR(aioc_queue_free(owned_queue, NULL, NULL), 0);
}

TEST(debug_mode_reports_a_loop_object_used_from_another_loop) {
    run_two_loops(1, -EXDEV);
    /* once per object, however often it is misused */
    CHECK(captured_count(report_of("event", &owned_event)) == 1);
    CHECK(captured_count(report_of("lock", &owned_lock)) == 1);
    CHECK(captured_count(report_of("queue", owned_queue)) == 1);
    const char *r = strstr(captured, report_of("lock", &owned_lock));
    CHECK(strstr(r, " used from another thread's loop (task 'intruder' (id "));
    CHECK(strstr(r, "spawned at ") && strstr(r, "test_debug_threads.c:"));
    CHECK(strstr(r, "hand work over with aioc_loop_call"));
    /* the hand-over through aioc_loop_call is the right way: not reported */
    CHECK(!strstr(captured, report_of("event", &handed)));
    CHECK(captured_count("aioc debug: ") == 3);
}

TEST(debug_mode_off_does_not_check_loop_objects) {
    run_two_loops(0, 0);
    CHECK(!strstr(captured, "aioc debug: "));
}

/* ----------------------------------------- a thread with no loop -- */

static aioc_event loop_event = AIOC_EVENT_INIT;
static aioc_sem loop_sem = AIOC_SEM_INIT(0);
static int plain_thread_sem_err;

static void *plain_thread(void *arg) {
    (void)arg;
    aioc_event_set(&loop_event);
    plain_thread_sem_err = aioc_sem_release(&loop_sem);
    return NULL;
}

static void *loop_with_plain_thread(void *arg) {
    (void)arg;
    aioc_event_set(&loop_event); /* the loop's own */
    aioc_event_clear(&loop_event);
    CHECK_ERR(aioc_sem_try_acquire(&loop_sem), -EAGAIN);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, plain_thread, NULL) == 0);
    CHECK(pthread_join(th, NULL) == 0); /* blocks the loop briefly: fine here */
    CHECK_ERR(plain_thread_sem_err, AIOC_ENOLOOP);
    CHECK(!aioc_event_is_set(&loop_event));
    CHECK(aioc_sem_value(&loop_sem) == 0);
    return NULL;
}

TEST(debug_mode_reports_a_loop_object_used_from_a_thread_with_no_loop) {
    aioc_event_init(&loop_event);
    aioc_sem_init(&loop_sem, 0);
    capture_start();
    aioc_run_opts opts = {.debug = 1};
    int err = aioc_run_with(loop_with_plain_thread, NULL, NULL, &opts);
    capture_stop();
    CHECK_ERR(err, 0);
    const char *r = strstr(captured, report_of("event", &loop_event));
    CHECK(r && strstr(r, " used from a thread with no loop (no task)"));
    CHECK(strstr(captured, report_of("semaphore", &loop_sem)));
}

/* ------------------------------------ an owner lasts as its loop -- */

static void *use_event(void *arg) {
    (void)arg;
    aioc_event_set(&loop_event);
    aioc_event_clear(&loop_event);
    return NULL;
}

static void *run_use_event(void *arg) {
    aioc_run_opts opts = {.debug = 1};
    *(int *)arg = aioc_run_with(use_event, NULL, NULL, &opts);
    return NULL;
}

/* A loop's claim ends with it: a loop of another thread, run after it,
 * uses the same event freely. */
TEST(debug_mode_forgets_a_loops_objects_when_it_ends) {
    aioc_event_init(&loop_event);
    capture_start();
    int first = -1, second = -1;
    run_use_event(&first);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, run_use_event, &second) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    capture_stop();
    CHECK_ERR(first, 0);
    CHECK_ERR(second, 0);
    CHECK(!strstr(captured, "aioc debug: "));
}

/* ------------------------------------ a task handle of another loop -- */

static _Atomic uint64_t worker_id; /* loop 0's worker, published for loop 1 */
static aioc_event worker_go = AIOC_EVENT_INIT;
static int handle_errors[4];

static void let_worker_go(void *arg) {
    (void)arg;
    aioc_event_set(&worker_go); /* runs on loop 0 */
}

static void *worker(void *arg) {
    (void)arg;
    CHECK_ERR(aioc_event_wait(&worker_go), 0);
    return P(42);
}

/* Loop 1's task: at the same slot of loop 1's table as the worker in loop
 * 0's (both are the second task of their loop), so without the loop's tag
 * in the handle, cancelling the worker's handle would cancel this task. */
static void *handle_intruder(void *arg) {
    (void)arg;
    while (!atomic_load(&worker_id))
        CHECK_ERR(aioc_sleep(0.001), 0);
    aioc_task h = {atomic_load(&worker_id)};
    handle_errors[0] = aioc_cancel(h);
    handle_errors[1] = aioc_await(h, NULL);
    handle_errors[2] = aioc_detach(h);
    handle_errors[3] = aioc_gather(&h, 1, NULL);
    CHECK_ERR(aioc_loop_call(aioc_loop_at(0), let_worker_go, NULL), 0);
    return NULL;
}

static void *handles_of_two_loops(void *arg) {
    (void)arg;
    if (aioc_loop_index() == 1) {
        aioc_task t = aioc_spawn(handle_intruder, NULL);
        CHECK_ERR(aioc_await(t, NULL), 0); /* it ran to its end: not cancelled */
        return NULL;
    }
    aioc_task w = aioc_spawn_with(worker, NULL, &(aioc_spawn_opts){.name = "worker"});
    atomic_store(&worker_id, w.id);
    void *got = NULL;
    CHECK_ERR(aioc_await(w, &got), 0); /* untouched by loop 1's calls */
    CHECK(got == P(42));
    return NULL;
}

static void run_handles_of_two_loops(int debug) {
    aioc_event_init(&worker_go);
    atomic_store(&worker_id, 0);
    memset(handle_errors, 0, sizeof handle_errors);
    capture_start();
    aioc_run_opts opts = {.loops = 2, .debug = debug};
    int err = aioc_run_with(handles_of_two_loops, NULL, NULL, &opts);
    capture_stop();
    CHECK_ERR(err, 0);
    for (int i = 0; i < 4; i++)
        CHECK_ERR(handle_errors[i], -EXDEV);
}

/* A task handle names a slot of its loop's table; every loop tags its
 * handles, so another loop's calls refuse them (-EXDEV), debug mode or
 * not, and debug mode also says so. */
TEST(a_task_handle_of_another_loop_is_refused) {
    run_handles_of_two_loops(0);
    CHECK(!strstr(captured, "aioc debug: "));
    run_handles_of_two_loops(1);
    const char *r = strstr(captured, "aioc debug: a task handle (id ");
    CHECK(r && strstr(r, ") of another loop used from task 'task-"));
    CHECK(captured_count("aioc debug: a task handle (id ") == 4);
}
