/* Every test of aioc_pg, one X(name) each; the runner and CMake read this
 * list (ctest names them pg_<name>; tests/test.h has the tags). Each runs
 * against the suite's PostgreSQL server (the pg_server fixture). */
X(connect_tcp_unix_url)
X(connect_errors)
X(query_values)
X(binary_values)
X(sqlstate)
X(pipeline_values)
X(pipeline_error_middle)
X(prepared_cache)
X(transaction)
X(cancel_long_query)
X(cancel_queued_query)
X(pool_1000_tasks)
X(pool_broken_connection)
X(notify)
X(copy_in_out)
X(server_restart_under_load, stress)
