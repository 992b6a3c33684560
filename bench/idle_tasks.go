// idle_tasks (Go): N goroutines sleep 1 s all at once. Reports the wall
// time and the resident memory each goroutine adds (peak RSS minus the RSS
// before spawning, divided by N).
//
// A goroutine starts running as soon as it is spawned, while an aioc or
// asyncio task first runs only when its spawner waits. Spawning a million
// takes longer than a second here, so without the start gate below the
// first goroutines would have finished before the last began, fewer than N
// would ever sleep at once, and the memory per goroutine would look
// smaller than it is. alive reports how many were parked at the gate.
package main

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

func main() {
	n := count(1000000)
	var wg sync.WaitGroup
	start := make(chan struct{})
	base := rssKB()

	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			<-start
			time.Sleep(time.Second)
			wg.Done()
		}()
	}
	alive := runtime.NumGoroutine() - 1
	close(start)
	wg.Wait()
	wall := time.Since(t0)

	peak := peakRSSKB()
	fmt.Printf("RESULT name=idle_tasks impl=go-%dp n=%d wall_s=%.3f rss_per_task_b=%.0f peak_rss_kb=%d alive=%d\n",
		runtime.GOMAXPROCS(0), n, wall.Seconds(), float64(peak-base)*1024/float64(n), peak, alive)
}
