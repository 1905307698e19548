// Command echo is a TCP echo server for ww. It opens no socket itself: WASI preview 1 has no way to
// bind or listen, so it takes the listening socket the host pre-opened at fd 3 (`ww run --listen
// HOST:PORT`), accepts connections on it and echoes every byte back until the client closes.
//
// Each connection runs in its own goroutine, so slow or idle clients do not hold up the others. One
// line per connection goes to stderr when it ends. An optional argument N makes the server stop after
// N connections (it waits for them to finish, then exits 0); without it the server runs until the
// listener fails, and then exits 1 after the open connections end.
//
// Build: GOOS=wasip1 GOARCH=wasm go build (scripts/build-examples.sh has the exact flags).
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
)

// listenerFD is where ww (like wazero's sock.WithTCPListener) puts the pre-opened listening socket:
// the first descriptor after stdin, stdout and stderr.
const listenerFD = 3

func main() {
	maxConns := 0 // 0: serve until the listener fails
	if len(os.Args) > 2 {
		fail(2, "usage: echo.wasm [MAX_CONNECTIONS]")
	}
	if len(os.Args) == 2 {
		n, err := strconv.Atoi(os.Args[1])
		if err != nil || n < 1 {
			fail(2, "usage: echo.wasm [MAX_CONNECTIONS]  (MAX_CONNECTIONS must be a positive integer, got %q)", os.Args[1])
		}
		maxConns = n
	}

	listener, err := net.FileListener(os.NewFile(listenerFD, "listener"))
	if err != nil {
		fail(1, "fd %d is not a listening socket (%v); run it with `ww run --listen HOST:PORT`", listenerFD, err)
	}
	fmt.Fprintf(os.Stderr, "echo: listening on fd %d\n", listenerFD)

	var open sync.WaitGroup
	accepted := 0
	for maxConns == 0 || accepted < maxConns {
		conn, err := listener.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "echo: accept failed: %v; exiting once the open connections end\n", err)
			open.Wait()
			os.Exit(1)
		}
		accepted++
		open.Add(1)
		go func(id int, conn net.Conn) {
			defer open.Done()
			echo(id, conn)
		}(accepted, conn)
	}
	listener.Close()
	open.Wait()
	fmt.Fprintf(os.Stderr, "echo: served %d connections, exiting\n", accepted)
}

// echo copies everything the client sends back to it, then closes the connection and logs one line.
func echo(id int, conn net.Conn) {
	n, err := io.Copy(conn, conn)
	closeErr := conn.Close()
	switch {
	case err != nil:
		fmt.Fprintf(os.Stderr, "echo: connection %d: %d bytes echoed, then %v\n", id, n, err)
	case closeErr != nil:
		fmt.Fprintf(os.Stderr, "echo: connection %d: %d bytes echoed, close failed: %v\n", id, n, closeErr)
	default:
		fmt.Fprintf(os.Stderr, "echo: connection %d: %d bytes echoed, closed by client\n", id, n)
	}
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "echo: "+format+"\n", args...)
	os.Exit(code)
}
