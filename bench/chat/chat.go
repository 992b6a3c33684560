// chat.go: examples/chat.c's chat server written the usual Go way, for
// bench/chat/run.sh.
//
//	go build -o chat_go chat.go && ./chat_go [PORT]
//
// The same line protocol as examples/chat.c: the greeting "* nickname?", a
// nickname of 1 to 16 letters, digits, '-' or '_' that is not taken,
// "* NICK joined" to the others and "* welcome, NICK: N online (/who,
// /quit)" to the newcomer, every further line sent to all the others as
// "NICK: text", "/who", "/quit", "* NICK left". Empty lines are ignored,
// control characters become '?', a line longer than 1024 bytes ends the
// session, a last line without its newline is dropped.
//
// How: a goroutine per connection reads its lines (bufio.Reader); a line
// is broadcast, under the room's mutex, by a send on every other client's
// buffered channel (queueLines long). Each client has a writer goroutine
// that takes lines from its channel into a bufio.Writer and flushes when
// the channel is empty, so lines that queue up while it writes go out
// together. A client whose channel is full has stopped reading: it is
// disconnected and the others see "* NICK was too slow".
//
// Listens on 127.0.0.1:PORT (default 0: any free port), prints "listening
// on 127.0.0.1:PORT" as the C server does, and serves until killed (Ctrl-C
// tells everyone the server is shutting down). Under
// `taskset -c 0` the runtime sees one CPU, so GOMAXPROCS defaults to 1.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	maxNick    = 16
	maxLine    = 1024 // bytes of a line from a client, newline included
	queueLines = 4096 // lines waiting for a client: more and it is too slow
	linger     = 2 * time.Second
)

type client struct {
	nick   string
	conn   net.Conn
	out    chan []byte // lines for this client; closed when it leaves
	kicked bool        // under the room's mutex
}

// The room: everyone who has a nickname, in the order they joined.
var (
	mu    sync.Mutex
	room  = map[string]*client{}
	order []*client
)

// sendTo queues line for c without waiting, or drops c if its queue is
// full. Called with mu held.
func sendTo(c *client, line []byte) {
	if c.kicked {
		return
	}
	select {
	case c.out <- line:
	default:
		c.kicked = true
		c.conn.Close() // its reader sees the error and leaves
	}
}

// broadcast sends line to everyone in the room except from.
func broadcast(line []byte, from *client) {
	mu.Lock()
	defer mu.Unlock()
	for _, c := range order {
		if c != from {
			sendTo(c, line)
		}
	}
}

func tell(c *client, line string) {
	mu.Lock()
	sendTo(c, []byte(line))
	mu.Unlock()
}

// writer sends c's lines in order; it flushes when nothing more is queued,
// and ends when the channel is closed and empty, or the connection fails.
func writer(c *client, done chan<- struct{}) {
	defer close(done)
	w := bufio.NewWriter(c.conn)
	for line := range c.out {
		if _, err := w.Write(line); err != nil {
			break
		}
		if len(c.out) == 0 && w.Flush() != nil {
			break
		}
	}
	w.Flush()
	for range c.out { // the reader closes the channel once it has left
	}
}

var errTooLong = errors.New("line too long")

// readLine returns the next line without its end of line, printable;
// errTooLong (the client is told) or another error once the client is gone.
func readLine(r *bufio.Reader, say func(string)) (string, error) {
	line, err := r.ReadSlice('\n')
	if err == bufio.ErrBufferFull || len(line) > maxLine {
		say(fmt.Sprintf("* lines are at most %d bytes: bye\n", maxLine))
		return "", errTooLong
	}
	if err != nil {
		return "", err // a last line without its newline is dropped
	}
	line = bytes.TrimSuffix(line[:len(line)-1], []byte{'\r'})
	b := make([]byte, len(line))
	for i, ch := range line { // no terminal escapes for the others
		if ch < ' ' || ch == 0x7f {
			ch = '?'
		}
		b[i] = ch
	}
	return string(b), nil
}

func validNick(s string) bool {
	if len(s) < 1 || len(s) > maxNick {
		return false
	}
	for _, ch := range []byte(s) {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' ||
			ch == '-' || ch == '_') {
			return false
		}
	}
	return true
}

// join adds c to the room unless its nickname is taken.
func join(c *client) bool {
	mu.Lock()
	defer mu.Unlock()
	if _, taken := room[c.nick]; taken {
		return false
	}
	joined := []byte("* " + c.nick + " joined\n")
	for _, o := range order {
		sendTo(o, joined)
	}
	room[c.nick] = c
	order = append(order, c)
	sendTo(c, []byte(fmt.Sprintf("* welcome, %s: %d online (/who, /quit)\n", c.nick, len(order))))
	return true
}

// leave takes c out of the room and tells the others how it left.
func leave(c *client) {
	mu.Lock()
	delete(room, c.nick)
	for i, o := range order {
		if o == c {
			order = append(order[:i], order[i+1:]...)
			break
		}
	}
	how := "left"
	if c.kicked {
		how = "was too slow"
	}
	mu.Unlock()
	broadcast([]byte("* "+c.nick+" "+how+"\n"), nil)
}

func who() string {
	mu.Lock()
	defer mu.Unlock()
	var b strings.Builder
	b.WriteString("* online:")
	for _, o := range order {
		b.WriteString(" " + o.nick)
	}
	b.WriteString("\n")
	return b.String()
}

func session(conn net.Conn) {
	c := &client{conn: conn, out: make(chan []byte, queueLines)}
	done := make(chan struct{})
	go writer(c, done)
	say := func(s string) { tell(c, s) }
	r := bufio.NewReaderSize(conn, 64*1024)
	say("* nickname?\n")
	joined := false
	for !joined {
		nick, err := readLine(r, say)
		if err != nil {
			break
		}
		c.nick = nick
		if !validNick(nick) {
			say(fmt.Sprintf("* a nickname is 1 to %d letters, digits, - or _; nickname?\n", maxNick))
		} else if joined = join(c); !joined {
			say("* " + nick + " is taken; nickname?\n")
		}
	}
	for joined {
		text, err := readLine(r, say)
		if err != nil {
			break
		}
		if text == "" {
			continue
		}
		if text == "/quit" {
			say("* bye\n")
			break
		}
		if text == "/who" {
			say(who())
		} else if strings.HasPrefix(text, "/") {
			say("* unknown command; try /who or /quit\n")
		} else {
			broadcast([]byte(c.nick+": "+text+"\n"), c)
		}
	}
	if joined {
		leave(c)
	}
	// the writer sends what is queued, then ends; a client that does not
	// take it within linger is cut off
	mu.Lock()
	close(c.out)
	mu.Unlock()
	select {
	case <-done:
	case <-time.After(linger):
	}
	conn.Close()
}

// shutdown, on Ctrl-C: tells everyone, gives the writers up to a second to
// send what is queued, and ends the process by SIGINT, as the C server.
func shutdown(sigs chan os.Signal) {
	<-sigs
	broadcast([]byte("* the server is shutting down\n"), nil)
	for end := time.Now().Add(time.Second); time.Now().Before(end); {
		mu.Lock()
		queued := 0
		for _, c := range order {
			queued += len(c.out)
		}
		mu.Unlock()
		if queued == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond) // the last flushes
	signal.Reset(os.Interrupt)
	syscall.Kill(os.Getpid(), syscall.SIGINT)
}

func main() {
	port := "0"
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chat_go:", err)
		os.Exit(1)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt)
	go shutdown(sigs)
	fmt.Printf("listening on 127.0.0.1:%d\n", ln.Addr().(*net.TCPAddr).Port)
	for {
		conn, err := ln.Accept()
		if err != nil {
			continue // e.g. out of descriptors: try again
		}
		go session(conn)
	}
}
