/* Included before tests/test_file.c in the io_uring suite: the file work
 * not yet released is the pool's jobs (aioc_fs_* stay there) and the
 * ring's operations. */
#include <aioc_uring.h>

unsigned long aioc__file_jobs_alive(void);
#define FILE_WORK_ALIVE() (aioc__file_jobs_alive() + aioc_uring_ops_in_flight())
