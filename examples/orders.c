/* The second program, from Python:
 *
 *     async def give_order(order):
 *         print(f"Processing {order}...")
 *         await asyncio.sleep(3 - order)
 *         print(f"Finished {order}")
 *
 *     async def main():
 *         await asyncio.gather(give_order(1), give_order(2), give_order(3))
 *
 *     asyncio.run(main())
 *
 * The three orders run concurrently, so the whole run takes about 2 s (the
 * longest sleep), not 3 s, and they finish in the order 3, 2, 1. */
#include <aioc.h>
#include <stdint.h>
#include <stdio.h>

static void *give_order(void *arg) {
    int order = (int)(intptr_t)arg;
    printf("Processing %d...\n", order);
    aioc_sleep(3 - order);
    printf("Finished %d\n", order);
    return NULL;
}

static void *main_task(void *arg) {
    (void)arg;
    aioc_task orders[] = {
        aioc_spawn(give_order, (void *)1),
        aioc_spawn(give_order, (void *)2),
        aioc_spawn(give_order, (void *)3),
    };
    int err = aioc_gather(orders, 3, NULL);
    return err ? aioc_fail(err) : NULL;
}

int main(void) {
    int status = aioc_run(main_task, NULL, NULL);
    if (status)
        fprintf(stderr, "orders: %s\n", aioc_strerror(status));
    return status ? 1 : 0;
}
