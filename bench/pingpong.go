// pingpong (Go): two goroutines hand a token back and forth over two
// unbuffered channels. The token is the number of hand-offs still to make,
// so N hand-offs are N channel transfers between the two goroutines.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

// player forwards the token, one less each time; at zero it closes its
// outgoing channel, which ends the peer's range loop in turn.
func player(in <-chan int, out chan<- int, made *int, wg *sync.WaitGroup) {
	defer wg.Done()
	for v := range in {
		if v == 0 {
			close(out)
			return
		}
		*made++
		out <- v - 1
	}
	close(out)
}

func main() {
	n := count(1000000)
	a, b := make(chan int), make(chan int)
	var made [2]int
	var wg sync.WaitGroup
	wg.Add(2)
	go player(a, b, &made[0], &wg)
	go player(b, a, &made[1], &wg)

	t0 := time.Now()
	a <- n
	wg.Wait()
	wall := time.Since(t0)

	if made[0]+made[1] != n {
		fmt.Fprintln(os.Stderr, "bench: wrong hand-off count")
		os.Exit(1)
	}
	fmt.Printf("RESULT name=pingpong impl=go-%dp n=%d ns_per_op=%.1f peak_rss_kb=%d wall_s=%.3f\n",
		runtime.GOMAXPROCS(0), n, float64(wall.Nanoseconds())/float64(n), peakRSSKB(), wall.Seconds())
}
