/* Every test of aioc_uring, one X(name) each; the runner and CMake read
 * this list (ctest names them uring_<name>; tests/test.h has the tags).
 * First the core's file tests (tests/test_file.c), run on io_uring; then
 * the engine's own (test_uring.c). */
X(file_read_write_pread_pwrite_sync_stat)
X(fs_whole_files_dirs_rename_copy)
X(file_errors_enoent_eisdir_ebadf_and_more)
X(file_calls_outside_a_task_are_enotask)
X(file_errors_eacces)
X(file_errors_efbig_past_the_size_limit)
X(file_errors_enospc_on_a_tiny_tmpfs)
X(file_removed_while_being_read)
X(file_cancel_mid_read_frees_the_late_result)
X(file_hundred_concurrent_reads)
X(file_ten_thousand_concurrent_reads, stress)
X(file_atomic_write_leaves_old_or_new_content)
X(file_engine_set_get_and_pinned)
X(file_partial_writes_continue_where_they_stopped)
X(file_cancel_many_reads_in_flight)
X(engine_is_installed_and_probed)
X(ops_go_through_the_ring)
X(cancel_interrupts_a_blocked_read)
X(loop_ends_with_reads_in_flight)
X(rings_per_loop_in_threads)
