// timers_cb (Go): the callback-timer benchmark with time.AfterFunc, Go's
// nearest thing to call_later (each expiry runs its function in a new
// goroutine). Same delays and measures as the C and Python versions;
// sched_s is the time the N AfterFunc calls took.
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

func delaysMS(n int) []uint32 {
	d := make([]uint32, n)
	s := uint64(42)
	for i := range d {
		s ^= s << 13
		s ^= s >> 7
		s ^= s << 17
		d[i] = uint32(s % 1001)
	}
	return d
}

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
