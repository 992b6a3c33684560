/* Every test of aioc_ws, one X(name) each (ctest names them ws_<name>;
 * tests/test.h has the tags). */
X(frame_parser_and_utf8)
X(echo_aioc_client_and_server)
X(echo_over_tls)
X(deflate_between_aioc_peers)
X(python_client, needs("/usr/bin/python3"))
X(python_server, needs("/usr/bin/python3"))
X(conformance_raw_frames)
X(deadlines_and_back_pressure)
X(cancel_during_recv)
X(heartbeat_closes_a_dead_peer)
X(client_refuses_bad_servers)
/* 10,000 connections on one loop (1,000 under ASan); not under Valgrind,
 * which would take minutes over it and measure its own memory */
X(idle_connections_memory, stress, no_valgrind)
