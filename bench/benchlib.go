// Helpers shared by the Go benchmark programs. Each program is built
// together with this file (run.sh: go build benchlib.go NAME.go), so the
// argument parsing, memory figures and delay sequence are the same in all
// of them, and the same as the C versions' bench.h.
package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// count is the optional first argument, the operation count (default def).
func count(def int) int {
	if len(os.Args) > 1 {
		if n, err := strconv.Atoi(os.Args[1]); err == nil && n > 0 {
			return n
		}
	}
	return def
}

// peakRSSKB is the peak resident set size of the process so far, KiB.
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

// delaysMS is the shared delay sequence, n values in 0..1000 ms: xorshift64
// (13, 7, 17) from seed 42, as in every other language, so all
// implementations sleep the same delays.
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
