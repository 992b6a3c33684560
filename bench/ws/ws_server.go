// ws_server.go: the WebSocket benchmark's server on gorilla/websocket
// (Debian's golang-github-gorilla-websocket-dev), for bench/ws/run.sh: the
// same two routes as aioc_ws_server.c.
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o ws_server_go ws_server.go
//	./ws_server_go [PORT [CERT KEY]]
//
// net/http's server, a goroutine per connection reading with ReadMessage.
// /echo writes every message back with WriteMessage (text as text, binary
// as binary). /broadcast sends every message from any client to every
// client connected to /broadcast, the sender included: under the room's
// read lock, a WriteMessage to each client in turn, under that client's
// write mutex (gorilla allows one writer at a time). A write waits for a
// slow client; nothing is dropped. No permessage-deflate. Prints "READY
// port=P pid=N" once it listens on 127.0.0.1 and serves until killed;
// under `taskset -c 0` GOMAXPROCS defaults to 1.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"

	"github.com/gorilla/websocket"
)

type client struct {
	mu   sync.Mutex
	conn *websocket.Conn
}

var (
	upgrader = websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096}
	roomMu   sync.RWMutex
	room     = map[*client]struct{}{}
)

func echo(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	for {
		t, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		if c.WriteMessage(t, msg) != nil {
			return
		}
	}
}

func broadcast(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	me := &client{conn: conn}
	roomMu.Lock()
	room[me] = struct{}{}
	roomMu.Unlock()
	defer func() {
		roomMu.Lock()
		delete(room, me)
		roomMu.Unlock()
		conn.Close()
	}()
	for {
		t, msg, err := conn.ReadMessage()
		if err != nil {
			return
		}
		roomMu.RLock()
		for c := range room {
			c.mu.Lock()
			c.conn.WriteMessage(t, msg) // an error shows at that client's read
			c.mu.Unlock()
		}
		roomMu.RUnlock()
	}
}

func main() {
	port := "0"
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", echo)
	mux.HandleFunc("/broadcast", broadcast)
	fmt.Printf("READY port=%d pid=%d\n", ln.Addr().(*net.TCPAddr).Port, os.Getpid())
	srv := &http.Server{Handler: mux}
	if len(os.Args) > 3 {
		err = srv.ServeTLS(ln, os.Args[2], os.Args[3])
	} else {
		err = srv.Serve(ln)
	}
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
