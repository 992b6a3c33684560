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
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

func count(def int) int {
	if len(os.Args) > 1 {
		if n, err := strconv.Atoi(os.Args[1]); err == nil && n > 0 {
			return n
		}
	}
	return def
}

func peakRSSKB() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Maxrss
}

// rssKB reads the current resident set size from /proc/self/statm.
func rssKB() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, res int64
	fmt.Sscan(string(b), &size, &res)
	return res * int64(os.Getpagesize()) / 1024
}

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
