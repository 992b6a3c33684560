/* An outside program on the installed aioc_redis (scripts/test-install.sh
 * builds it with pkg-config and with CMake): it starts a throwaway
 * redis-server on a Unix socket in a scratch directory (with aioc's own
 * subprocesses), runs the README's example against it (between the
 * markers below; test-install.sh checks that the README shows the same
 * code), checks the counts through a second connection, and stops the
 * server. Prints one line and exits 0, or says what failed and exits 1;
 * without redis-server it says so and exits 0. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* README example begins */
#include <aioc.h>
#include <aioc_redis.h>

static aioc_redis *db;

static void *count_visit(void *arg) { /* a task per visitor */
    const char *who = arg;
    redisReply *reply;
    int err = aioc_redis_command(db, &reply, "INCR visits:%s", who);
    if (err == 0) {
        printf("%s: visit %lld\n", who, reply->integer);
        aioc_redis_reply_free(reply); /* replies are the caller's */
    } else if (err == AIOC_REDIS_ESERVER) {
        printf("%s: %s\n", who, reply->str); /* the server's "-ERR ..." */
        aioc_redis_reply_free(reply);
    }
    return NULL;
}

static int visits(const char *addr) { /* "redis://127.0.0.1:6379/0" */
    int err;
    if (!(db = aioc_redis_connect(addr, NULL, &err)))
        return err;
    static const char *who[3] = {"ann", "bob", "cy"};
    aioc_task t[3];
    for (int i = 0; i < 3; i++) /* one connection: the INCRs go out together */
        t[i] = aioc_spawn(count_visit, (void *)who[i]);
    err = aioc_gather(t, 3, NULL);
    aioc_redis_close(db);
    return err;
}
/* README example ends */

static char dir[64], sock[96];

static void *failed(const char *what, int err) {
    fprintf(stderr, "use_redis: %s: %s\n", what, aioc_redis_strerror(err));
    return aioc_fail(err ? err : -EIO);
}

static void *main_task(void *arg) {
    (void)arg;
    const char *argv[] = {"redis-server",
                          "--port",
                          "0",
                          "--unixsocket",
                          sock,
                          "--save",
                          "",
                          "--dir",
                          dir,
                          "--appendonly",
                          "no",
                          "--logfile",
                          "",
                          NULL};
    aioc_process_opts po = {.stdout_mode = AIOC_STDIO_DEVNULL};
    int err;
    aioc_process *server = aioc_process_spawn(argv, &po, &err);
    if (!server) {
        printf("use_redis: skipped: redis-server cannot run (%s)\n", aioc_strerror(err));
        return NULL;
    }
    /* the server is up once it accepts a connection (at most 10 s) */
    aioc_redis *check = NULL;
    for (int i = 0; i < 200; i++) {
        if ((check = aioc_redis_connect(sock, NULL, &err)) != NULL)
            break;
        aioc_sleep(0.05);
    }
    void *result = NULL;
    if (err) {
        result = failed("connect", err);
    } else if ((err = visits(sock)) != 0) {
        result = failed("the README example", err);
    } else {
        redisReply *r = NULL;
        err = aioc_redis_command(check, &r, "MGET visits:ann visits:bob visits:cy");
        int ok = !err && r->type == REDIS_REPLY_ARRAY && r->elements == 3;
        for (size_t i = 0; ok && i < 3; i++)
            ok = r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, "1") == 0;
        aioc_redis_reply_free(r);
        if (!ok)
            result = failed("the counts differ from those made", err);
        else
            printf("use_redis: 3 tasks, one connection, 3 INCRs counted (unix:%s)\n", sock);
    }
    aioc_redis_close(check);
    aioc_process_kill(server, SIGTERM);
    aioc_process_wait(server, NULL);
    aioc_process_free(server);
    return result;
}

int main(void) {
    strcpy(dir, "/tmp/use-redis-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(sock, sizeof sock, "%s/redis.sock", dir);
    int status = aioc_run(main_task, NULL, NULL);
    unlink(sock);
    rmdir(dir);
    return status == 0 ? 0 : 1;
}
