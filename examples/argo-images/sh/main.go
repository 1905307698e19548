// A POSIX shell for WASI preview 1: mvdan.cc/sh's interpreter with busybox-style applets.
//
//	sh -c SCRIPT [ARG0 [ARGS...]]   run SCRIPT ($0 = ARG0, $1... = ARGS)
//	sh FILE [ARGS...]               run the script in FILE
//	sh                              run the script read from stdin
//	sh -e|-u|-x|-o pipefail ...     shell options before any of the above
//	APPLET ARGS...                  argv[0] naming an applet runs it directly (busybox style)
//	busybox APPLET ARGS...          the same
//
// WASI has no exec, so every command that is not a shell builtin or function is looked up in the
// applet table (applets.go); anything else is "sh: NAME: not found", status 127.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

func main() {
	name := "sh"
	if len(os.Args) > 0 {
		name = commandName(os.Args[0])
	}
	args := os.Args[1:]
	if name == "busybox" && len(args) > 0 {
		name, args = commandName(args[0]), args[1:]
	}
	env := expand.ListEnviron(os.Environ()...)
	c := &cmd{ctx: context.Background(), in: os.Stdin, out: os.Stdout, errw: os.Stderr, dir: workDir(), env: env}
	if _, ok := applets[name]; ok && name != "sh" {
		os.Exit(c.run(name, args))
	}
	os.Exit(c.shell(args))
}

// commandName is the applet an argv[0] names: its last path element without a ".wasm" suffix, so
// /bin/cat, cat and sh.wasm all work.
func commandName(arg0 string) string {
	return strings.TrimSuffix(path.Base(arg0), ".wasm")
}

func workDir() string {
	if d, err := os.Getwd(); err == nil && d != "" {
		return d
	}
	return "/"
}

// shell runs `sh ARGS...` with c's streams and returns the exit status.
func (c *cmd) shell(args []string) (status int) {
	// The interpreter panics on a few corners it does not implement; a script gets an error for
	// them, not a Go stack trace.
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(c.errw, "sh: unsupported: %v\n", r)
			status = 2
		}
	}()
	var opts []string
	for len(args) > 0 {
		a := args[0]
		if a == "-o" || a == "+o" {
			if len(args) < 2 {
				return c.usage("sh", "%s needs an option name", a)
			}
			opts, args = append(opts, a, args[1]), args[2:]
			continue
		}
		if len(a) < 2 || (a[0] != '-' && a[0] != '+') || a == "-c" || a == "--" {
			break
		}
		// Grouped letters (-ex, -ec as in `bash -ec SCRIPT`) go one by one; a c among them is -c.
		args = args[1:]
		isC := false
		for _, letter := range a[1:] {
			if letter == 'c' && a[0] == '-' {
				isC = true
				continue
			}
			opts = append(opts, string(a[0])+string(letter))
		}
		if isC {
			args = append([]string{"-c"}, args...)
			break
		}
	}
	var script io.Reader
	var name string
	switch {
	case len(args) > 0 && args[0] == "-c":
		if len(args) < 2 {
			return c.usage("sh", "-c needs a script")
		}
		script, name, args = strings.NewReader(args[1]), "sh", args[2:]
		if len(args) > 0 {
			name, args = args[0], args[1:]
		}
	case len(args) > 0 && args[0] != "--":
		f, err := os.Open(c.path(args[0]))
		if err != nil {
			fmt.Fprintf(c.errw, "sh: %s: %s\n", args[0], errText(err))
			return 127
		}
		defer f.Close()
		script, name, args = f, args[0], args[1:]
	default:
		if len(args) > 0 {
			args = args[1:]
		}
		// The whole script first: commands that read stdin then see what follows it (nothing).
		data, err := io.ReadAll(c.in)
		if err != nil {
			fmt.Fprintf(c.errw, "sh: reading stdin: %v\n", err)
			return 1
		}
		script, name = strings.NewReader(string(data)), "sh"
	}
	file, err := syntax.NewParser().Parse(script, name)
	if err != nil {
		fmt.Fprintf(c.errw, "sh: %v\n", err)
		return 2
	}
	params := append(opts, "--")
	params = append(params, args...)
	runner, err := interp.New(
		interp.StdIO(c.in, c.out, c.errw),
		interp.Env(c.env),
		interp.Params(params...),
		interp.ExecHandler(c.execHandler),
		interp.CallHandler(callHandler),
		interp.OpenHandler(openHandler),
		// Set directly: interp.Dir and its default stat the directory, and a WASI guest cannot stat
		// "/" or "." unless the host pre-opened them.
		func(r *interp.Runner) error { r.Dir = c.dir; return nil },
	)
	if err != nil {
		return c.usage("sh", "%v", err)
	}
	err = runner.Run(c.ctx, file)
	if status, ok := interp.IsExitStatus(err); ok {
		return int(status)
	}
	if err != nil {
		fmt.Fprintf(c.errw, "sh: %v\n", err)
		return 1
	}
	return 0
}

// execHandler runs a command that is neither a builtin nor a function: an applet, in this process,
// with the interpreter's current streams, directory and exported variables.
func (c *cmd) execHandler(ctx context.Context, args []string) error {
	hc := interp.HandlerCtx(ctx)
	sub := &cmd{ctx: ctx, in: hc.Stdin, out: hc.Stdout, errw: hc.Stderr, dir: hc.Dir, env: hc.Env}
	if sub.in == nil {
		sub.in = strings.NewReader("")
	}
	status := sub.run(commandName(args[0]), args[1:])
	if status != 0 {
		return interp.NewExitStatus(uint8(status))
	}
	return nil
}

// unimplementedBuiltins are names mvdan.cc/sh v3.6 treats as builtins but panics on; they go to
// applets of ours instead (see applets.go).
var unimplementedBuiltins = map[string]string{"umask": "sh:umask", "fg": "sh:nojobs", "bg": "sh:nojobs"}

func callHandler(ctx context.Context, args []string) ([]string, error) {
	if stub, ok := unimplementedBuiltins[args[0]]; ok {
		return append([]string{stub}, args...), nil
	}
	return args, nil
}

// openHandler opens redirect targets; the few device files a script expects exist without a
// pre-opened /dev.
func openHandler(ctx context.Context, name string, flag int, perm os.FileMode) (io.ReadWriteCloser, error) {
	hc := interp.HandlerCtx(ctx)
	if dev, ok := openDevice(name, hc.Stdin, hc.Stdout, hc.Stderr); ok {
		return dev, nil
	}
	if name != "" && !path.IsAbs(name) {
		name = path.Join(hc.Dir, name)
	}
	return os.OpenFile(name, flag, perm)
}
