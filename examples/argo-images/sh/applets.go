package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"

	"mvdan.cc/sh/v3/expand"
)

// cmd is what an applet runs with: the caller's streams, directory and environment.
type cmd struct {
	ctx  context.Context
	in   io.Reader
	out  io.Writer
	errw io.Writer
	dir  string
	env  expand.Environ
}

type applet func(c *cmd, name string, args []string) int

var applets map[string]applet

func init() {
	applets = map[string]applet{
		"awk": awkApplet, "base64": base64Applet, "basename": basenameApplet, "cat": catApplet,
		"cowsay": cowsayApplet, "cp": cpApplet, "cut": cutApplet, "date": dateApplet,
		"dirname": dirnameApplet, "env": envApplet, "false": func(*cmd, string, []string) int { return 1 },
		"grep": grepApplet, "head": headApplet, "ls": lsApplet, "mkdir": mkdirApplet, "mv": mvApplet,
		"od": odApplet, "rm": rmApplet, "sed": sedApplet, "seq": seqApplet, "sleep": sleepApplet,
		"tail": tailApplet, "tee": teeApplet, "touch": touchApplet, "tr": trApplet,
		"true": func(*cmd, string, []string) int { return 0 }, "wc": wcApplet,
		"sort": sortApplet, "uniq": uniqApplet, "uname": unameApplet,
		"sh:umask":  umaskApplet,
		"sh:nojobs": func(c *cmd, _ string, args []string) int { return c.fail("sh: "+args[0], "no job control") },
		"sh":        func(c *cmd, _ string, args []string) int { return c.shell(args) },
		"ash":       func(c *cmd, _ string, args []string) int { return c.shell(args) },
		"bash":      func(c *cmd, _ string, args []string) int { return c.shell(args) },
	}
}

// exitBrokenPipe is a shell's status for a writer whose reader went away (128 + SIGPIPE).
const exitBrokenPipe = 141

// run runs applet NAME and returns its exit status.
func (c *cmd) run(name string, args []string) int {
	a, ok := applets[name]
	if !ok {
		fmt.Fprintf(c.errw, "sh: %s: not found\n", name)
		return 127
	}
	return a(c, name, args)
}

func (c *cmd) path(p string) string {
	if p == "" || path.IsAbs(p) {
		return p
	}
	return path.Join(c.dir, p)
}

// fail reports an error as NAME: MESSAGE and returns status 1.
func (c *cmd) fail(name, format string, args ...any) int {
	fmt.Fprintf(c.errw, name+": "+format+"\n", args...)
	return 1
}

// usage reports a bad invocation (status 2, as POSIX utilities do).
func (c *cmd) usage(name, format string, args ...any) int {
	fmt.Fprintf(c.errw, name+": "+format+"\n", args...)
	return 2
}

// writeFailed is the status for an output error: quiet for a closed pipe, as a shell's SIGPIPE is.
func (c *cmd) writeFailed(name string, err error) int {
	if errors.Is(err, io.ErrClosedPipe) || errors.Is(err, syscall.EPIPE) {
		return exitBrokenPipe
	}
	return c.fail(name, "write error: %s", errText(err))
}

// errText is an error as utilities print it: "No such file or directory", not Go's "open x: ...".
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		err = le.Err
	}
	s := err.Error()
	if s != "" {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	return s
}

// open opens FILE for reading; "-" is stdin.
func (c *cmd) open(file string) (io.ReadCloser, error) {
	if file == "-" {
		return io.NopCloser(c.in), nil
	}
	if dev, ok := openDevice(file, c.in, c.out, c.errw); ok {
		return dev, nil
	}
	return os.Open(c.path(file))
}

// eachInput calls f with each FILE's contents (stdin when there are none); it reports unreadable
// files and returns 1 if any failed.
func (c *cmd) eachInput(name string, files []string, f func(file string, r io.Reader) error) int {
	if len(files) == 0 {
		files = []string{"-"}
	}
	status := 0
	for _, file := range files {
		r, err := c.open(file)
		if err != nil {
			status = c.fail(name, "%s: %s", file, errText(err))
			continue
		}
		err = f(file, r)
		r.Close()
		if err != nil {
			var we writeError
			if errors.As(err, &we) {
				return c.writeFailed(name, we.err)
			}
			status = c.fail(name, "%s: %s", file, errText(err))
		}
	}
	return status
}

// writeError marks an error of the output side, so eachInput tells it from a read error.
type writeError struct{ err error }

func (e writeError) Error() string { return e.err.Error() }

// lineWriter buffers an applet's output; flush reports the first write error.
type lineWriter struct {
	*bufio.Writer
}

func newOut(w io.Writer) lineWriter { return lineWriter{bufio.NewWriterSize(w, 32*1024)} }

// finish flushes the output and turns a write error into the applet's status.
func (c *cmd) finish(name string, w lineWriter, status int) int {
	if err := w.Flush(); err != nil {
		return c.writeFailed(name, err)
	}
	return status
}

// openDevice serves the device files scripts use, which a WASI guest has no /dev for. /dev/urandom
// and /dev/random read from crypto/rand (WASI random_get).
func openDevice(name string, in io.Reader, out, errw io.Writer) (io.ReadWriteCloser, bool) {
	switch name {
	case "/dev/null":
		return device{r: strings.NewReader(""), w: io.Discard}, true
	case "/dev/zero":
		return device{r: zeroReader{}, w: io.Discard}, true
	case "/dev/urandom", "/dev/random":
		return device{r: rand.Reader, w: io.Discard}, true
	case "/dev/stdin":
		return device{r: in}, true
	case "/dev/stdout":
		return device{w: out}, true
	case "/dev/stderr":
		return device{w: errw}, true
	}
	return nil, false
}

type device struct {
	r io.Reader
	w io.Writer
}

func (d device) Read(p []byte) (int, error) {
	if d.r == nil {
		return 0, syscall.EBADF
	}
	return d.r.Read(p)
}

func (d device) Write(p []byte) (int, error) {
	if d.w == nil {
		return 0, syscall.EBADF
	}
	return d.w.Write(p)
}

func (device) Close() error { return nil }

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// flags splits leading single-letter options (grouped as in -rf) from operands; letters listed in
// withValue take a value (-n 5 or -n5). Unknown letters are an error.
type parsedFlags struct {
	set    map[byte]bool
	values map[byte]string
	rest   []string
}

func parseFlags(args []string, known, withValue string) (parsedFlags, error) {
	p := parsedFlags{set: map[byte]bool{}, values: map[byte]string{}}
	for len(args) > 0 {
		a := args[0]
		if a == "--" {
			args = args[1:]
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		args = args[1:]
		for i := 1; i < len(a); i++ {
			ch := a[i]
			if strings.IndexByte(withValue, ch) >= 0 {
				v := a[i+1:]
				if v == "" {
					if len(args) == 0 {
						return p, fmt.Errorf("option requires an argument -- '%c'", ch)
					}
					v, args = args[0], args[1:]
				}
				p.set[ch], p.values[ch] = true, v
				break
			}
			if strings.IndexByte(known, ch) < 0 {
				return p, fmt.Errorf("invalid option -- '%c'", ch)
			}
			p.set[ch] = true
		}
	}
	p.rest = args
	return p, nil
}

// sleep for a duration given as NUMBER[s|m|h|d] (several add up), as coreutils does.
func sleepApplet(c *cmd, name string, args []string) int {
	if len(args) == 0 {
		return c.usage(name, "missing operand")
	}
	var total time.Duration
	for _, a := range args {
		d, err := parseSeconds(a)
		if err != nil {
			return c.usage(name, "invalid time interval '%s'", a)
		}
		total += d
	}
	t := time.NewTimer(total)
	defer t.Stop()
	select {
	case <-t.C:
		return 0
	case <-c.ctx.Done():
		return 130
	}
}

func parseSeconds(s string) (time.Duration, error) {
	unit := time.Second
	switch {
	case strings.HasSuffix(s, "s"):
		s = s[:len(s)-1]
	case strings.HasSuffix(s, "m"):
		s, unit = s[:len(s)-1], time.Minute
	case strings.HasSuffix(s, "h"):
		s, unit = s[:len(s)-1], time.Hour
	case strings.HasSuffix(s, "d"):
		s, unit = s[:len(s)-1], 24*time.Hour
	}
	var f float64
	if _, err := fmt.Sscanf(s, "%g", &f); err != nil || f < 0 || fmt.Sprint(s) == "" {
		return 0, errors.New("bad interval")
	}
	if strings.TrimLeft(s, "0123456789.") != "" {
		return 0, errors.New("bad interval")
	}
	return time.Duration(f * float64(unit)), nil
}

func catApplet(c *cmd, name string, args []string) int {
	files := args
	if len(files) > 0 && files[0] == "--" {
		files = files[1:]
	}
	return c.eachInput(name, files, func(_ string, r io.Reader) error {
		return copyOut(c.out, r)
	})
}

// copyOut copies r to w, marking write failures as writeError.
func copyOut(w io.Writer, r io.Reader) error {
	buf := make([]byte, 32*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return writeError{werr}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func teeApplet(c *cmd, name string, args []string) int {
	f, err := parseFlags(args, "ai", "")
	if err != nil {
		return c.usage(name, "%v", err)
	}
	mode := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if f.set['a'] {
		mode = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	writers := []io.Writer{c.out}
	status := 0
	for _, file := range f.rest {
		var w io.WriteCloser
		if dev, ok := openDevice(file, c.in, c.out, c.errw); ok {
			w = dev
		} else if w, err = os.OpenFile(c.path(file), mode, 0o666); err != nil {
			status = c.fail(name, "%s: %s", file, errText(err))
			continue
		}
		defer w.Close()
		writers = append(writers, w)
	}
	if err := copyOut(io.MultiWriter(writers...), c.in); err != nil {
		var we writeError
		if errors.As(err, &we) {
			return c.writeFailed(name, we.err)
		}
		return c.fail(name, "%s", errText(err))
	}
	return status
}

func basenameApplet(c *cmd, name string, args []string) int {
	if len(args) == 0 || len(args) > 2 {
		return c.usage(name, "usage: basename NAME [SUFFIX]")
	}
	b := path.Base(args[0])
	if len(args) == 2 && b != args[1] {
		b = strings.TrimSuffix(b, args[1])
	}
	fmt.Fprintln(c.out, b)
	return 0
}

func dirnameApplet(c *cmd, name string, args []string) int {
	if len(args) == 0 {
		return c.usage(name, "missing operand")
	}
	for _, a := range args {
		d := strings.TrimRight(a, "/")
		switch {
		case d == "" && a == "":
			d = "."
		case d == "":
			d = "/"
		default:
			d = path.Dir(d)
		}
		fmt.Fprintln(c.out, d)
	}
	return 0
}

// env prints the exported variables; with NAME=VALUE... COMMAND it runs COMMAND (an applet) with
// them added.
func envApplet(c *cmd, name string, args []string) int {
	clean := false
	if len(args) > 0 && (args[0] == "-i" || args[0] == "-") {
		clean, args = true, args[1:]
	}
	var pairs []string
	if !clean {
		c.env.Each(func(n string, vr expand.Variable) bool {
			if vr.Exported && vr.Kind == expand.String {
				pairs = append(pairs, n+"="+vr.Str)
			}
			return true
		})
	}
	for len(args) > 0 && strings.Contains(args[0], "=") {
		pairs, args = append(pairs, args[0]), args[1:]
	}
	if len(args) == 0 {
		out := newOut(c.out)
		for _, p := range pairs {
			fmt.Fprintln(out, p)
		}
		return c.finish(name, out, 0)
	}
	sub := *c
	sub.env = expand.ListEnviron(pairs...)
	return sub.run(commandName(args[0]), args[1:])
}

func mkdirApplet(c *cmd, name string, args []string) int {
	f, err := parseFlags(args, "pv", "m")
	if err != nil {
		return c.usage(name, "%v", err)
	}
	if len(f.rest) == 0 {
		return c.usage(name, "missing operand")
	}
	status := 0
	for _, d := range f.rest {
		if f.set['p'] {
			err = os.MkdirAll(c.path(d), 0o777)
		} else {
			err = os.Mkdir(c.path(d), 0o777)
		}
		if err != nil {
			status = c.fail(name, "cannot create directory '%s': %s", d, errText(err))
		}
	}
	return status
}

func rmApplet(c *cmd, name string, args []string) int {
	f, err := parseFlags(args, "rRfdv", "")
	if err != nil {
		return c.usage(name, "%v", err)
	}
	recursive, force := f.set['r'] || f.set['R'], f.set['f']
	if len(f.rest) == 0 && !force {
		return c.usage(name, "missing operand")
	}
	status := 0
	for _, p := range f.rest {
		full := c.path(p)
		info, err := os.Lstat(full)
		if err != nil {
			if !force || !errors.Is(err, fs.ErrNotExist) {
				status = c.fail(name, "cannot remove '%s': %s", p, errText(err))
			}
			continue
		}
		if info.IsDir() && !recursive && !f.set['d'] {
			status = c.fail(name, "cannot remove '%s': Is a directory", p)
			continue
		}
		if recursive {
			err = os.RemoveAll(full)
		} else {
			err = os.Remove(full)
		}
		if err != nil {
			status = c.fail(name, "cannot remove '%s': %s", p, errText(err))
		}
	}
	return status
}

func touchApplet(c *cmd, name string, args []string) int {
	f, err := parseFlags(args, "acm", "")
	if err != nil {
		return c.usage(name, "%v", err)
	}
	if len(f.rest) == 0 {
		return c.usage(name, "missing file operand")
	}
	status := 0
	now := time.Now()
	for _, p := range f.rest {
		full := c.path(p)
		if _, err := os.Stat(full); errors.Is(err, fs.ErrNotExist) {
			if f.set['c'] {
				continue
			}
			file, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE, 0o666)
			if err != nil {
				status = c.fail(name, "cannot touch '%s': %s", p, errText(err))
				continue
			}
			file.Close()
			continue
		}
		if err := os.Chtimes(full, now, now); err != nil {
			status = c.fail(name, "setting times of '%s': %s", p, errText(err))
		}
	}
	return status
}

// cp SRC DST, cp SRC... DIR; -r copies directories.
func cpApplet(c *cmd, name string, args []string) int {
	f, err := parseFlags(args, "rRpfav", "")
	if err != nil {
		return c.usage(name, "%v", err)
	}
	return c.copyOrMove(name, f.rest, f.set['r'] || f.set['R'] || f.set['a'], false)
}

func mvApplet(c *cmd, name string, args []string) int {
	f, err := parseFlags(args, "fiv", "")
	if err != nil {
		return c.usage(name, "%v", err)
	}
	return c.copyOrMove(name, f.rest, true, true)
}

func (c *cmd) copyOrMove(name string, operands []string, recursive, move bool) int {
	if len(operands) < 2 {
		return c.usage(name, "missing destination file operand")
	}
	sources, dst := operands[:len(operands)-1], operands[len(operands)-1]
	dstInfo, err := os.Stat(c.path(dst))
	intoDir := err == nil && dstInfo.IsDir()
	if len(sources) > 1 && !intoDir {
		return c.fail(name, "target '%s' is not a directory", dst)
	}
	status := 0
	for _, src := range sources {
		target := c.path(dst)
		if intoDir {
			target = path.Join(target, path.Base(src))
		}
		if move {
			if err := os.Rename(c.path(src), target); err == nil {
				continue
			}
		}
		info, err := os.Stat(c.path(src))
		if err != nil {
			status = c.fail(name, "cannot stat '%s': %s", src, errText(err))
			continue
		}
		if info.IsDir() && !recursive {
			status = c.fail(name, "-r not specified; omitting directory '%s'", src)
			continue
		}
		if err := copyTree(c.path(src), target); err != nil {
			status = c.fail(name, "%s", errText(err))
			continue
		}
		if move {
			if err := os.RemoveAll(c.path(src)); err != nil {
				status = c.fail(name, "cannot remove '%s': %s", src, errText(err))
			}
		}
	}
	return status
}

func copyTree(src, dst string) error {
	info, err := os.Stat(src)
	if err != nil {
		return err
	}
	if info.IsDir() {
		if err := os.MkdirAll(dst, 0o777); err != nil {
			return err
		}
		entries, err := os.ReadDir(src)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := copyTree(path.Join(src, e.Name()), path.Join(dst, e.Name())); err != nil {
				return err
			}
		}
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// ls [-1 -a -l] [PATH...]: one name a line (output is never a terminal here).
func lsApplet(c *cmd, name string, args []string) int {
	f, err := parseFlags(args, "1alAhd", "")
	if err != nil {
		return c.usage(name, "%v", err)
	}
	paths := f.rest
	if len(paths) == 0 {
		paths = []string{"."}
	}
	out := newOut(c.out)
	status := 0
	show := func(label string, info fs.FileInfo) {
		if f.set['l'] {
			fmt.Fprintf(out, "%s %8d %s %s\n", info.Mode().String(), info.Size(), info.ModTime().UTC().Format("Jan _2 15:04"), label)
			return
		}
		fmt.Fprintln(out, label)
	}
	var files, dirs []string
	for _, p := range paths {
		info, err := os.Stat(c.path(p))
		if err != nil {
			status = c.fail(name, "cannot access '%s': %s", p, errText(err))
			continue
		}
		if info.IsDir() && !f.set['d'] {
			dirs = append(dirs, p)
		} else {
			files = append(files, p)
		}
	}
	sort.Strings(files)
	sort.Strings(dirs)
	for _, p := range files {
		info, _ := os.Stat(c.path(p))
		show(p, info)
	}
	for i, d := range dirs {
		if len(paths) > 1 {
			if len(files) > 0 || i > 0 {
				fmt.Fprintln(out)
			}
			fmt.Fprintf(out, "%s:\n", d)
		}
		entries, err := os.ReadDir(c.path(d))
		if err != nil {
			status = c.fail(name, "cannot open directory '%s': %s", d, errText(err))
			continue
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") && !f.set['a'] && !f.set['A'] {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue
			}
			show(e.Name(), info)
		}
	}
	return c.finish(name, out, status)
}

// umask: a WASI guest has no file mode creation mask; it reports 0022 and accepts a new value
// without effect, so scripts that set one run on.
func umaskApplet(c *cmd, _ string, args []string) int {
	args = args[1:] // args[0] is "umask" itself
	if len(args) == 0 {
		fmt.Fprintln(c.out, "0022")
	}
	return 0
}

func unameApplet(c *cmd, name string, args []string) int {
	f, err := parseFlags(args, "asnrmo", "")
	if err != nil {
		return c.usage(name, "%v", err)
	}
	fields := []struct {
		flag  byte
		value string
	}{{'s', "WASI"}, {'n', "localhost"}, {'r', "preview1"}, {'m', "wasm32"}, {'o', "WASI"}}
	var out []string
	for _, fl := range fields {
		if f.set[fl.flag] || f.set['a'] || (fl.flag == 's' && len(f.set) == 0) {
			out = append(out, fl.value)
		}
	}
	fmt.Fprintln(c.out, strings.Join(out, " "))
	return 0
}
