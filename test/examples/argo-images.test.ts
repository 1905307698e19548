// examples/argo-images: the Wasm modules Argo's container images map to. The shell (sh.wasm, for
// busybox and alpine steps) and argosay.wasm (argoproj/argosay) run under `ww run` and print exactly
// what a shell and Argo's test image print; the build reproduces the committed modules.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { examplePath, repoRoot, runWw, tempDir, type RunOptions, type WwResult } from '../cli/helpers.js';

const SH = examplePath('argo-images', 'sh', 'sh.wasm');
const ARGOSAY = examplePath('argo-images', 'argosay', 'argosay.wasm');

/** `sh -c SCRIPT` under `ww run`, with DIR (if given) pre-opened as /w. */
function sh(script: string, opts: { dir?: string; args?: string[] } & RunOptions = {}): Promise<WwResult> {
  const dir = opts.dir ? ['--dir', `${opts.dir}::/w`] : [];
  return runWw(['run', ...dir, SH, '--', '-c', script, ...(opts.args ?? [])], opts);
}

function argosay(args: string[], dir?: string): Promise<WwResult> {
  return runWw(['run', ...(dir ? ['--dir', `${dir}::/w`] : []), ARGOSAY, '--', ...args]);
}

describe('npm run build:examples -- argo-images', () => {
  const out = tempDir('argo-images-build');
  after(() => out.cleanup());

  test('rebuilds sh.wasm (from Debian sources, patched, offline) and argosay.wasm byte for byte', () => {
    const r = spawnSync('bash', ['scripts/build-examples.sh', 'argo-images'], { cwd: repoRoot, env: { ...process.env, OUT_DIR: out.path }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    for (const file of ['examples/argo-images/sh/sh.wasm', 'examples/argo-images/argosay/argosay.wasm']) {
      const rebuilt = readFileSync(join(out.path, file));
      assert.ok(rebuilt.equals(readFileSync(join(repoRoot, file))), `${file}: rebuilt module differs from the committed one; run npm run build:examples and commit`);
    }
  });
});

describe('sh.wasm: the shell', () => {
  const scratch = tempDir('argo-images-sh');
  after(() => scratch.cleanup());

  test('echo, arithmetic, if, for, case, functions, variables and pipes', async () => {
    const r = await sh(
      [
        'echo hello $((6 * 7))',
        'if [ 3 -gt 2 ]; then echo bigger; else echo smaller; fi',
        'for i in a b c; do printf "%s-" "$i"; done; echo',
        'n=0; while [ $n -lt 3 ]; do n=$((n + 1)); done; echo "n=$n"',
        'case foo.txt in *.txt) echo text ;; *) echo other ;; esac',
        'greet() { echo "hi $1"; }; greet ww',
        'echo a | tr a b',
        'echo "one two three" | tr " " "\\n" | wc -l',
        'seq 1 3',
        'x=$(echo inner | tr a-z A-Z); echo "got $x"',
      ].join('\n'),
    );
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'hello 42\nbigger\na-b-c-\nn=3\ntext\nhi ww\nb\n3\n1\n2\n3\ngot INNER\n');
    assert.equal(r.status, 0);
  });

  test('exit codes: exit N, a failing last command, $? and set -e', async () => {
    assert.equal((await sh('exit 3')).status, 3);
    assert.equal((await sh('false')).status, 1);
    const r = await sh('false; echo "status $?"; true && echo and; false || echo or');
    assert.equal(r.stdout, 'status 1\nand\nor\n');
    assert.equal(r.status, 0);
    const e = await runWw(['run', SH, '--', '-e', '-c', 'echo before; false; echo after']);
    assert.equal(e.stdout, 'before\n');
    assert.equal(e.status, 1);
    // Grouped options as Argo's bash steps write them; -x traces to stderr.
    const ec = await runWw(['run', SH, '--', '-xec', 'echo a; false; echo b']);
    assert.equal(ec.stdout, 'a\n');
    assert.equal(ec.stderr, '+ echo a\n+ false\n');
    assert.equal(ec.status, 1);
  });

  test('an unknown command is "sh: NAME: not found" with status 127', async () => {
    const r = await sh('no-such-tool --flag; echo "status $?"; no-such-tool');
    assert.equal(r.stdout, 'status 127\n');
    assert.equal(r.stderr, 'sh: no-such-tool: not found\nsh: no-such-tool: not found\n');
    assert.equal(r.status, 127);
  });

  test('redirects, cat and tee on a pre-opened directory', async () => {
    writeFileSync(join(scratch.path, 'in.txt'), 'line one\nline two\n');
    const r = await sh(
      'cd /w; echo first > out.txt; echo second >> out.txt; cat out.txt; cat < in.txt | tee copy.txt | wc -l; cat copy.txt; echo gone > /dev/null; cat missing.txt 2>/dev/null || echo "cat failed $?"',
      { dir: scratch.path },
    );
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'first\nsecond\n2\nline one\nline two\ncat failed 1\n');
    assert.equal(readFileSync(join(scratch.path, 'out.txt'), 'utf8'), 'first\nsecond\n');
    assert.equal(readFileSync(join(scratch.path, 'copy.txt'), 'utf8'), 'line one\nline two\n');
  });

  test('files: mkdir -p, touch, ls, cp, mv, rm, basename, dirname', async () => {
    const r = await sh(
      'cd /w && mkdir -p a/b && touch a/b/x && echo data > a/y && ls a && cp a/y a/z && mv a/z a/b/ && ls a/b && cat a/b/z && rm -r a && ls; basename /tmp/file.txt .txt; dirname /tmp/dir/file',
      { dir: scratch.path },
    );
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'b\ny\nx\nz\ndata\ncopy.txt\nin.txt\nout.txt\nfile\n/tmp/dir\n');
  });

  test('text applets: head, tail, cut, grep, sed, wc, base64, od, tr', async () => {
    const r = await sh(
      [
        'seq 1 10 | head -n 2',
        'seq 1 10 | tail -n 2',
        'echo "a:b:c" | cut -d: -f2,3',
        'printf "apple\\nbanana\\ncherry\\n" | grep an',
        'printf "apple\\nbanana\\n" | grep -c -v an',
        'echo hello world | sed "s/o/0/g"',
        'echo "one two three" | wc -w',
        'echo hi | base64',
        'echo aGkK | base64 -d',
        'printf "AB" | od -A n -t x1',
        'printf "AB" | od -An -td1',
        'printf "\\001\\000" | od -An -i',
        'echo HELLO | tr A-Z a-z',
        'echo "a  b" | tr -s " "',
      ].join('\n'),
    );
    assert.equal(r.stderr, '');
    assert.equal(
      r.stdout,
      ['1', '2', '9', '10', 'b:c', 'banana', '1', 'hell0 w0rld', '3', 'aGkK', 'hi', ' 41 42', '   65   66', '           1', 'hello', 'a b', ''].join('\n'),
    );
  });

  test('sort, uniq, trap EXIT, and the builtins mvdan.cc/sh lists but lacks (umask, fg) answer instead of crashing', async () => {
    const r = await sh('trap "echo bye" EXIT; printf "b\\na\\nb\\n" | sort | uniq -c; seq 10 -3 1 | sort -n | head -2; umask; umask 077; fg; echo "fg $?"');
    assert.equal(r.stdout, '      1 a\n      2 b\n1\n4\n0022\nfg 1\nbye\n');
    assert.equal(r.stderr, 'sh: fg: no job control\n');
    assert.equal(r.status, 0);
    const b = await sh('builtin umask; echo not reached');
    assert.equal(b.stdout, '');
    assert.equal(b.stderr, 'sh: unsupported: unhandled builtin: umask\n');
    assert.equal(b.status, 2);
  });

  test('awk: fields, sums, -F, -v and printf', async () => {
    const r = await sh(
      [
        'echo "alpha beta" | awk \'{print $2, $1}\'',
        'seq 1 4 | awk \'{s += $1} END {print s}\'',
        'echo "k=v" | awk -F= \'{print $2}\'',
        'echo 32768 | awk -v f=1 -v r=100 \'{printf "%i\\n", f + r * $1 / 65536}\'',
        'printf "x 1\\ny 2\\nx 3\\n" | awk \'/x/ {n++} END {print n " lines"}\'',
      ].join('\n'),
    );
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'beta alpha\n10\nv\n51\n2 lines\n');
  });

  test('Argo\'s random-number one-liner: /dev/urandom through od and awk', async () => {
    const r = await sh('cat /dev/urandom | od -N2 -An -i | awk -v f=1 -v r=100 \'{printf "%i\\n", f + r * $1 / 65536}\'');
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^\d+\n$/);
    const n = Number(r.stdout);
    assert.ok(n >= 1 && n <= 100, r.stdout);
  });

  test('sleep 0.1 and date', async () => {
    const r = await sh('sleep 0.1 && echo slept; date +%Y | grep -c "^20[0-9][0-9]$"; sleep nonsense');
    assert.equal(r.stdout, 'slept\n1\n');
    assert.equal(r.stderr, "sleep: invalid time interval 'nonsense'\n");
    assert.equal(r.status, 2);
  });

  test('sh FILE ARGS runs a script file with $0 and positional parameters; -c takes ARG0 and ARGS', async () => {
    writeFileSync(join(scratch.path, 'script.sh'), 'echo "$0 got $# args: $1 $2"\nexit 4\n');
    const r = await runWw(['run', '--dir', `${scratch.path}::/w`, SH, '--', '/w/script.sh', 'one', 'two']);
    assert.equal(r.stdout, '/w/script.sh got 2 args: one two\n');
    assert.equal(r.status, 4);
    const c = await sh('echo "$0: $1"', { args: ['name', 'first'] });
    assert.equal(c.stdout, 'name: first\n');
  });

  test('with no arguments the script comes from stdin', async () => {
    const r = await runWw(['run', SH], { input: 'echo from stdin\necho $((1 + 1))\n' });
    assert.equal(r.stdout, 'from stdin\n2\n');
    assert.equal(r.status, 0);
  });

  test('a syntax error is reported with its position, status 2', async () => {
    const r = await sh('if then fi');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^sh: sh:1:\d+: /);
  });

  test('argv[0] naming an applet runs it directly, as busybox does', async () => {
    const cat = join(scratch.path, 'cat.wasm');
    copyFileSync(SH, cat);
    writeFileSync(join(scratch.path, 'note.txt'), 'from cat\n');
    const r = await runWw(['run', '--dir', `${scratch.path}::/w`, cat, '--', '/w/note.txt']);
    assert.equal(r.stdout, 'from cat\n');
    assert.equal(r.status, 0);
  });
});

describe('argosay.wasm: the commands of argoproj/argosay', () => {
  const scratch = tempDir('argo-images-argosay');
  after(() => scratch.cleanup());

  test('no arguments and bare echo print "hello argo"; echo TEXT prints it', async () => {
    assert.equal((await argosay([])).stdout, 'hello argo\n');
    assert.equal((await argosay(['echo'])).stdout, 'hello argo\n');
    const r = await argosay(['echo', 'hi there']);
    assert.equal(r.stdout, 'hi there\n');
    assert.equal(r.status, 0);
  });

  test('echo TEXT FILE writes the file (its directory made), cat prints it, assert_contains checks it', async () => {
    const w = await argosay(['echo', 'some text', '/w/out/msg.txt'], scratch.path);
    assert.equal(w.status, 0, w.stderr);
    assert.equal(readFileSync(join(scratch.path, 'out', 'msg.txt'), 'utf8'), 'some text');
    const c = await argosay(['cat', '/w/out/msg.txt', '/w/out/msg.txt'], scratch.path);
    assert.equal(c.stdout, 'some textsome text');
    assert.equal((await argosay(['assert_contains', '/w/out/msg.txt', 'me te'], scratch.path)).status, 0);
    const bad = await argosay(['assert_contains', '/w/out/msg.txt', 'absent'], scratch.path);
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr, 'argosay: expected "/w/out/msg.txt" to contain "absent", but was "some text"\n');
  });

  test('exit [CODE] and sleep DURATION', async () => {
    assert.equal((await argosay(['exit'])).status, 0);
    assert.equal((await argosay(['exit', '0'])).status, 0);
    assert.equal((await argosay(['exit', '7'])).status, 7);
    const s = await argosay(['sleep', '100ms']);
    assert.equal(s.status, 0);
    const bad = await argosay(['sleep', '5']);
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr, 'argosay: time: missing unit in duration "5"\n');
  });

  test('an unknown command prints the usage and exits 2; cat of a missing file fails', async () => {
    const r = await argosay(['dance']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^argosay: usage: argosay \[assert_contains FILE TEXT\|cat/);
    const c = await argosay(['cat', '/w/none.txt'], scratch.path);
    assert.equal(c.status, 2);
    assert.match(c.stderr, /^argosay: open \/w\/none.txt: /);
  });
});
