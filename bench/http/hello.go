// hello.go: the HTTP hello-world server on Go's net/http, for
// bench/http/run.sh. Every request gets 200 "Hello, World!\n" as
// text/plain (net/http adds Date, Content-Length, keep-alive).
//
//	go build -o hello_go hello.go && taskset -c 0 ./hello_go [PORT [CERT KEY]]
//
// With CERT and KEY (PEM files) it serves HTTPS (crypto/tls).
//
// Prints "READY port=P pid=N gomaxprocs=G" once it listens on 127.0.0.1
// (PORT 0, the default: any free one) and serves until killed. GOMAXPROCS
// is Go's default: the CPUs taskset allows.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
)

var hello = []byte("Hello, World!\n")

func main() {
	port := "0"
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hello_go:", err)
		os.Exit(1)
	}
	fmt.Printf("READY port=%d pid=%d gomaxprocs=%d\n", ln.Addr().(*net.TCPAddr).Port,
		os.Getpid(), runtime.GOMAXPROCS(0))
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(hello)
	})
	if len(os.Args) > 3 {
		err = http.ServeTLS(ln, nil, os.Args[2], os.Args[3])
	} else {
		err = http.Serve(ln, nil)
	}
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
