/* Every test of aioc_uring, one X(name) each; the runner and CMake read
 * this list (ctest names them uring_<name>; tests/test.h has the tags).
 * First the core's file tests (tests/test_file.c), run on io_uring: the
 * core's own list of them, tests/file-list.h, included; then the
 * engine's own (test_uring.c). */
#include "file-list.h"
X(engine_is_installed_and_probed)
X(ops_go_through_the_ring)
X(cancel_interrupts_a_blocked_read)
X(cancelled_before_submission_does_nothing)
X(loop_ends_with_reads_in_flight)
X(rings_per_loop_in_threads)
