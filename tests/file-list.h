/* The file tests (tests/test_file.c), one X(name) each: the core's list
 * (test-list.h) includes it, and so does aioc_uring's
 * (adapters/uring/tests/uring-list.h), which runs every one of them again
 * with io_uring as the file engine. aioc_test_suite() follows the
 * #include, as the compiler does. */
X(file_read_write_pread_pwrite_sync_stat)
X(fs_whole_files_dirs_rename_copy)
X(file_errors_enoent_eisdir_ebadf_and_more)
X(file_from_fd_takes_the_descriptor_over_or_is_ebadf)
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
X(file_zero_copy_waits_for_its_system_call)
