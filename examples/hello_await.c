/* The first program, from Python:
 *
 *     async def func():
 *         return 1
 *
 *     async def main():
 *         print(await func())
 *
 *     asyncio.run(main())
 *
 * In aioc a task is a coroutine with its own stack, so `await func()` is a
 * plain call: func() could suspend (sleep, read a socket) and the caller
 * would simply wait for it, while other tasks run. */
#include <aioc.h>
#include <stdint.h>
#include <stdio.h>

static void *func(void *arg) {
    (void)arg;
    return (void *)1;
}

static void *main_task(void *arg) {
    (void)arg;
    printf("%d\n", (int)(intptr_t)func(NULL));
    return NULL;
}

int main(void) {
    int status = aioc_run(main_task, NULL, NULL);
    if (status)
        fprintf(stderr, "hello_await: %s\n", aioc_strerror(status));
    return status ? 1 : 0;
}
