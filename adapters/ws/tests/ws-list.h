/* Every test of aioc_ws, one X(name) each (ctest names them ws_<name>;
 * tests/test.h has the tags). */
X(frame_parser_and_utf8)
X(echo_aioc_client_and_server)
X(echo_over_tls)
X(deflate_between_aioc_peers)
