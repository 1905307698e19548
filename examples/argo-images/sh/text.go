package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// countArg reads head's and tail's "-n N", "-c N" and the old "-N" forms.
func countArgs(args []string) (lines bool, n int64, fromStart bool, files []string, err error) {
	lines, n = true, 10
	for len(args) > 0 {
		a := args[0]
		var v string
		switch {
		case a == "-n" || a == "-c":
			if len(args) < 2 {
				return lines, n, false, nil, fmt.Errorf("option requires an argument -- '%c'", a[1])
			}
			lines, v, args = a == "-n", args[1], args[2:]
		case strings.HasPrefix(a, "-n") || strings.HasPrefix(a, "-c"):
			lines, v, args = a[1] == 'n', a[2:], args[1:]
		case len(a) > 1 && a[0] == '-' && a[1] >= '0' && a[1] <= '9':
			v, args = a[1:], args[1:]
		case a == "--":
			return lines, n, fromStart, args[1:], nil
		default:
			return lines, n, fromStart, args, nil
		}
		fromStart = strings.HasPrefix(v, "+")
		n, err = strconv.ParseInt(strings.TrimPrefix(v, "+"), 10, 64)
		if err != nil || n < 0 {
			return lines, n, fromStart, nil, fmt.Errorf("invalid number: '%s'", v)
		}
	}
	return lines, n, fromStart, nil, nil
}

func headApplet(c *cmd, name string, args []string) int {
	lines, n, _, files, err := countArgs(args)
	if err != nil {
		return c.usage(name, "%v", err)
	}
	out := newOut(c.out)
	status := c.eachInput(name, files, func(file string, r io.Reader) error {
		if len(files) > 1 {
			fmt.Fprintf(out, "==> %s <==\n", file)
		}
		if !lines {
			_, err := io.CopyN(out, r, n)
			if err == io.EOF {
				err = nil
			}
			return err
		}
		br := bufio.NewReader(r)
		for i := int64(0); i < n; i++ {
			line, err := br.ReadString('\n')
			out.WriteString(line)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	return c.finish(name, out, status)
}

// tail keeps only the last N lines (or bytes) in memory; -n +N prints from line N on.
func tailApplet(c *cmd, name string, args []string) int {
	lines, n, fromStart, files, err := countArgs(args)
	if err != nil {
		return c.usage(name, "%v", err)
	}
	out := newOut(c.out)
	status := c.eachInput(name, files, func(file string, r io.Reader) error {
		if len(files) > 1 {
			fmt.Fprintf(out, "==> %s <==\n", file)
		}
		br := bufio.NewReader(r)
		if fromStart {
			for i := int64(1); i < n; i++ {
				var err error
				if lines {
					_, err = br.ReadString('\n')
				} else {
					_, err = br.ReadByte()
				}
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
			}
			_, err := io.Copy(out, br)
			return err
		}
		if !lines {
			data, err := io.ReadAll(br)
			if int64(len(data)) > n {
				data = data[int64(len(data))-n:]
			}
			out.Write(data)
			return err
		}
		ring := make([]string, 0, min(n, 4096))
		start := 0
		for {
			line, err := br.ReadString('\n')
			if line != "" && n > 0 {
				if int64(len(ring)) < n {
					ring = append(ring, line)
				} else {
					ring[start] = line
					start = (start + 1) % len(ring)
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
		}
		for i := range ring {
			out.WriteString(ring[(start+i)%len(ring)])
		}
		return nil
	})
	return c.finish(name, out, status)
}

// wc [-l -w -c]: one count prints bare for stdin, several are in 7-wide columns (coreutils' style
// for stdin); file names follow, and a total line for more than one file.
func wcApplet(c *cmd, name string, args []string) int {
	f, err := parseFlags(args, "lwcm", "")
	if err != nil {
		return c.usage(name, "%v", err)
	}
	show := []bool{f.set['l'], f.set['w'], f.set['c'] || f.set['m']}
	if !show[0] && !show[1] && !show[2] {
		show = []bool{true, true, true}
	}
	selected := 0
	for _, s := range show {
		if s {
			selected++
		}
	}
	out := newOut(c.out)
	var total [3]int64
	print := func(counts [3]int64, label string) {
		var cols []string
		for i, s := range show {
			if s {
				if selected == 1 {
					cols = append(cols, strconv.FormatInt(counts[i], 10))
				} else {
					cols = append(cols, fmt.Sprintf("%7d", counts[i]))
				}
			}
		}
		line := strings.Join(cols, " ")
		if label != "" {
			line += " " + label
		}
		fmt.Fprintln(out, line)
	}
	status := c.eachInput(name, f.rest, func(file string, r io.Reader) error {
		var counts [3]int64
		inWord := false
		br := bufio.NewReader(r)
		for {
			b, err := br.ReadByte()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			counts[2]++
			if b == '\n' {
				counts[0]++
			}
			space := b == ' ' || b == '\n' || b == '\t' || b == '\r' || b == '\v' || b == '\f'
			if !space && !inWord {
				counts[1]++
			}
			inWord = !space
		}
		for i := range total {
			total[i] += counts[i]
		}
		label := file
		if file == "-" {
			label = ""
		}
		print(counts, label)
		return nil
	})
	if len(f.rest) > 1 {
		print(total, "total")
	}
	return c.finish(name, out, status)
}

// od [-A d|o|x|n] [-t TYPE]... [-N COUNT] [-j SKIP] [-i -x -d -c -b] [FILE...], TYPE one of
// d1 d2 d4 d8 u1 u2 u4 u8 x1 x2 x4 x8 o1 o2 o4 (little-endian) or c. Repeated lines are not
// squeezed into "*" (as with -v).
func odApplet(c *cmd, name string, args []string) int {
	f, err := parseFlags(args, "vibdxcsol", "AtNjw")
	if err != nil {
		return c.usage(name, "%v", err)
	}
	radix := "o"
	if f.set['A'] {
		radix = f.values['A']
	}
	var types []string
	for _, t := range strings.Split(f.values['t'], ",") {
		if t != "" {
			types = append(types, t)
		}
	}
	// -t may repeat; parseFlags keeps the last, which covers what scripts use.
	shorthands := map[byte]string{'i': "d4", 'b': "o1", 'd': "u2", 'x': "x2", 'c': "c", 's': "d2", 'o': "o2", 'l': "d8"}
	for _, ch := range []byte("ibdxcsol") {
		if f.set[ch] {
			types = append(types, shorthands[ch])
		}
	}
	if len(types) == 0 {
		types = []string{"o2"}
	}
	var formats []odFormat
	for _, t := range types {
		fm, ok := parseOdType(t)
		if !ok {
			return c.usage(name, "invalid type string '%s'", t)
		}
		formats = append(formats, fm)
	}
	addr := map[string]string{"o": "%07o", "d": "%07d", "x": "%06x", "n": ""}
	addrFormat, ok := addr[radix]
	if !ok {
		return c.usage(name, "invalid output address radix '%s'", radix)
	}
	limit := int64(-1)
	if f.set['N'] {
		if limit, err = strconv.ParseInt(f.values['N'], 0, 64); err != nil {
			return c.usage(name, "invalid -N argument '%s'", f.values['N'])
		}
	}
	var skip int64
	if f.set['j'] {
		if skip, err = strconv.ParseInt(f.values['j'], 0, 64); err != nil {
			return c.usage(name, "invalid -j argument '%s'", f.values['j'])
		}
	}
	// All inputs form one stream, as od reads them.
	files := f.rest
	if len(files) == 0 {
		files = []string{"-"}
	}
	var readers []io.Reader
	for _, file := range files {
		r, err := c.open(file)
		if err != nil {
			return c.fail(name, "%s: %s", file, errText(err))
		}
		defer r.Close()
		readers = append(readers, r)
	}
	in := io.MultiReader(readers...)
	if skip > 0 {
		if _, err := io.CopyN(io.Discard, in, skip); err != nil {
			return c.fail(name, "cannot skip past end of combined input")
		}
	}
	if limit >= 0 {
		in = io.LimitReader(in, limit)
	}
	out := newOut(c.out)
	offset := skip
	line := make([]byte, 16)
	for {
		n, err := io.ReadFull(in, line)
		if n > 0 {
			for i, fm := range formats {
				if addrFormat != "" {
					if i == 0 {
						fmt.Fprintf(out, addrFormat, offset)
					} else {
						out.WriteString(strings.Repeat(" ", len(fmt.Sprintf(addrFormat, offset))))
					}
				}
				fm.write(out, line[:n])
				out.WriteByte('\n')
			}
			offset += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return c.fail(name, "%s", errText(err))
		}
	}
	if addrFormat != "" {
		fmt.Fprintf(out, addrFormat+"\n", offset)
	}
	return c.finish(name, out, 0)
}

type odFormat struct {
	kind  byte // d u x o c
	size  int
	width int
}

func parseOdType(t string) (odFormat, bool) {
	if t == "c" {
		return odFormat{kind: 'c', size: 1, width: 4}, true
	}
	if len(t) < 1 || strings.IndexByte("duxo", t[0]) < 0 {
		return odFormat{}, false
	}
	size := 4
	if len(t) > 1 {
		switch t[1:] {
		case "1", "C":
			size = 1
		case "2", "S":
			size = 2
		case "4", "I":
			size = 4
		case "8", "L":
			size = 8
		default:
			return odFormat{}, false
		}
	}
	// The width of the widest value of the type, as GNU od pads.
	maxU := uint64(1)<<(8*size) - 1
	if size == 8 {
		maxU = math.MaxUint64
	}
	var width int
	switch t[0] {
	case 'd':
		width = len(strconv.FormatInt(-int64(maxU/2)-1, 10))
	case 'u':
		width = len(strconv.FormatUint(maxU, 10))
	case 'x':
		width = 2 * size
	case 'o':
		width = len(strconv.FormatUint(maxU, 8))
	}
	return odFormat{kind: t[0], size: size, width: width}, true
}

func (fm odFormat) write(w io.Writer, data []byte) {
	for i := 0; i < len(data); i += fm.size {
		chunk := make([]byte, fm.size)
		copy(chunk, data[i:]) // a short last word is zero-padded
		var u uint64
		for j := fm.size - 1; j >= 0; j-- {
			u = u<<8 | uint64(chunk[j])
		}
		switch fm.kind {
		case 'd':
			shift := 64 - 8*fm.size
			fmt.Fprintf(w, " %*d", fm.width, int64(u<<shift)>>shift)
		case 'u':
			fmt.Fprintf(w, " %*d", fm.width, u)
		case 'x':
			fmt.Fprintf(w, " %0*x", fm.width, u)
		case 'o':
			fmt.Fprintf(w, " %0*o", fm.width, u)
		case 'c':
			fmt.Fprintf(w, " %3s", odChar(byte(u)))
		}
	}
}

func odChar(b byte) string {
	names := map[byte]string{0: `\0`, '\a': `\a`, '\b': `\b`, '\f': `\f`, '\n': `\n`, '\r': `\r`, '\t': `\t`, '\v': `\v`}
	if s, ok := names[b]; ok {
		return s
	}
	if b >= 0x20 && b < 0x7f {
		return string(rune(b))
	}
	return fmt.Sprintf("%03o", b)
}

// tr [-d] [-s] [-c] SET1 [SET2]: byte sets with ranges, escapes and [:class:]es.
func trApplet(c *cmd, name string, args []string) int {
	f, err := parseFlags(args, "dscC", "")
	if err != nil {
		return c.usage(name, "%v", err)
	}
	if len(f.rest) < 1 || (len(f.rest) < 2 && !f.set['d'] && !f.set['s']) || len(f.rest) > 2 {
		return c.usage(name, "usage: tr [-d] [-s] [-c] SET1 [SET2]")
	}
	set1, err := expandTrSet(f.rest[0])
	if err != nil {
		return c.usage(name, "%v", err)
	}
	if f.set['c'] || f.set['C'] {
		in := map[byte]bool{}
		for _, b := range set1 {
			in[b] = true
		}
		set1 = nil
		for b := 0; b < 256; b++ {
			if !in[byte(b)] {
				set1 = append(set1, byte(b))
			}
		}
	}
	var set2 []byte
	if len(f.rest) == 2 {
		if set2, err = expandTrSet(f.rest[1]); err != nil {
			return c.usage(name, "%v", err)
		}
	}
	var table [256]int // -1 delete, otherwise the byte it becomes
	for i := range table {
		table[i] = i
	}
	var squeeze [256]bool
	if f.set['d'] {
		for _, b := range set1 {
			table[b] = -1
		}
		for _, b := range set2 {
			squeeze[b] = true
		}
	} else if set2 != nil {
		if len(set2) == 0 {
			return c.usage(name, "when not truncating set1, string2 must be non-empty")
		}
		for i, b := range set1 {
			table[b] = int(set2[min(i, len(set2)-1)])
		}
		for _, b := range set2 {
			squeeze[b] = true
		}
	} else {
		for _, b := range set1 {
			squeeze[b] = true
		}
	}
	doSqueeze := f.set['s']
	out := newOut(c.out)
	br := bufio.NewReader(c.in)
	last := -1
	for {
		b, err := br.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return c.fail(name, "%s", errText(err))
		}
		t := table[b]
		if t < 0 {
			continue
		}
		if doSqueeze && t == last && squeeze[t] {
			continue
		}
		out.WriteByte(byte(t))
		last = t
	}
	return c.finish(name, out, 0)
}

var trClasses = map[string]func(b byte) bool{
	"alnum": func(b byte) bool { return isAlpha(b) || isDigit(b) },
	"alpha": isAlpha,
	"digit": isDigit,
	"lower": func(b byte) bool { return b >= 'a' && b <= 'z' },
	"upper": func(b byte) bool { return b >= 'A' && b <= 'Z' },
	"space": func(b byte) bool { return b == ' ' || (b >= '\t' && b <= '\r') },
	"blank": func(b byte) bool { return b == ' ' || b == '\t' },
	"punct": func(b byte) bool { return b > 32 && b < 127 && !isAlpha(b) && !isDigit(b) },
	"xdigit": func(b byte) bool {
		return isDigit(b) || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F')
	},
}

func isAlpha(b byte) bool { return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') }
func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func expandTrSet(s string) ([]byte, error) {
	var raw []byte
	for i := 0; i < len(s); i++ {
		if strings.HasPrefix(s[i:], "[:") {
			end := strings.Index(s[i:], ":]")
			if end > 0 {
				class, ok := trClasses[s[i+2:i+end]]
				if !ok {
					return nil, fmt.Errorf("invalid character class '%s'", s[i+2:i+end])
				}
				for b := 0; b < 256; b++ {
					if class(byte(b)) {
						raw = append(raw, byte(b))
					}
				}
				i += end + 1
				continue
			}
		}
		b := s[i]
		if b == '\\' && i+1 < len(s) {
			i++
			b = unescapeByte(s[i])
		}
		if i+2 < len(s) && s[i+1] == '-' {
			hi := s[i+2]
			step := 3
			if hi == '\\' && i+3 < len(s) {
				hi, step = unescapeByte(s[i+3]), 4
			}
			if hi < b {
				return nil, fmt.Errorf("range-endpoints of '%c-%c' are in reverse collating sequence order", b, hi)
			}
			for x := int(b); x <= int(hi); x++ {
				raw = append(raw, byte(x))
			}
			i += step - 1
			continue
		}
		raw = append(raw, b)
	}
	return raw, nil
}

func unescapeByte(b byte) byte {
	switch b {
	case 'n':
		return '\n'
	case 't':
		return '\t'
	case 'r':
		return '\r'
	case '0':
		return 0
	case 'a':
		return '\a'
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'v':
		return '\v'
	}
	return b
}

// cut -f LIST [-d DELIM] [-s] | -c LIST | -b LIST.
func cutApplet(c *cmd, name string, args []string) int {
	f, err := parseFlags(args, "s", "fdcb")
	if err != nil {
		return c.usage(name, "%v", err)
	}
	list, byField := f.values['f'], f.set['f']
	if !byField {
		list = f.values['c'] + f.values['b']
	}
	ranges, err := parseCutList(list)
	if err != nil || list == "" {
		return c.usage(name, "you must specify a list of bytes, characters, or fields")
	}
	delim := "\t"
	if f.set['d'] {
		delim = f.values['d']
		if len(delim) != 1 {
			return c.usage(name, "the delimiter must be a single character")
		}
	}
	out := newOut(c.out)
	status := c.eachInput(name, f.rest, func(_ string, r io.Reader) error {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
		for sc.Scan() {
			line := sc.Text()
			if !byField {
				var b strings.Builder
				for i := 0; i < len(line); i++ {
					if inCutRanges(ranges, i+1) {
						b.WriteByte(line[i])
					}
				}
				fmt.Fprintln(out, b.String())
				continue
			}
			if !strings.Contains(line, delim) {
				if !f.set['s'] {
					fmt.Fprintln(out, line)
				}
				continue
			}
			fields := strings.Split(line, delim)
			var kept []string
			for i, field := range fields {
				if inCutRanges(ranges, i+1) {
					kept = append(kept, field)
				}
			}
			fmt.Fprintln(out, strings.Join(kept, delim))
		}
		return sc.Err()
	})
	return c.finish(name, out, status)
}

func parseCutList(list string) ([][2]int, error) {
	var ranges [][2]int
	for _, part := range strings.Split(list, ",") {
		lo, hi := 1, math.MaxInt
		a, b, isRange := strings.Cut(part, "-")
		var err error
		if a != "" {
			if lo, err = strconv.Atoi(a); err != nil || lo < 1 {
				return nil, fmt.Errorf("invalid list")
			}
		}
		if !isRange {
			hi = lo
		} else if b != "" {
			if hi, err = strconv.Atoi(b); err != nil || hi < lo {
				return nil, fmt.Errorf("invalid list")
			}
		}
		ranges = append(ranges, [2]int{lo, hi})
	}
	return ranges, nil
}

func inCutRanges(ranges [][2]int, i int) bool {
	for _, r := range ranges {
		if i >= r[0] && i <= r[1] {
			return true
		}
	}
	return false
}

// seq [-s SEP] [-w] [FIRST [INCREMENT]] LAST, integers or decimals.
func seqApplet(c *cmd, name string, args []string) int {
	sep, equalWidth := "\n", false
	for len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' && !isDigit(args[0][1]) && args[0][1] != '.' {
		switch {
		case args[0] == "-w":
			equalWidth, args = true, args[1:]
		case args[0] == "-s" && len(args) > 1:
			sep, args = args[1], args[2:]
		case strings.HasPrefix(args[0], "-s"):
			sep, args = args[0][2:], args[1:]
		default:
			return c.usage(name, "invalid option '%s'", args[0])
		}
	}
	if len(args) < 1 || len(args) > 3 {
		return c.usage(name, "usage: seq [-s SEP] [-w] [FIRST [INCREMENT]] LAST")
	}
	nums := make([]float64, len(args))
	decimals := 0
	for i, a := range args {
		v, err := strconv.ParseFloat(a, 64)
		if err != nil || math.IsNaN(v) {
			return c.usage(name, "invalid floating point argument: '%s'", a)
		}
		nums[i] = v
		if dot := strings.IndexByte(a, '.'); dot >= 0 && i != len(args)-1 {
			decimals = max(decimals, len(a)-dot-1)
		}
	}
	first, inc, last := 1.0, 1.0, nums[len(nums)-1]
	if len(nums) >= 2 {
		first = nums[0]
	}
	if len(nums) == 3 {
		inc = nums[1]
	}
	if inc == 0 {
		return c.usage(name, "invalid Zero increment value: '%s'", args[1])
	}
	width := 0
	if equalWidth {
		width = max(len(strconv.FormatFloat(first, 'f', decimals, 64)), len(strconv.FormatFloat(last, 'f', decimals, 64)))
	}
	out := newOut(c.out)
	printed := false
	for i := 0; ; i++ {
		v := first + float64(i)*inc
		if (inc > 0 && v > last+1e-9) || (inc < 0 && v < last-1e-9) {
			break
		}
		if i > 0 {
			out.WriteString(sep)
		}
		printed = true
		s := strconv.FormatFloat(v, 'f', decimals, 64)
		if width > len(s) {
			s = strings.Repeat("0", width-len(s)) + s
		}
		out.WriteString(s)
		// Flushing now and then ends an endless seq once its reader has gone.
		if i%1024 == 1023 {
			if err := out.Flush(); err != nil {
				return c.writeFailed(name, err)
			}
		}
	}
	if printed {
		out.WriteString("\n")
	}
	return c.finish(name, out, 0)
}

// date [-u] [+FORMAT]: always UTC (a WASI guest has no time zone).
func dateApplet(c *cmd, name string, args []string) int {
	format := "%a %b %e %H:%M:%S %Z %Y"
	for _, a := range args {
		switch {
		case a == "-u" || a == "--utc":
		case strings.HasPrefix(a, "+"):
			format = a[1:]
		default:
			return c.usage(name, "unsupported argument '%s' (date [-u] [+FORMAT])", a)
		}
	}
	fmt.Fprintln(c.out, strftime(format, time.Now().UTC()))
	return 0
}

func strftime(format string, t time.Time) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		if format[i] != '%' || i+1 == len(format) {
			b.WriteByte(format[i])
			continue
		}
		i++
		switch format[i] {
		case 'Y':
			fmt.Fprintf(&b, "%d", t.Year())
		case 'y':
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'e':
			fmt.Fprintf(&b, "%2d", t.Day())
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 'N':
			fmt.Fprintf(&b, "%09d", t.Nanosecond())
		case 's':
			fmt.Fprintf(&b, "%d", t.Unix())
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case 'a':
			b.WriteString(t.Format("Mon"))
		case 'A':
			b.WriteString(t.Format("Monday"))
		case 'b', 'h':
			b.WriteString(t.Format("Jan"))
		case 'B':
			b.WriteString(t.Format("January"))
		case 'Z':
			b.WriteString("UTC")
		case 'z':
			b.WriteString("+0000")
		case 'F':
			b.WriteString(t.Format("2006-01-02"))
		case 'T':
			b.WriteString(t.Format("15:04:05"))
		case 'D':
			b.WriteString(t.Format("01/02/06"))
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(format[i])
		}
	}
	return b.String()
}

// breToRE2 turns a POSIX basic regular expression into Go's syntax: in a BRE, \( \) \{ \} \| \+ \?
// are the operators and the bare characters are literals.
func breToRE2(re string) string {
	var b strings.Builder
	for i := 0; i < len(re); i++ {
		ch := re[i]
		if ch == '\\' && i+1 < len(re) {
			next := re[i+1]
			if strings.IndexByte("(){}|+?", next) >= 0 {
				b.WriteByte(next)
			} else {
				b.WriteByte('\\')
				b.WriteByte(next)
			}
			i++
			continue
		}
		if strings.IndexByte("(){}|+?", ch) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(ch)
	}
	return b.String()
}

// grep [-E -F -i -v -c -n -q -l -o -w -x -s -h -H] [-e PATTERN]... PATTERN [FILE...]; status 0 if a
// line matched, 1 if none, 2 on an error.
func grepApplet(c *cmd, name string, args []string) int {
	var patterns []string
	var rest []string
	flags := map[byte]bool{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if a == "-e" && i+1 < len(args) {
			patterns = append(patterns, args[i+1])
			i++
			continue
		}
		if len(a) > 1 && a[0] == '-' {
			for j := 1; j < len(a); j++ {
				if strings.IndexByte("EFivcnqlowxshHr", a[j]) < 0 {
					return c.usage(name, "invalid option -- '%c'", a[j])
				}
				flags[a[j]] = true
			}
			continue
		}
		rest = append(rest, a)
	}
	if len(patterns) == 0 {
		if len(rest) == 0 {
			return c.usage(name, "usage: grep [OPTION]... PATTERN [FILE]...")
		}
		patterns, rest = strings.Split(rest[0], "\n"), rest[1:]
	}
	var alts []string
	for _, p := range patterns {
		switch {
		case flags['F']:
			p = regexp.QuoteMeta(p)
		case !flags['E']:
			p = breToRE2(p)
		}
		if flags['w'] {
			p = `\b(?:` + p + `)\b`
		}
		if flags['x'] {
			p = `^(?:` + p + `)$`
		}
		alts = append(alts, "(?:"+p+")")
	}
	expr := strings.Join(alts, "|")
	if flags['i'] {
		expr = "(?i)" + expr
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		fmt.Fprintf(c.errw, "%s: %v\n", name, err)
		return 2
	}
	prefix := len(rest) > 1 && !flags['h'] || flags['H']
	out := newOut(c.out)
	matched := false
	status := c.eachInput(name, rest, func(file string, r io.Reader) error {
		label := file
		if file == "-" {
			label = "(standard input)"
		}
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
		count := 0
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			if re.MatchString(line) == flags['v'] {
				continue
			}
			matched = true
			count++
			if flags['q'] {
				return nil
			}
			if flags['l'] {
				fmt.Fprintln(out, label)
				return nil
			}
			if flags['c'] {
				continue
			}
			lead := ""
			if prefix {
				lead = label + ":"
			}
			if flags['n'] {
				lead += strconv.Itoa(n) + ":"
			}
			if flags['o'] && !flags['v'] {
				for _, m := range re.FindAllString(line, -1) {
					fmt.Fprintln(out, lead+m)
				}
				continue
			}
			fmt.Fprintln(out, lead+line)
		}
		if flags['c'] {
			if prefix {
				fmt.Fprintf(out, "%s:", label)
			}
			fmt.Fprintln(out, count)
		}
		return sc.Err()
	})
	if status = c.finish(name, out, status); status != 0 && (status != 1 || !flags['s']) {
		return 2
	}
	if matched {
		return 0
	}
	return 1
}

// sed [-n] [-E|-r] [-e] SCRIPT [FILE...], where SCRIPT is s/RE/REPLACEMENT/[g][p][N] commands
// separated by ';' or newlines, plus `p` and `d` with no address. Nothing else.
func sedApplet(c *cmd, name string, args []string) int {
	var scripts, files []string
	quiet, extended := false, false
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-n":
			quiet = true
		case a == "-E" || a == "-r":
			extended = true
		case a == "-e" && i+1 < len(args):
			scripts = append(scripts, args[i+1])
			i++
		case len(a) > 1 && a[0] == '-':
			return c.usage(name, "unsupported option '%s' (this sed has -n, -E, -e and s///)", a)
		default:
			files = append(files, a)
		}
	}
	if len(scripts) == 0 {
		if len(files) == 0 {
			return c.usage(name, "usage: sed [-n] [-E] SCRIPT [FILE...]")
		}
		scripts, files = files[:1], files[1:]
	}
	var cmds []sedCmd
	for _, s := range scripts {
		parsed, err := parseSed(s, extended)
		if err != nil {
			return c.usage(name, "-e expression: %v", err)
		}
		cmds = append(cmds, parsed...)
	}
	out := newOut(c.out)
	status := c.eachInput(name, files, func(_ string, r io.Reader) error {
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadString('\n')
			if line == "" && err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
			nl := strings.HasSuffix(line, "\n")
			line = strings.TrimSuffix(line, "\n")
			deleted := false
			for _, cm := range cmds {
				switch cm.op {
				case 'd':
					deleted = true
				case 'p':
					out.WriteString(line + "\n")
				case 's':
					replaced, did := cm.substitute(line)
					line = replaced
					if did && cm.print {
						out.WriteString(line + "\n")
					}
				}
				if deleted {
					break
				}
			}
			if !deleted && !quiet {
				out.WriteString(line)
				if nl {
					out.WriteByte('\n')
				}
			}
		}
	})
	return c.finish(name, out, status)
}

type sedCmd struct {
	op     byte
	re     *regexp.Regexp
	repl   string
	global bool
	nth    int
	print  bool
}

func (cm sedCmd) substitute(line string) (string, bool) {
	count := 0
	did := false
	result := cm.re.ReplaceAllStringFunc(line, func(m string) string {
		count++
		if (!cm.global && count != cm.nth) || (cm.global && count < cm.nth) {
			return m
		}
		did = true
		sub := cm.re.FindStringSubmatch(m)
		var b strings.Builder
		for i := 0; i < len(cm.repl); i++ {
			ch := cm.repl[i]
			switch {
			case ch == '&':
				b.WriteString(sub[0])
			case ch == '\\' && i+1 < len(cm.repl):
				i++
				if d := cm.repl[i]; isDigit(d) {
					if k := int(d - '0'); k < len(sub) {
						b.WriteString(sub[k])
					}
				} else if d == 'n' {
					b.WriteByte('\n')
				} else {
					b.WriteByte(d)
				}
			default:
				b.WriteByte(ch)
			}
		}
		return b.String()
	})
	return result, did
}

func parseSed(script string, extended bool) ([]sedCmd, error) {
	var cmds []sedCmd
	s := script
	for {
		s = strings.TrimLeft(s, " \t\n;")
		if s == "" {
			return cmds, nil
		}
		switch s[0] {
		case 'p', 'd':
			cmds = append(cmds, sedCmd{op: s[0]})
			s = s[1:]
			continue
		case 's':
		default:
			return nil, fmt.Errorf("unsupported command '%c' (this sed has s, p and d)", s[0])
		}
		if len(s) < 2 {
			return nil, fmt.Errorf("unterminated `s' command")
		}
		delim := s[1]
		parts := []string{}
		var cur strings.Builder
		i := 2
		for ; i < len(s) && len(parts) < 2; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				if s[i+1] == delim {
					cur.WriteByte(delim)
				} else {
					cur.WriteByte('\\')
					cur.WriteByte(s[i+1])
				}
				i++
				continue
			}
			if s[i] == delim {
				parts = append(parts, cur.String())
				cur.Reset()
				continue
			}
			cur.WriteByte(s[i])
		}
		if len(parts) < 2 {
			return nil, fmt.Errorf("unterminated `s' command")
		}
		cm := sedCmd{op: 's', repl: parts[1], nth: 1}
		for ; i < len(s) && s[i] != ';' && s[i] != '\n'; i++ {
			switch f := s[i]; {
			case f == 'g':
				cm.global = true
			case f == 'p':
				cm.print = true
			case f == 'I' || f == 'i':
				parts[0] = "(?i)" + parts[0]
			case isDigit(f):
				cm.nth = int(f - '0')
			case f == ' ':
			default:
				return nil, fmt.Errorf("unknown option to `s': '%c'", f)
			}
		}
		s = s[i:]
		pattern := parts[0]
		if !extended {
			pattern = breToRE2(pattern)
		}
		re, err := regexp.Compile(pattern)
		if err != nil {
			return nil, err
		}
		cm.re = re
		cmds = append(cmds, cm)
	}
}

// base64 [-d] [-w COLS] [FILE]: encoded lines are 76 wide unless -w says otherwise (0: one line).
func base64Applet(c *cmd, name string, args []string) int {
	f, err := parseFlags(args, "di", "w")
	if err != nil {
		return c.usage(name, "%v", err)
	}
	wrap := 76
	if f.set['w'] {
		if wrap, err = strconv.Atoi(f.values['w']); err != nil || wrap < 0 {
			return c.usage(name, "invalid wrap size: '%s'", f.values['w'])
		}
	}
	if len(f.rest) > 1 {
		return c.usage(name, "extra operand '%s'", f.rest[1])
	}
	out := newOut(c.out)
	status := c.eachInput(name, f.rest, func(_ string, r io.Reader) error {
		data, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if f.set['d'] {
			clean := bytes.Map(func(r rune) rune {
				if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
					return -1
				}
				return r
			}, data)
			decoded, err := base64.StdEncoding.DecodeString(string(clean))
			if err != nil {
				return fmt.Errorf("invalid input")
			}
			out.Write(decoded)
			return nil
		}
		enc := base64.StdEncoding.EncodeToString(data)
		for wrap > 0 && len(enc) > wrap {
			out.WriteString(enc[:wrap] + "\n")
			enc = enc[wrap:]
		}
		if enc != "" {
			out.WriteString(enc + "\n")
		}
		return nil
	})
	return c.finish(name, out, status)
}

// cowsay MESSAGE...: argoproj/argosay:v1 is an image with cowsay, and Argo's old examples call it.
func cowsayApplet(c *cmd, name string, args []string) int {
	msg := strings.Join(args, " ")
	if len(args) == 0 {
		data, err := io.ReadAll(c.in)
		if err != nil {
			return c.fail(name, "%s", errText(err))
		}
		msg = strings.TrimRight(string(data), "\n")
	}
	lines := strings.Split(msg, "\n")
	width := 0
	for _, l := range lines {
		width = max(width, len(l))
	}
	out := newOut(c.out)
	fmt.Fprintf(out, " %s\n", strings.Repeat("_", width+2))
	for i, l := range lines {
		left, right := "|", "|"
		switch {
		case len(lines) == 1:
			left, right = "<", ">"
		case i == 0:
			left, right = "/", "\\"
		case i == len(lines)-1:
			left, right = "\\", "/"
		}
		fmt.Fprintf(out, "%s %-*s %s\n", left, width, l, right)
	}
	fmt.Fprintf(out, " %s\n", strings.Repeat("-", width+2))
	out.WriteString("        \\   ^__^\n         \\  (oo)\\_______\n            (__)\\       )\\/\\\n                ||----w |\n                ||     ||\n")
	return c.finish(name, out, 0)
}

// sort [-n] [-r] [-u] [FILE...]: whole lines, byte order or numeric (leading number; others 0).
func sortApplet(c *cmd, name string, args []string) int {
	f, err := parseFlags(args, "nru", "")
	if err != nil {
		return c.usage(name, "%v", err)
	}
	var lines []string
	status := c.eachInput(name, f.rest, func(_ string, r io.Reader) error {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		return sc.Err()
	})
	less := func(a, b string) int {
		if f.set['n'] {
			if c := cmpFloat(awkParseNum(a), awkParseNum(b)); c != 0 {
				return c
			}
		}
		return strings.Compare(a, b)
	}
	sort.SliceStable(lines, func(i, j int) bool {
		if f.set['r'] {
			return less(lines[j], lines[i]) < 0
		}
		return less(lines[i], lines[j]) < 0
	})
	out := newOut(c.out)
	for i, l := range lines {
		if f.set['u'] && i > 0 && less(lines[i-1], l) == 0 {
			continue
		}
		fmt.Fprintln(out, l)
	}
	return c.finish(name, out, status)
}

// uniq [-c] [-d] [-u] [FILE]: adjacent duplicate lines.
func uniqApplet(c *cmd, name string, args []string) int {
	f, err := parseFlags(args, "cdu", "")
	if err != nil {
		return c.usage(name, "%v", err)
	}
	out := newOut(c.out)
	status := c.eachInput(name, f.rest, func(_ string, r io.Reader) error {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
		var prev string
		count := 0
		flush := func() {
			if count == 0 || (f.set['d'] && count < 2) || (f.set['u'] && count > 1) {
				return
			}
			if f.set['c'] {
				fmt.Fprintf(out, "%7d %s\n", count, prev)
			} else {
				fmt.Fprintln(out, prev)
			}
		}
		for sc.Scan() {
			if line := sc.Text(); count > 0 && line == prev {
				count++
			} else {
				flush()
				prev, count = line, 1
			}
		}
		flush()
		return sc.Err()
	})
	return c.finish(name, out, status)
}
