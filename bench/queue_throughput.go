// queue_throughput (Go): N items through one buffered channel of capacity
// maxsize, from P producer goroutines to C consumer goroutines, each
// producer sending its share (N / P, the first N % P one more). The channel
// is closed once every producer has finished, which ends the consumers'
// range loops after they have drained it, as aioc's graceful shutdown does.
//
//	queue_throughput_go [N] [CASE]
//
// CASE is PxC_maxM (e.g. 8x8_max1024); without it the four standard cases
// run one after the other, one RESULT line each.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

var cases = []string{"1x1_max1", "1x1_max1024", "8x8_max1", "8x8_max1024"}

func oneCase(n int, name string) {
	var np, nc, maxsize int
	var tail string
	if k, _ := fmt.Sscanf(name, "%dx%d_max%d%s", &np, &nc, &maxsize, &tail); k != 3 ||
		np <= 0 || nc <= 0 || maxsize <= 0 {
		fmt.Fprintln(os.Stderr, "bench: case must look like 8x8_max1024")
		os.Exit(1)
	}
	ch := make(chan int, maxsize)
	counts := make([]uint64, nc)
	sums := make([]uint64, nc)
	var producers, consumers sync.WaitGroup

	t0 := time.Now()
	consumers.Add(nc)
	for c := 0; c < nc; c++ {
		go func(c int) {
			defer consumers.Done()
			// locals, written back once: no false sharing between consumers
			var count, sum uint64
			for v := range ch {
				count++
				sum += uint64(v)
			}
			counts[c], sums[c] = count, sum
		}(c)
	}
	producers.Add(np)
	for p, first := 0, 0; p < np; p++ {
		share := n / np
		if p < n%np {
			share++
		}
		go func(first, share int) {
			defer producers.Done()
			for i := first + 1; i <= first+share; i++ {
				ch <- i
			}
		}(first, share)
		first += share
	}
	producers.Wait()
	close(ch)
	consumers.Wait()
	wall := time.Since(t0)

	var count, sum uint64
	for c := 0; c < nc; c++ {
		count += counts[c]
		sum += sums[c]
	}
	if count != uint64(n) || sum != uint64(n)*uint64(n+1)/2 {
		fmt.Fprintln(os.Stderr, "bench: wrong item count or sum")
		os.Exit(1)
	}
	ns := float64(wall.Nanoseconds())
	fmt.Printf("RESULT name=queue_%s impl=go-%dp n=%d producers=%d consumers=%d maxsize=%d "+
		"ns_per_op=%.1f items_per_s=%.0f wall_s=%.3f\n",
		name, runtime.GOMAXPROCS(0), n, np, nc, maxsize, ns/float64(n), float64(n)*1e9/ns,
		wall.Seconds())
}

func main() {
	n := count(1000000)
	if len(os.Args) > 2 {
		oneCase(n, os.Args[2])
		return
	}
	for _, c := range cases {
		oneCase(n, c)
	}
}
