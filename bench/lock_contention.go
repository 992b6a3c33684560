// lock_contention (Go): 1,000 goroutines share one sync.Mutex; each, N /
// 1,000 times, locks it, increments a shared counter, unlocks it and calls
// runtime.Gosched, the counterpart of aioc_yield and asyncio.sleep(0), so
// every goroutine gets its turn between two of its own acquisitions. With
// more than one P the lock is really contended: goroutines on different
// threads collide on it.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

const tasks = 1000

func main() {
	n := count(1000000)
	each := n / tasks
	if each == 0 {
		each = 1
	}
	n = each * tasks // what actually runs, when N is not a multiple
	var mu sync.Mutex
	var counter int
	var wg sync.WaitGroup

	t0 := time.Now()
	wg.Add(tasks)
	for t := 0; t < tasks; t++ {
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
				runtime.Gosched()
			}
		}()
	}
	wg.Wait()
	wall := time.Since(t0)

	if counter != n {
		fmt.Fprintln(os.Stderr, "bench: wrong counter")
		os.Exit(1)
	}
	ns := float64(wall.Nanoseconds())
	fmt.Printf("RESULT name=lock_contention impl=go-%dp n=%d tasks=%d ns_per_op=%.1f "+
		"acq_per_s=%.0f wall_s=%.3f\n",
		runtime.GOMAXPROCS(0), n, tasks, ns/float64(n), float64(n)*1e9/ns, wall.Seconds())
}
