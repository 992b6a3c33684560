// spawn_gather (Go): spawn N goroutines that each store their index in a
// results slice, wait for all with a sync.WaitGroup, check the sum.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

// round spawns n goroutines, waits for all, checks the sum; returns the
// elapsed time.
func round(n int, results []int) time.Duration {
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func(i int) {
			results[i] = i
			wg.Done()
		}(i)
	}
	wg.Wait()
	wall := time.Since(t0)

	sum := 0
	for _, r := range results {
		sum += r
	}
	if sum != n*(n-1)/2 {
		fmt.Fprintln(os.Stderr, "bench: wrong sum")
		os.Exit(1)
	}
	return wall
}

func main() {
	n := count(1000000)
	results := make([]int, n)
	// The first round is the figure; the second runs with memory already
	// touched and the runtime's free lists warm.
	cold := round(n, results)
	warm := round(n, results)
	fmt.Printf("RESULT name=spawn_gather impl=go-%dp n=%d ns_per_op=%.1f warm_ns_per_op=%.1f peak_rss_kb=%d wall_s=%.3f\n",
		runtime.GOMAXPROCS(0), n, float64(cold.Nanoseconds())/float64(n),
		float64(warm.Nanoseconds())/float64(n), peakRSSKB(), cold.Seconds())
}
