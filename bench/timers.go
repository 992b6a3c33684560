// timers (Go): N goroutines each sleep a pseudo-random 0..1000 ms (the
// shared xorshift64 sequence, seed 42). Reports the wall time and the worst
// lateness: max over goroutines of (wake - (clock before sleeping + delay)),
// and the lateness of the goroutine that woke last.
package main

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

func main() {
	n := count(1000000)
	delays := delaysMS(n)
	// Each goroutine records its own wake time and lateness; they run in
	// parallel, so the maxima are taken after the wait, not shared live.
	woke := make([]int64, n)
	late := make([]int64, n)
	var wg sync.WaitGroup

	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func(i int, d time.Duration) {
			due := time.Now().Add(d)
			time.Sleep(d)
			now := time.Now()
			woke[i] = int64(now.Sub(t0))
			late[i] = int64(now.Sub(due))
			wg.Done()
		}(i, time.Duration(delays[i])*time.Millisecond)
	}
	wg.Wait()
	wall := time.Since(t0)

	var maxLate, lastWoke, lastLate int64
	for i := range late {
		if late[i] > maxLate {
			maxLate = late[i]
		}
		if woke[i] >= lastWoke {
			lastWoke, lastLate = woke[i], late[i]
		}
	}

	fmt.Printf("RESULT name=timers impl=go-%dp n=%d wall_s=%.3f max_late_ms=%.2f last_late_ms=%.2f peak_rss_kb=%d\n",
		runtime.GOMAXPROCS(0), n, wall.Seconds(), float64(maxLate)/1e6, float64(lastLate)/1e6, peakRSSKB())
}
