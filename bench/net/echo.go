// echo (Go): a TCP echo server with the net package, a goroutine per
// connection reading into a 4 KiB buffer and writing back what came.
//
//	go build -o echo_go echo.go && ./echo_go [PORT]
//
// Listens on 127.0.0.1:PORT (default 0: any free port), prints
// "READY port=P pid=N gomaxprocs=G" and serves until killed. Under
// `taskset -c 0` the runtime sees one CPU, so GOMAXPROCS defaults to 1;
// bench/net/run.sh drives it with loadgen as the other servers.
package main

import (
	"fmt"
	"net"
	"os"
	"runtime"
)

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	port := "0"
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo_go:", err)
		os.Exit(1)
	}
	fmt.Printf("READY port=%d pid=%d gomaxprocs=%d\n", ln.Addr().(*net.TCPAddr).Port,
		os.Getpid(), runtime.GOMAXPROCS(0))
	for {
		c, err := ln.Accept()
		if err != nil {
			continue // e.g. out of descriptors: try again
		}
		go serve(c)
	}
}
