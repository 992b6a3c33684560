// timers_cb (Go): the callback-timer benchmark with time.AfterFunc, Go's
// nearest thing to call_later (each expiry runs its function in a new
// goroutine). Same delays and measures as the C and Python versions;
// sched_s is the time the N AfterFunc calls took.
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
	due := make([]int64, n) // ns since t0
	woke := make([]int64, n)
	var wg sync.WaitGroup

	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		d := time.Duration(delays[i]) * time.Millisecond
		due[i] = int64(time.Since(t0) + d)
		i := i
		time.AfterFunc(d, func() {
			woke[i] = int64(time.Since(t0))
			wg.Done()
		})
	}
	scheduled := time.Since(t0)
	wg.Wait()
	wall := time.Since(t0)

	var maxLate, lastWoke, lastLate int64
	for i := range woke {
		late := woke[i] - due[i]
		if late > maxLate {
			maxLate = late
		}
		if woke[i] >= lastWoke {
			lastWoke, lastLate = woke[i], late
		}
	}
	fmt.Printf("RESULT name=timers_cb impl=go-%dp n=%d wall_s=%.3f max_late_ms=%.2f last_late_ms=%.2f sched_s=%.3f peak_rss_kb=%d\n",
		runtime.GOMAXPROCS(0), n, wall.Seconds(), float64(maxLate)/1e6, float64(lastLate)/1e6,
		scheduled.Seconds(), peakRSSKB())
}
