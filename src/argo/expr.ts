// The expression subset of Argo's `{{= ...}}` and `when` (Argo evaluates the first with expr-lang and
// the second with govaluate after substituting `{{...}}`): literals, member access (`a.b`, `a['b-c']`),
// comparison, `&& || !` (and `and or not`), arithmetic, `in`, `?:`, `??`, `=~`, and the functions
// Argo's examples call. Anything else is refused by name (ArgoError 'unsupported').
import { ArgoError } from './errors.js';

type Value = unknown;

type Expr =
  | { kind: 'lit'; value: Value }
  | { kind: 'ident'; name: string }
  | { kind: 'member'; object: Expr; key: Expr }
  | { kind: 'call'; callee: string; args: Expr[] }
  | { kind: 'unary'; op: string; arg: Expr }
  | { kind: 'binary'; op: string; left: Expr; right: Expr }
  | { kind: 'cond'; test: Expr; then: Expr; else: Expr }
  | { kind: 'array'; items: Expr[] };

interface Token {
  type: 'num' | 'str' | 'ident' | 'op' | 'end';
  value: string;
  pos: number;
}

const OPS = ['===', '!==', '==', '!=', '<=', '>=', '&&', '||', '??', '=~', '**', '<', '>', '+', '-', '*', '/', '%', '!', '(', ')', '[', ']', ',', '.', '?', ':'];

/** Bound on an expression's length: a `when` or `{{= }}` is a line, not a program. */
export const MAX_EXPRESSION_CHARS = 4096;

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (/[0-9]/.test(c)) {
      const m = /^(?:0x[0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(src.slice(i))!;
      tokens.push({ type: 'num', value: m[0], pos: start });
      i += m[0].length;
    } else if (c === '"' || c === "'" || c === '`') {
      let out = '';
      i++;
      while (i < src.length && src[i] !== c) {
        if (src[i] === '\\' && c !== '`') {
          const n = src[++i];
          out += n === 'n' ? '\n' : n === 't' ? '\t' : n === 'r' ? '\r' : (n ?? '');
          i++;
        } else out += src[i++];
      }
      if (i >= src.length) throw new ArgoError('bad-expression', `unterminated string in '${src}'`);
      i++;
      tokens.push({ type: 'str', value: out, pos: start });
    } else if (/[A-Za-z_$]/.test(c)) {
      const m = /^[A-Za-z_$][\w$]*/.exec(src.slice(i))!;
      tokens.push({ type: 'ident', value: m[0], pos: start });
      i += m[0].length;
    } else {
      const op = OPS.find((o) => src.startsWith(o, i));
      if (!op) throw new ArgoError('bad-expression', `unexpected '${c}' at column ${i + 1} of '${src}'`);
      tokens.push({ type: 'op', value: op, pos: start });
      i += op.length;
    }
  }
  tokens.push({ type: 'end', value: '', pos: src.length });
  return tokens;
}

const WORD_OPS: Record<string, string> = { and: '&&', or: '||', not: '!' };
const PRECEDENCE: Record<string, number> = {
  '??': 1, '||': 2, '&&': 3, '==': 4, '!=': 4, '=~': 4, '<': 5, '>': 5, '<=': 5, '>=': 5, in: 5,
  '+': 6, '-': 6, '*': 7, '/': 7, '%': 7, '**': 8,
};

class Parser {
  private i = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly src: string,
  ) {}

  parse(): Expr {
    const e = this.ternary();
    if (this.peek().type !== 'end') this.fail(`unexpected '${this.peek().value}'`);
    return e;
  }

  private peek(): Token {
    return this.tokens[this.i]!;
  }
  private next(): Token {
    return this.tokens[this.i++]!;
  }
  private fail(what: string): never {
    throw new ArgoError('bad-expression', `${what} at column ${this.peek().pos + 1} of '${this.src}'`);
  }
  private expect(op: string): void {
    const t = this.next();
    if (t.type !== 'op' || t.value !== op) {
      this.i--;
      this.fail(`expected '${op}'`);
    }
  }
  private binaryOp(): string | undefined {
    const t = this.peek();
    if (t.type === 'op' && PRECEDENCE[t.value] !== undefined) return t.value;
    if (t.type === 'ident' && (t.value === 'and' || t.value === 'or')) return WORD_OPS[t.value];
    if (t.type === 'ident' && t.value === 'in') return 'in';
    if (t.type === 'ident' && (t.value === 'matches' || t.value === 'contains' || t.value === 'startsWith' || t.value === 'endsWith')) {
      throw new ArgoError('unsupported', `the expr operator '${t.value}' is not supported by ww argo; supported: == != < > <= >= && || ! + - * / % in ?: ?? =~`);
    }
    return undefined;
  }

  private ternary(): Expr {
    const test = this.binary(0);
    if (this.peek().type === 'op' && this.peek().value === '?') {
      this.next();
      const then = this.ternary();
      this.expect(':');
      return { kind: 'cond', test, then, else: this.ternary() };
    }
    return test;
  }

  private binary(minPrec: number): Expr {
    let left = this.unary();
    for (;;) {
      const op = this.binaryOp();
      if (op === undefined || PRECEDENCE[op]! <= minPrec) return left;
      this.next();
      left = { kind: 'binary', op, left, right: this.binary(op === '**' ? PRECEDENCE[op]! - 1 : PRECEDENCE[op]!) };
    }
  }

  private unary(): Expr {
    const t = this.peek();
    if ((t.type === 'op' && (t.value === '!' || t.value === '-' || t.value === '+')) || (t.type === 'ident' && t.value === 'not')) {
      this.next();
      return { kind: 'unary', op: WORD_OPS[t.value] ?? t.value, arg: this.unary() };
    }
    return this.postfix(this.primary());
  }

  private postfix(e: Expr): Expr {
    for (;;) {
      const t = this.peek();
      if (t.type === 'op' && t.value === '.') {
        this.next();
        const name = this.next();
        if (name.type !== 'ident') {
          this.i--;
          this.fail('expected a field name after .');
        }
        e = { kind: 'member', object: e, key: { kind: 'lit', value: name.value } };
      } else if (t.type === 'op' && t.value === '[') {
        this.next();
        const key = this.ternary();
        this.expect(']');
        e = { kind: 'member', object: e, key };
      } else return e;
    }
  }

  private primary(): Expr {
    const t = this.next();
    if (t.type === 'num') return { kind: 'lit', value: Number(t.value) };
    if (t.type === 'str') return { kind: 'lit', value: t.value };
    if (t.type === 'op' && t.value === '(') {
      const e = this.ternary();
      this.expect(')');
      return e;
    }
    if (t.type === 'op' && t.value === '[') {
      const items: Expr[] = [];
      while (!(this.peek().type === 'op' && this.peek().value === ']')) {
        items.push(this.ternary());
        if (this.peek().type === 'op' && this.peek().value === ',') this.next();
        else break;
      }
      this.expect(']');
      return { kind: 'array', items };
    }
    if (t.type === 'ident') {
      if (t.value === 'true' || t.value === 'false') return { kind: 'lit', value: t.value === 'true' };
      if (t.value === 'nil' || t.value === 'null') return { kind: 'lit', value: null };
      // A call: `asInt(x)`, or `sprig.trim(x)` (sprig's functions live under the `sprig` name).
      let callee = t.value;
      if (callee === 'sprig' && this.peek().type === 'op' && this.peek().value === '.') {
        this.next();
        callee = `sprig.${this.next().value}`;
      }
      if (this.peek().type === 'op' && this.peek().value === '(') {
        this.next();
        const args: Expr[] = [];
        while (!(this.peek().type === 'op' && this.peek().value === ')')) {
          args.push(this.ternary());
          if (this.peek().type === 'op' && this.peek().value === ',') this.next();
          else break;
        }
        this.expect(')');
        return { kind: 'call', callee, args };
      }
      return { kind: 'ident', name: t.value };
    }
    this.i--;
    return this.fail(t.type === 'end' ? 'unexpected end' : `unexpected '${t.value}'`);
  }
}

/** How bare names that are not variables are read. `when` (govaluate in Argo) reads `heads` in
 *  `tails == heads` as the string "heads"; `{{= }}` (expr) calls an unknown name an error. */
export interface EvalOptions {
  bareWordsAreStrings?: boolean;
}

/** Evaluates `src` against `env` (nested objects: `inputs.parameters.x`, `steps.a.outputs.result`...). */
export function evaluate(src: string, env: Record<string, unknown>, opts: EvalOptions = {}): Value {
  if (src.length > MAX_EXPRESSION_CHARS) throw new ArgoError('limit', `an expression is over ${MAX_EXPRESSION_CHARS} characters`);
  const ast = new Parser(tokenize(src), src).parse();
  return evalExpr(ast, env, opts, src);
}

/** Evaluates a `when` condition (after `{{...}}` substitution): true or false, else an error. */
export function evaluateCondition(src: string, env: Record<string, unknown>): boolean {
  const v = evaluate(src, env, { bareWordsAreStrings: true });
  if (typeof v !== 'boolean') throw new ArgoError('bad-expression', `'${src}' is not a condition (it gives ${JSON.stringify(v)}, not true or false)`);
  return v;
}

function evalExpr(e: Expr, env: Record<string, unknown>, opts: EvalOptions, src: string): Value {
  switch (e.kind) {
    case 'lit':
      return e.value;
    case 'array':
      return e.items.map((i) => evalExpr(i, env, opts, src));
    case 'ident':
      if (Object.hasOwn(env, e.name)) return env[e.name];
      if (opts.bareWordsAreStrings) return e.name;
      throw new ArgoError('bad-expression', `unknown name '${e.name}' in '${src}'`);
    case 'member': {
      const obj = evalExpr(e.object, env, opts, src);
      const key = evalExpr(e.key, env, opts, src);
      if (obj !== null && typeof obj === 'object' && Object.hasOwn(obj, String(key))) return (obj as Record<string, unknown>)[String(key)];
      if (typeof obj === 'string' && typeof key === 'number') return obj[key];
      throw new ArgoError('bad-expression', `'${describe(e)}' has no value in '${src}'`);
    }
    case 'unary': {
      const v = evalExpr(e.arg, env, opts, src);
      if (e.op === '!') return !truthy(v, src);
      const n = num(v, src);
      return e.op === '-' ? -n : n;
    }
    case 'cond':
      return truthy(evalExpr(e.test, env, opts, src), src) ? evalExpr(e.then, env, opts, src) : evalExpr(e.else, env, opts, src);
    case 'binary':
      return binary(e, env, opts, src);
    case 'call': {
      const fn = FUNCTIONS[e.callee];
      if (!fn) throw new ArgoError('unsupported', `the function '${e.callee}' in '${src}' is not supported by ww argo (supported: ${Object.keys(FUNCTIONS).join(', ')})`);
      return fn(e.args.map((a) => evalExpr(a, env, opts, src)), src);
    }
  }
}

function binary(e: Extract<Expr, { kind: 'binary' }>, env: Record<string, unknown>, opts: EvalOptions, src: string): Value {
  if (e.op === '&&') return truthy(evalExpr(e.left, env, opts, src), src) && truthy(evalExpr(e.right, env, opts, src), src);
  if (e.op === '||') return truthy(evalExpr(e.left, env, opts, src), src) || truthy(evalExpr(e.right, env, opts, src), src);
  if (e.op === '??') {
    try {
      const l = evalExpr(e.left, env, opts, src);
      if (l !== null && l !== undefined) return l;
    } catch (err) {
      if (!(err instanceof ArgoError) || err.code !== 'bad-expression') throw err;
    }
    return evalExpr(e.right, env, opts, src);
  }
  const l = evalExpr(e.left, env, opts, src);
  const r = evalExpr(e.right, env, opts, src);
  switch (e.op) {
    case '==':
      return equal(l, r);
    case '!=':
      return !equal(l, r);
    case '<':
    case '>':
    case '<=':
    case '>=': {
      const [a, b] = typeof l === 'string' && typeof r === 'string' ? [l, r] : [num(l, src), num(r, src)];
      return e.op === '<' ? a < b : e.op === '>' ? a > b : e.op === '<=' ? a <= b : a >= b;
    }
    case '+':
      if (typeof l === 'string' && typeof r === 'string') return l + r;
      return num(l, src) + num(r, src);
    case '-':
      return num(l, src) - num(r, src);
    case '*':
      return num(l, src) * num(r, src);
    case '/':
      return num(l, src) / num(r, src);
    case '%':
      return num(l, src) % num(r, src);
    case '**':
      return num(l, src) ** num(r, src);
    case 'in':
      if (Array.isArray(r)) return r.some((x) => equal(x, l));
      if (r !== null && typeof r === 'object') return Object.hasOwn(r, String(l));
      throw new ArgoError('bad-expression', `'in' needs a list or a map on its right in '${src}'`);
    case '=~':
      return new RegExp(String(r)).test(String(l));
  }
  throw new ArgoError('unsupported', `operator '${e.op}' in '${src}'`);
}

/** govaluate compares `1 == 1.0` and `"5" == 5` as equal after substitution made both text. */
function equal(a: Value, b: Value): boolean {
  if (typeof a === typeof b) return a === b || JSON.stringify(a) === JSON.stringify(b);
  if ((typeof a === 'number' || typeof a === 'boolean') && typeof b === 'string') return String(a) === b;
  if ((typeof b === 'number' || typeof b === 'boolean') && typeof a === 'string') return String(b) === a;
  return false;
}

function truthy(v: Value, src: string): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'false') return v === 'true';
  throw new ArgoError('bad-expression', `${JSON.stringify(v)} is not true or false in '${src}'`);
}

function num(v: Value, src: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
  throw new ArgoError('bad-expression', `${JSON.stringify(v)} is not a number in '${src}'`);
}

function describe(e: Expr): string {
  if (e.kind === 'ident') return e.name;
  if (e.kind === 'member') return `${describe(e.object)}.${e.key.kind === 'lit' ? String(e.key.value) : '[...]'}`;
  return '(expression)';
}

const FUNCTIONS: Record<string, (args: Value[], src: string) => Value> = {
  asInt: ([v], src) => {
    const n = num(v, src);
    if (!Number.isInteger(n)) throw new ArgoError('bad-expression', `asInt: ${JSON.stringify(v)} is not an integer in '${src}'`);
    return n;
  },
  asFloat: ([v], src) => num(v, src),
  int: ([v], src) => Math.trunc(num(v, src)),
  float: ([v], src) => num(v, src),
  string: ([v]) => (typeof v === 'string' ? v : JSON.stringify(v)),
  len: ([v], src) => {
    if (typeof v === 'string' || Array.isArray(v)) return v.length;
    if (v !== null && typeof v === 'object') return Object.keys(v).length;
    throw new ArgoError('bad-expression', `len: ${JSON.stringify(v)} has no length in '${src}'`);
  },
  toJson: ([v]) => JSON.stringify(v),
  fromJson: ([v], src) => parseJson(v, src),
  jsonpath: ([doc, path], src) => jsonpath(parseJson(doc, src), String(path), src),
  lower: ([v]) => String(v).toLowerCase(),
  upper: ([v]) => String(v).toUpperCase(),
  trim: ([v]) => String(v).trim(),
  'sprig.trim': ([v]) => String(v).trim(),
  'sprig.upper': ([v]) => String(v).toUpperCase(),
  'sprig.lower': ([v]) => String(v).toLowerCase(),
  'sprig.int': ([v], src) => Math.trunc(num(v, src)),
  'sprig.add': ([a, b], src) => num(a, src) + num(b, src),
  'sprig.replace': ([from, to, s]) => String(s).split(String(from)).join(String(to)),
  'sprig.contains': ([sub, s]) => String(s).includes(String(sub)),
  'sprig.toString': ([v]) => (typeof v === 'string' ? v : JSON.stringify(v)),
};

function parseJson(v: Value, src: string): Value {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v) as Value;
  } catch {
    throw new ArgoError('bad-expression', `${JSON.stringify(v.slice(0, 80))} is not JSON in '${src}'`);
  }
}

/** The JSONPath subset Argo's examples use: `$.a.b`, `$.a[0]`, `$['a']`, `$.list[*].name`. */
function jsonpath(doc: Value, path: string, src: string): Value {
  const m = /^\$?((?:\.[\w-]+|\[\d+\]|\['[^']*'\]|\[\*\]|\.\*)*)$/.exec(path.trim());
  if (!m) throw new ArgoError('unsupported', `the JSONPath '${path}' in '${src}' is beyond the subset ww argo reads ($.a.b, $.a[0], $['a'], [*])`);
  let current: Value[] = [doc];
  let many = false;
  for (const part of m[1]!.match(/\.[\w-]+|\[\d+\]|\['[^']*'\]|\[\*\]|\.\*/g) ?? []) {
    if (part === '[*]' || part === '.*') {
      many = true;
      current = current.flatMap((c) => (Array.isArray(c) ? c : c !== null && typeof c === 'object' ? Object.values(c) : []));
      continue;
    }
    const key = part.startsWith('.') ? part.slice(1) : part.startsWith("['") ? part.slice(2, -2) : Number(part.slice(1, -1));
    current = current.flatMap((c) => (c !== null && typeof c === 'object' && Object.hasOwn(c, String(key)) ? [(c as Record<string, unknown>)[String(key)]] : []));
  }
  if (many) return current;
  if (current.length === 0) throw new ArgoError('bad-expression', `jsonpath '${path}' finds nothing in '${src}'`);
  return current[0];
}
