// argosay for WASI: the commands of Argo's own end-to-end test image (argoproj/argosay:v2), so Argo
// workflows written against it run on ww unchanged.
//
//	argosay                          print "hello argo"
//	argosay echo [TEXT [FILE]]       print TEXT ("hello argo" without it), or write it to FILE
//	argosay cat FILE...              print the files
//	argosay sleep DURATION           sleep a Go duration ("100ms", "2s", "1m")
//	argosay exit [CODE]              exit with CODE (0 without it)
//	argosay assert_contains FILE TEXT  fail unless FILE contains TEXT
//
// A failure prints "argosay: ERROR" on stderr and exits 2 (Argo's image panics, which also exits 2).
// `http` and `server` need sockets a WASI preview 1 guest cannot open, so they fail saying so.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const usage = "usage: argosay [assert_contains FILE TEXT|cat [FILE...]|echo [TEXT [FILE]]|sleep DURATION|exit [CODE]]"

// exitCode asks main to exit with a status, without printing anything.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit code %d", int(e)) }

func main() {
	err := argosay(os.Args[1:])
	var code exitCode
	switch {
	case err == nil:
	case errors.As(err, &code):
		os.Exit(int(code))
	default:
		fmt.Fprintf(os.Stderr, "argosay: %v\n", err)
		os.Exit(2)
	}
}

func argosay(args []string) error {
	if len(args) == 0 {
		args = []string{"echo"}
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "assert_contains":
		return assertContains(rest)
	case "cat":
		return cat(rest)
	case "echo":
		return echo(rest)
	case "exit":
		return exit(rest)
	case "sleep":
		return sleep(rest)
	case "http", "server":
		return fmt.Errorf("%s needs network sockets, which a WASI preview 1 module cannot open", cmd)
	}
	return errors.New(usage)
}

func assertContains(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: argosay assert_contains FILE TEXT")
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	if !strings.Contains(string(data), args[1]) {
		return fmt.Errorf("expected %q to contain %q, but was %q", args[0], args[1], string(data))
	}
	return nil
}

func cat(files []string) error {
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		_, err = io.Copy(os.Stdout, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// echo prints to stdout (Argo's Go argosay prints with println, which is stderr; its shell version
// and every use of the output as a step's result want stdout). To a FILE it writes TEXT as is, with
// no newline added, creating the file's directory if need be.
func echo(args []string) error {
	switch len(args) {
	case 0:
		_, err := fmt.Println("hello argo")
		return err
	case 1:
		_, err := fmt.Println(args[0])
		return err
	case 2:
		if err := os.MkdirAll(filepath.Dir(args[1]), 0o777); err != nil {
			return err
		}
		return os.WriteFile(args[1], []byte(args[0]), 0o666)
	}
	return errors.New("usage: argosay echo [TEXT [FILE]]")
}

func exit(args []string) error {
	if len(args) != 1 {
		return nil
	}
	code, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	if code != 0 {
		return exitCode(code)
	}
	return nil
}

func sleep(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: argosay sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	if err != nil {
		return err
	}
	time.Sleep(d)
	return nil
}
