/* Starting and stopping the test's own nginx: see nginx.h. Runs before
 * the loop starts and after it ends, so it blocks freely. */
#include "nginx.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define NGINX "/usr/sbin/nginx"

static int write_file(const char *dir, const char *name, size_t size, const char *text) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    if (text)
        fputs(text, f);
    for (size_t i = 0; !text && i < size; i++)
        putc(pattern_byte(i), f);
    return fclose(f);
}

static int listening(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static void remove_dir(nginx *n) { remove_tree(n->dir); }

static int start(nginx *n, const char *cert, const char *key) {
    memset(n, 0, sizeof *n);
    if (access(NGINX, X_OK) != 0) {
        fprintf(stderr, "%s is missing\n", NGINX);
        return -1;
    }
    strcpy(n->dir, "/tmp/aioc-curl-XXXXXX");
    if (!mkdtemp(n->dir))
        return -1;
    char www[96], conf[96];
    snprintf(www, sizeof www, "%s/www", n->dir);
    snprintf(conf, sizeof conf, "%s/nginx.conf", n->dir);
    if (mkdir(www, 0755) || write_file(www, "small.txt", 0, SMALL_BODY) ||
        write_file(www, "medium.bin", MEDIUM_SIZE, NULL) ||
        write_file(www, "large.bin", LARGE_SIZE, NULL)) {
        remove_dir(n);
        return -1;
    }
    char tls[320] = "";
    if (cert)
        snprintf(tls, sizeof tls, "    ssl_certificate %s;\n    ssl_certificate_key %s;\n", cert,
                 key);
    for (int attempt = 0; attempt < 5; attempt++) {
        n->port = free_port();
        FILE *f = fopen(conf, "w");
        if (!f)
            break;
        fprintf(f,
                "daemon off;\nmaster_process off;\nworker_processes 1;\n"
                "pid %1$s/nginx.pid;\nerror_log %1$s/error.log warn;\n"
                "events { worker_connections 1024; }\n"
                "http {\n"
                "  access_log off;\n"
                "  client_body_temp_path %1$s/body;\n"
                "  proxy_temp_path %1$s/proxy;\n"
                "  fastcgi_temp_path %1$s/fastcgi;\n"
                "  uwsgi_temp_path %1$s/uwsgi;\n"
                "  scgi_temp_path %1$s/scgi;\n"
                "  keepalive_requests 100000;\n"
                "  keepalive_timeout 60s;\n"
                "  server {\n"
                "    listen 127.0.0.1:%2$d%3$s;\n"
                "%4$s"
                "    root %1$s/www;\n"
                "    location = /redirect { return 301 /small.txt; }\n"
                "  }\n"
                "}\n",
                n->dir, n->port, cert ? " ssl" : "", tls);
        fclose(f);
        pid_t pid = child_fork();
        if (pid == 0) { /* its output goes to its log, not our pipes */
            char log[96];
            snprintf(log, sizeof log, "%s/error.log", n->dir);
            int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
            execl(NGINX, NGINX, "-p", n->dir, "-c", conf, "-e", log, (char *)NULL);
            _exit(127);
        }
        if (pid < 0)
            break;
        n->pid = pid;
        int ready = child_wait_ready(pid, listening, n->port);
        if (ready == 0)
            return 0;
        if (ready > 0) { /* up but not listening */
            nginx_stop(n);
            return -1;
        }
        n->pid = 0; /* died: port taken? */
    }
    fprintf(stderr, "nginx did not start\n");
    remove_dir(n);
    return -1;
}

int nginx_start(nginx *n) { return start(n, NULL, NULL); }

int nginx_start_tls(nginx *n, const char *cert, const char *key) { return start(n, cert, key); }

void nginx_stop(nginx *n) {
    child_stop(&n->pid);
    if (n->dir[0])
        remove_dir(n);
    n->dir[0] = '\0';
}
