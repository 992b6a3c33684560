/* Every test of the adapters together, one X(name) each; the runner and
 * CMake read this list (ctest names them web_<name>). */
X(curl_client_against_aioc_http)
X(curl_client_against_aioc_https)
X(https_server_refusals_and_errors)
X(https_server_requiring_client_certificates)
X(https_server_with_curl_and_python_clients)
X(curl_client_against_nginx_https)
