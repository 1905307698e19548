package main

// A tiny awk: the subset one-line Argo scripts use, such as
//
//	awk '{print $1}'    awk -F: '{print $2, NF}'    awk '{s += $1} END {print s}'
//	awk -v f=1 -v r=100 '{printf "%i\n", f + r * $1 / 65536}'    awk '/re/ {n++} END {print n}'
//
// Rules are PATTERN { ACTIONS } with BEGIN, END, an expression or /regex/ as pattern; actions are
// print, printf, next, if/else, assignments (= += -= *= /= %= ++ --) and expressions with
// + - * / % ^, comparisons, ~ !~, && || !, concatenation, $N, NR NF FS OFS ORS, and the functions
// length substr index int toupper tolower. No arrays, loops, getline, user functions or
// output redirection: a program using them is refused with a syntax error.

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
)

type awkValue struct {
	s     string
	n     float64
	isNum bool // a number, or a field that looks like one (awk's "strnum")
}

func awkNum(n float64) awkValue { return awkValue{n: n, isNum: true, s: awkFormatNum(n)} }
func awkStr(s string) awkValue  { return awkValue{s: s, n: awkParseNum(s)} }

// awkField is input text: it compares as a number when it looks like one.
func awkField(s string) awkValue {
	v := awkStr(s)
	t := strings.TrimSpace(s)
	if _, err := strconv.ParseFloat(t, 64); err == nil && t != "" {
		v.isNum = true
	}
	return v
}

func awkFormatNum(n float64) string {
	if n == math.Trunc(n) && math.Abs(n) < 1e16 {
		return strconv.FormatInt(int64(n), 10)
	}
	return strconv.FormatFloat(n, 'g', 6, 64)
}

// awkParseNum reads the longest numeric prefix, as awk converts strings.
func awkParseNum(s string) float64 {
	s = strings.TrimLeft(s, " \t\n")
	end := 0
	for end < len(s) && strings.IndexByte("+-0123456789.eE", s[end]) >= 0 {
		end++
	}
	for ; end > 0; end-- {
		if f, err := strconv.ParseFloat(s[:end], 64); err == nil {
			return f
		}
	}
	return 0
}

type awkState struct {
	vars   map[string]awkValue
	fields []string // fields[0] is $0
	nr     int
	out    *bufio.Writer
	next   bool
}

func (st *awkState) getVar(name string) awkValue {
	switch name {
	case "NR":
		return awkNum(float64(st.nr))
	case "NF":
		return awkNum(float64(len(st.fields) - 1))
	}
	return st.vars[name]
}

func (st *awkState) setVar(name string, v awkValue) {
	if name == "NF" {
		n := int(v.n)
		for len(st.fields)-1 < n {
			st.fields = append(st.fields, "")
		}
		st.fields = st.fields[:n+1]
		st.rebuild()
		return
	}
	st.vars[name] = v
}

func (st *awkState) field(i int) awkValue {
	if i < 0 || i >= len(st.fields) {
		return awkField("")
	}
	return awkField(st.fields[i])
}

func (st *awkState) setField(i int, s string) {
	if i == 0 {
		st.setRecord(s)
		return
	}
	for len(st.fields) <= i {
		st.fields = append(st.fields, "")
	}
	st.fields[i] = s
	st.rebuild()
}

func (st *awkState) rebuild() {
	st.fields[0] = strings.Join(st.fields[1:], st.vars["OFS"].s)
}

func (st *awkState) setRecord(line string) {
	fs := st.vars["FS"].s
	var parts []string
	switch {
	case fs == " ":
		parts = strings.Fields(line)
	case len(fs) == 1 && fs != "\\":
		if line != "" {
			parts = strings.Split(line, fs)
		}
	default:
		if re, err := regexp.Compile(fs); err == nil && line != "" {
			parts = re.Split(line, -1)
		} else if line != "" {
			parts = []string{line}
		}
	}
	st.fields = append([]string{line}, parts...)
}

type awkExpr func(st *awkState) awkValue
type awkStmt func(st *awkState)

type awkRule struct {
	begin, end bool
	pattern    awkExpr // nil: every record
	action     awkStmt // nil: print $0
}

func awkApplet(c *cmd, name string, args []string) int {
	vars := map[string]awkValue{"FS": awkStr(" "), "OFS": awkStr(" "), "ORS": awkStr("\n")}
	var program string
	haveProgram := false
	var files []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case !haveProgram && (a == "-F" || a == "-v") && i+1 < len(args):
			if err := awkOption(vars, a[1], args[i+1]); err != nil {
				return c.usage(name, "%v", err)
			}
			i++
		case !haveProgram && len(a) > 2 && (strings.HasPrefix(a, "-F") || strings.HasPrefix(a, "-v")):
			if err := awkOption(vars, a[1], a[2:]); err != nil {
				return c.usage(name, "%v", err)
			}
		case !haveProgram && a == "--":
		case !haveProgram:
			program, haveProgram = a, true
		default:
			files = append(files, a)
		}
	}
	if !haveProgram {
		return c.usage(name, "usage: awk [-F FS] [-v VAR=VALUE]... 'PROGRAM' [FILE...]")
	}
	rules, err := parseAwk(program)
	if err != nil {
		return c.usage(name, "%v (this awk has a small subset: see examples/argo-images/README.md)", err)
	}
	out := newOut(c.out)
	st := &awkState{vars: vars, out: out.Writer, fields: []string{""}}
	for _, r := range rules {
		if r.begin {
			r.action(st)
		}
	}
	hasMain := false
	for _, r := range rules {
		if !r.begin {
			hasMain = true
		}
	}
	status := 0
	if hasMain {
		status = c.eachInput(name, files, func(_ string, r io.Reader) error {
			br := bufio.NewReader(r)
			for {
				line, err := br.ReadString('\n')
				if line == "" && err != nil {
					if err == io.EOF {
						return nil
					}
					return err
				}
				st.nr++
				st.setRecord(strings.TrimSuffix(line, "\n"))
				st.next = false
				for _, rule := range rules {
					if rule.begin || rule.end {
						continue
					}
					if rule.pattern != nil && !awkTrue(rule.pattern(st)) {
						continue
					}
					if rule.action == nil {
						st.out.WriteString(st.fields[0] + st.vars["ORS"].s)
					} else {
						rule.action(st)
					}
					if st.next {
						break
					}
				}
			}
		})
	}
	for _, r := range rules {
		if r.end {
			r.action(st)
		}
	}
	return c.finish(name, out, status)
}

func awkOption(vars map[string]awkValue, opt byte, value string) error {
	if opt == 'F' {
		if value == "t" {
			value = "\t"
		}
		vars["FS"] = awkStr(value)
		return nil
	}
	n, v, ok := strings.Cut(value, "=")
	if !ok || n == "" {
		return fmt.Errorf("-v needs NAME=VALUE, not '%s'", value)
	}
	vars[n] = awkField(v)
	return nil
}

func awkTrue(v awkValue) bool {
	if v.isNum {
		return v.n != 0
	}
	return v.s != ""
}

func awkBool(b bool) awkValue {
	if b {
		return awkNum(1)
	}
	return awkNum(0)
}

// The parser: a hand-written lexer and recursive descent into closures.
type awkParser struct {
	src string
	pos int
}

func parseAwk(src string) ([]awkRule, error) {
	p := &awkParser{src: src}
	var rules []awkRule
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				if pe, ok := r.(awkSyntaxError); ok {
					err = pe
					return
				}
				panic(r)
			}
		}()
		for {
			p.skipSpace(true)
			if p.pos >= len(p.src) {
				return
			}
			var rule awkRule
			switch {
			case p.keyword("BEGIN"):
				rule.begin = true
			case p.keyword("END"):
				rule.end = true
			case p.peek() != '{':
				rule.pattern = p.expr()
			}
			p.skipSpace(false)
			if p.peek() == '{' {
				rule.action = p.block()
			} else if rule.begin || rule.end {
				p.fail("BEGIN and END need an action")
			}
			rules = append(rules, rule)
		}
	}()
	return rules, err
}

type awkSyntaxError string

func (e awkSyntaxError) Error() string { return string(e) }

func (p *awkParser) fail(format string, args ...any) {
	panic(awkSyntaxError(fmt.Sprintf("syntax error at offset %d: ", p.pos) + fmt.Sprintf(format, args...)))
}

func (p *awkParser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

// skipSpace skips blanks and comments, and newlines and semicolons too when newlines is set.
func (p *awkParser) skipSpace(newlines bool) {
	for p.pos < len(p.src) {
		ch := p.src[p.pos]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\r':
		case ch == '\\' && p.pos+1 < len(p.src) && p.src[p.pos+1] == '\n':
			p.pos++
		case (ch == '\n' || ch == ';') && newlines:
		case ch == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
			continue
		default:
			return
		}
		p.pos++
	}
}

func (p *awkParser) accept(tok string) bool {
	p.skipSpace(false)
	if strings.HasPrefix(p.src[p.pos:], tok) {
		p.pos += len(tok)
		return true
	}
	return false
}

func (p *awkParser) expect(tok string) {
	if !p.accept(tok) {
		p.fail("expected %q", tok)
	}
}

func isIdentByte(b byte, first bool) bool {
	return b == '_' || isAlpha(b) || (!first && isDigit(b))
}

func (p *awkParser) keyword(word string) bool {
	p.skipSpace(false)
	end := p.pos + len(word)
	if strings.HasPrefix(p.src[p.pos:], word) && (end >= len(p.src) || !isIdentByte(p.src[end], false)) {
		p.pos = end
		return true
	}
	return false
}

func (p *awkParser) ident() string {
	p.skipSpace(false)
	start := p.pos
	for p.pos < len(p.src) && isIdentByte(p.src[p.pos], p.pos == start) {
		p.pos++
	}
	return p.src[start:p.pos]
}

func (p *awkParser) block() awkStmt {
	p.expect("{")
	var stmts []awkStmt
	for {
		p.skipSpace(true)
		if p.accept("}") {
			break
		}
		if p.pos >= len(p.src) {
			p.fail("missing }")
		}
		stmts = append(stmts, p.statement())
	}
	return func(st *awkState) {
		for _, s := range stmts {
			if st.next {
				return
			}
			s(st)
		}
	}
}

func (p *awkParser) statement() awkStmt {
	p.skipSpace(true)
	switch {
	case p.peek() == '{':
		return p.block()
	case p.keyword("print"):
		args := p.exprList()
		return func(st *awkState) {
			if len(args) == 0 {
				st.out.WriteString(st.fields[0] + st.vars["ORS"].s)
				return
			}
			parts := make([]string, len(args))
			for i, a := range args {
				parts[i] = a(st).s
			}
			st.out.WriteString(strings.Join(parts, st.vars["OFS"].s) + st.vars["ORS"].s)
		}
	case p.keyword("printf"):
		args := p.exprList()
		if len(args) == 0 {
			p.fail("printf needs a format")
		}
		return func(st *awkState) {
			vals := make([]awkValue, len(args)-1)
			for i, a := range args[1:] {
				vals[i] = a(st)
			}
			st.out.WriteString(awkSprintf(args[0](st).s, vals))
		}
	case p.keyword("next"):
		return func(st *awkState) { st.next = true }
	case p.keyword("if"):
		p.expect("(")
		cond := p.expr()
		p.expect(")")
		then := p.statement()
		save := p.pos
		p.skipSpace(true)
		var otherwise awkStmt
		if p.keyword("else") {
			otherwise = p.statement()
		} else {
			p.pos = save
		}
		return func(st *awkState) {
			if awkTrue(cond(st)) {
				then(st)
			} else if otherwise != nil {
				otherwise(st)
			}
		}
	}
	for _, unsupported := range []string{"while", "for", "do", "getline", "function", "delete", "exit"} {
		if p.keyword(unsupported) {
			p.fail("%s is not supported", unsupported)
		}
	}
	e := p.expr()
	return func(st *awkState) { e(st) }
}

// exprList reads print's arguments, which end at a newline, ';' or '}'.
func (p *awkParser) exprList() []awkExpr {
	var list []awkExpr
	p.skipSpace(false)
	if ch := p.peek(); ch == 0 || ch == '\n' || ch == ';' || ch == '}' {
		return nil
	}
	paren := p.accept("(")
	for {
		list = append(list, p.expr())
		if !p.accept(",") {
			break
		}
	}
	if paren {
		p.expect(")")
	}
	if p.accept(">") || p.accept("|") {
		p.fail("output redirection is not supported")
	}
	return list
}

func (p *awkParser) expr() awkExpr { return p.assignment() }

func (p *awkParser) assignment() awkExpr {
	save := p.pos
	if set, get := p.lvalue(); set != nil {
		for _, op := range []string{"+=", "-=", "*=", "/=", "%=", "^="} {
			if p.accept(op) {
				rhs := p.assignment()
				return func(st *awkState) awkValue {
					v := awkNum(awkArith(op[0], get(st).n, rhs(st).n))
					set(st, v)
					return v
				}
			}
		}
		if p.skipSpace(false); p.peek() == '=' && (p.pos+1 >= len(p.src) || p.src[p.pos+1] != '=') {
			p.pos++
			rhs := p.assignment()
			return func(st *awkState) awkValue {
				v := rhs(st)
				set(st, v)
				return v
			}
		}
	}
	p.pos = save
	return p.ternary()
}

// lvalue reads a variable or $expr, or returns nils (without consuming) if there is none.
func (p *awkParser) lvalue() (func(*awkState, awkValue), awkExpr) {
	p.skipSpace(false)
	if p.peek() == '$' {
		p.pos++
		idx := p.primary()
		return func(st *awkState, v awkValue) { st.setField(int(idx(st).n), v.s) },
			func(st *awkState) awkValue { return st.field(int(idx(st).n)) }
	}
	if !isIdentByte(p.peek(), true) {
		return nil, nil
	}
	save := p.pos
	name := p.ident()
	if p.peek() == '(' || p.peek() == '[' || awkBuiltins[name] || awkKeywords[name] {
		p.pos = save
		return nil, nil
	}
	return func(st *awkState, v awkValue) { st.setVar(name, v) },
		func(st *awkState) awkValue { return st.getVar(name) }
}

var awkKeywords = map[string]bool{"in": true, "getline": true, "print": true, "printf": true}

func (p *awkParser) ternary() awkExpr {
	cond := p.or()
	if p.accept("?") {
		a := p.ternary()
		p.expect(":")
		b := p.ternary()
		return func(st *awkState) awkValue {
			if awkTrue(cond(st)) {
				return a(st)
			}
			return b(st)
		}
	}
	return cond
}

func (p *awkParser) or() awkExpr {
	l := p.and()
	for p.accept("||") {
		a, b := l, p.and()
		l = func(st *awkState) awkValue { return awkBool(awkTrue(a(st)) || awkTrue(b(st))) }
	}
	return l
}

func (p *awkParser) and() awkExpr {
	l := p.match()
	for p.accept("&&") {
		a, b := l, p.match()
		l = func(st *awkState) awkValue { return awkBool(awkTrue(a(st)) && awkTrue(b(st))) }
	}
	return l
}

func (p *awkParser) match() awkExpr {
	l := p.comparison()
	for {
		negate := false
		if p.accept("!~") {
			negate = true
		} else if !p.accept("~") {
			return l
		}
		a := l
		var re *regexp.Regexp
		var dyn awkExpr
		if p.skipSpace(false); p.peek() == '/' {
			re = p.regexLiteral()
		} else {
			dyn = p.comparison()
		}
		l = func(st *awkState) awkValue {
			r := re
			if r == nil {
				var err error
				if r, err = regexp.Compile(dyn(st).s); err != nil {
					return awkBool(false)
				}
			}
			return awkBool(r.MatchString(a(st).s) != negate)
		}
	}
}

func (p *awkParser) comparison() awkExpr {
	l := p.concat()
	for _, op := range []string{"<=", ">=", "==", "!=", "<", ">"} {
		if p.accept(op) {
			a, b := l, p.concat()
			return func(st *awkState) awkValue {
				x, y := a(st), b(st)
				var c int
				if x.isNum && y.isNum {
					c = cmpFloat(x.n, y.n)
				} else {
					c = strings.Compare(x.s, y.s)
				}
				switch op {
				case "<":
					return awkBool(c < 0)
				case "<=":
					return awkBool(c <= 0)
				case ">":
					return awkBool(c > 0)
				case ">=":
					return awkBool(c >= 0)
				case "==":
					return awkBool(c == 0)
				}
				return awkBool(c != 0)
			}
		}
	}
	return l
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// concat joins juxtaposed operands: `$1 "-" $2`.
func (p *awkParser) concat() awkExpr {
	l := p.additive()
	for {
		p.skipSpace(false)
		ch := p.peek()
		startsOperand := ch == '$' || ch == '"' || ch == '(' || isDigit(ch) || ch == '.' || ch == '!' && !strings.HasPrefix(p.src[p.pos:], "!=") && !strings.HasPrefix(p.src[p.pos:], "!~") ||
			(isIdentByte(ch, true) && !p.atKeyword("in") && !p.atKeyword("else"))
		if !startsOperand {
			return l
		}
		a, b := l, p.additive()
		l = func(st *awkState) awkValue { return awkStr(a(st).s + b(st).s) }
	}
}

func (p *awkParser) atKeyword(word string) bool {
	save := p.pos
	ok := p.keyword(word)
	p.pos = save
	return ok
}

func (p *awkParser) additive() awkExpr {
	l := p.multiplicative()
	for {
		p.skipSpace(false)
		op := p.peek()
		if (op != '+' && op != '-') || strings.HasPrefix(p.src[p.pos:], "+=") || strings.HasPrefix(p.src[p.pos:], "-=") ||
			strings.HasPrefix(p.src[p.pos:], "++") || strings.HasPrefix(p.src[p.pos:], "--") {
			return l
		}
		p.pos++
		a, b := l, p.multiplicative()
		l = func(st *awkState) awkValue { return awkNum(awkArith(op, a(st).n, b(st).n)) }
	}
}

func (p *awkParser) multiplicative() awkExpr {
	l := p.unary()
	for {
		p.skipSpace(false)
		op := p.peek()
		if (op != '*' && op != '/' && op != '%') || (p.pos+1 < len(p.src) && p.src[p.pos+1] == '=') {
			return l
		}
		p.pos++
		a, b := l, p.unary()
		l = func(st *awkState) awkValue { return awkNum(awkArith(op, a(st).n, b(st).n)) }
	}
}

func awkArith(op byte, a, b float64) float64 {
	switch op {
	case '+':
		return a + b
	case '-':
		return a - b
	case '*':
		return a * b
	case '/':
		if b == 0 {
			return math.NaN()
		}
		return a / b
	case '%':
		return math.Mod(a, b)
	case '^':
		return math.Pow(a, b)
	}
	return 0
}

func (p *awkParser) unary() awkExpr {
	p.skipSpace(false)
	switch {
	case p.peek() == '!' && !strings.HasPrefix(p.src[p.pos:], "!="):
		p.pos++
		a := p.unary()
		return func(st *awkState) awkValue { return awkBool(!awkTrue(a(st))) }
	case p.peek() == '-' && !strings.HasPrefix(p.src[p.pos:], "--"):
		p.pos++
		a := p.unary()
		return func(st *awkState) awkValue { return awkNum(-a(st).n) }
	case p.peek() == '+' && !strings.HasPrefix(p.src[p.pos:], "++"):
		p.pos++
		a := p.unary()
		return func(st *awkState) awkValue { return awkNum(a(st).n) }
	}
	return p.power()
}

func (p *awkParser) power() awkExpr {
	base := p.incDec()
	if p.accept("^") {
		exp := p.unary()
		return func(st *awkState) awkValue { return awkNum(math.Pow(base(st).n, exp(st).n)) }
	}
	return base
}

// incDec reads ++x, --x, x++ and x--.
func (p *awkParser) incDec() awkExpr {
	for _, op := range []string{"++", "--"} {
		if p.accept(op) {
			set, get := p.lvalue()
			if set == nil {
				p.fail("%s needs a variable", op)
			}
			delta := map[string]float64{"++": 1, "--": -1}[op]
			return func(st *awkState) awkValue {
				v := awkNum(get(st).n + delta)
				set(st, v)
				return v
			}
		}
	}
	save := p.pos
	if set, get := p.lvalue(); set != nil {
		for _, op := range []string{"++", "--"} {
			if p.accept(op) {
				delta := map[string]float64{"++": 1, "--": -1}[op]
				return func(st *awkState) awkValue {
					old := awkNum(get(st).n)
					set(st, awkNum(old.n+delta))
					return old
				}
			}
		}
	}
	p.pos = save
	return p.primary()
}

var awkBuiltins = map[string]bool{"length": true, "substr": true, "index": true, "int": true, "toupper": true, "tolower": true}

func (p *awkParser) primary() awkExpr {
	p.skipSpace(false)
	ch := p.peek()
	switch {
	case ch == '$':
		p.pos++
		idx := p.primary()
		return func(st *awkState) awkValue { return st.field(int(idx(st).n)) }
	case ch == '(':
		p.pos++
		e := p.expr()
		p.expect(")")
		return e
	case ch == '"':
		s := p.stringLiteral()
		return func(*awkState) awkValue { return awkStr(s) }
	case ch == '/':
		re := p.regexLiteral()
		return func(st *awkState) awkValue { return awkBool(re.MatchString(st.fields[0])) }
	case isDigit(ch) || ch == '.':
		start := p.pos
		for p.pos < len(p.src) && (isDigit(p.src[p.pos]) || p.src[p.pos] == '.') {
			p.pos++
		}
		n, err := strconv.ParseFloat(p.src[start:p.pos], 64)
		if err != nil {
			p.fail("bad number %q", p.src[start:p.pos])
		}
		return func(*awkState) awkValue { return awkNum(n) }
	case isIdentByte(ch, true):
		name := p.ident()
		if awkBuiltins[name] {
			return p.builtinCall(name)
		}
		if p.peek() == '(' || p.peek() == '[' {
			p.fail("arrays and user functions are not supported (%s)", name)
		}
		return func(st *awkState) awkValue { return st.getVar(name) }
	}
	p.fail("unexpected %q", string(ch))
	return nil
}

func (p *awkParser) builtinCall(name string) awkExpr {
	var args []awkExpr
	if p.peek() == '(' {
		p.pos++
		if !p.accept(")") {
			for {
				args = append(args, p.expr())
				if !p.accept(",") {
					break
				}
			}
			p.expect(")")
		}
	}
	arg := func(st *awkState, i int) awkValue {
		if i < len(args) {
			return args[i](st)
		}
		return st.field(0)
	}
	switch name {
	case "length":
		return func(st *awkState) awkValue { return awkNum(float64(len(arg(st, 0).s))) }
	case "int":
		return func(st *awkState) awkValue { return awkNum(math.Trunc(arg(st, 0).n)) }
	case "toupper":
		return func(st *awkState) awkValue { return awkStr(strings.ToUpper(arg(st, 0).s)) }
	case "tolower":
		return func(st *awkState) awkValue { return awkStr(strings.ToLower(arg(st, 0).s)) }
	case "index":
		if len(args) != 2 {
			p.fail("index needs 2 arguments")
		}
		return func(st *awkState) awkValue { return awkNum(float64(strings.Index(arg(st, 0).s, arg(st, 1).s) + 1)) }
	}
	if len(args) < 2 || len(args) > 3 {
		p.fail("substr needs 2 or 3 arguments")
	}
	return func(st *awkState) awkValue {
		s := arg(st, 0).s
		start := int(math.Round(arg(st, 1).n))
		end := len(s) + 1
		if len(args) == 3 {
			end = start + int(math.Round(arg(st, 2).n))
		}
		start, end = max(start, 1), min(end, len(s)+1)
		if start >= end {
			return awkStr("")
		}
		return awkStr(s[start-1 : end-1])
	}
}

func (p *awkParser) stringLiteral() string {
	p.pos++ // the opening quote
	var b strings.Builder
	for p.pos < len(p.src) && p.src[p.pos] != '"' {
		ch := p.src[p.pos]
		if ch == '\\' && p.pos+1 < len(p.src) {
			p.pos++
			ch = unescapeByte(p.src[p.pos])
		}
		b.WriteByte(ch)
		p.pos++
	}
	if p.pos >= len(p.src) {
		p.fail("unterminated string")
	}
	p.pos++
	return b.String()
}

func (p *awkParser) regexLiteral() *regexp.Regexp {
	p.pos++ // the opening slash
	start := p.pos
	for p.pos < len(p.src) && p.src[p.pos] != '/' {
		if p.src[p.pos] == '\\' {
			p.pos++
		}
		p.pos++
	}
	if p.pos >= len(p.src) {
		p.fail("unterminated regular expression")
	}
	src := strings.ReplaceAll(p.src[start:p.pos], `\/`, "/")
	p.pos++
	re, err := regexp.Compile(src)
	if err != nil {
		p.fail("%v", err)
	}
	return re
}

// awkSprintf formats as awk's printf: %d and %i truncate to integers, %c prints a character.
func awkSprintf(format string, vals []awkValue) string {
	var b strings.Builder
	next := 0
	arg := func() awkValue {
		if next < len(vals) {
			next++
			return vals[next-1]
		}
		return awkStr("")
	}
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			b.WriteByte(format[i])
			continue
		}
		j := i + 1
		for j < len(format) && strings.IndexByte("-+ #0123456789.", format[j]) >= 0 {
			j++
		}
		if j >= len(format) {
			b.WriteString(format[i:])
			break
		}
		spec := format[i+1 : j]
		switch verb := format[j]; verb {
		case '%':
			b.WriteByte('%')
		case 'd', 'i':
			fmt.Fprintf(&b, "%"+spec+"d", int64(math.Trunc(arg().n)))
		case 'o', 'x', 'X':
			fmt.Fprintf(&b, "%"+spec+string(verb), int64(math.Trunc(arg().n)))
		case 'u':
			fmt.Fprintf(&b, "%"+spec+"d", uint64(int64(math.Trunc(arg().n))))
		case 'e', 'E', 'f', 'F', 'g', 'G':
			fmt.Fprintf(&b, "%"+spec+string(verb), arg().n)
		case 'c':
			v := arg()
			s := v.s
			if v.isNum {
				s = string(rune(int(v.n)))
			} else if s != "" {
				s = s[:1]
			}
			fmt.Fprintf(&b, "%"+spec+"s", s)
		case 's':
			fmt.Fprintf(&b, "%"+spec+"s", arg().s)
		default:
			b.WriteString(format[i : j+1])
		}
		i = j
	}
	return b.String()
}
