/* Every test of aioc_redis, one X(name) each; the runner and CMake read
 * this list (ctest names them redis_<name>; tests/test.h has the tags).
 * Each starts its own redis-server, or uses AIOC_REDIS_TEST_ADDR's. */
X(set_get_binary)
X(server_errors)
X(connect_forms)
X(pipeline_1000_tasks)
X(pool_1000_tasks)
X(cancel_mid_pipeline)
X(multi_exec)
X(pubsub_100_subscribers)
X(server_killed, stress)
X(pubsub_resubscribes)
X(server_blocking_on_writes)
