# The nginx that bench/http/run.sh and bench/loops/run.sh measure against:
# its hello-world configuration, written in one place. Sourced by both,
# after HELLO (the response body, without its newline) is set.

# nginx_hello_conf DIR PORT WORKERS MASTER [LISTEN [DIRECTIVES]]: writes
# DIR/nginx.conf for an nginx answering every request on 127.0.0.1:PORT
# with 200 "$HELLO\n" (text/plain): WORKERS worker processes,
# master_process MASTER (on or off), keep-alive without a request limit,
# no access log; its error log, pid file and temporary files in DIR.
# LISTEN adds options to the listen directive (reuseport, ssl);
# DIRECTIVES is a line added to the server block (ssl_certificate ...).
# Prints DIR.
nginx_hello_conf() {
    local d=$1 port=$2 workers=$3 master=$4 listen=${5:-} directives=${6:-}
    mkdir -p "$d/tmp"
    cat >"$d/nginx.conf" <<CONF
worker_processes $workers;
daemon off;
master_process $master;
error_log $d/error.log;
pid $d/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000000;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    server {
        listen 127.0.0.1:$port backlog=511${listen:+ $listen};
        $directives
        location / {
            default_type text/plain;
            return 200 "$HELLO\n";
        }
    }
}
CONF
    echo "$d"
}
