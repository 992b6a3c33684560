// client.go: the HTTP client benchmark on Go's net/http, for
// bench/http/run.sh. CONC goroutines share a count of REQS GET requests
// to URL through one http.Client whose Transport keeps up to CONC idle
// connections to the host (MaxIdleConnsPerHost), so connections are
// reused; each body is read to its end and closed.
//
//	go build -o client_go client.go
//	taskset -c 1 ./client_go URL REQS CONC
//
// Prints "RESULT name=client impl=go ... client_ns_per_req=..." with the
// CPU time (getrusage, every thread) from the first request to the last
// response. Fails (exit status 1) on any error or non-200 answer.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: client_go URL REQS CONC")
		os.Exit(2)
	}
	url := os.Args[1]
	reqs, _ := strconv.ParseInt(os.Args[2], 10, 64)
	conc, _ := strconv.Atoi(os.Args[3])
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns: conc, MaxIdleConnsPerHost: conc}}
	var next, bodyBytes, failed int64
	var wg sync.WaitGroup
	t0, c0 := time.Now(), cpuSeconds()
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.AddInt64(&next, 1) <= reqs && atomic.LoadInt64(&failed) == 0 {
				resp, err := client.Get(url)
				if err != nil {
					fmt.Fprintln(os.Stderr, "client_go:", err)
					atomic.StoreInt64(&failed, 1)
					return
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				atomic.AddInt64(&bodyBytes, n)
				if err != nil || resp.StatusCode != 200 {
					fmt.Fprintln(os.Stderr, "client_go: status", resp.StatusCode, err)
					atomic.StoreInt64(&failed, 1)
					return
				}
			}
		}()
	}
	wg.Wait()
	secs, cpu := time.Since(t0).Seconds(), cpuSeconds()-c0
	if failed != 0 {
		os.Exit(1)
	}
	fmt.Printf("RESULT name=client impl=go reqs=%d conc=%d seconds=%.4f req_per_s=%.0f "+
		"client_ns_per_req=%.0f client_cpu_pct=%.1f body_bytes=%d gomaxprocs=%d\n",
		reqs, conc, secs, float64(reqs)/secs, cpu*1e9/float64(reqs), 100*cpu/secs,
		bodyBytes, runtime.GOMAXPROCS(0))
}
