// `ww run` end to end: the real CLI in a subprocess, against the committed examples and WAT fixtures.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assembleFixture, examplePath, lines, oneErrorLine, repoRoot, runWw, tempDir, wwBin } from './helpers.js';

const hello = examplePath('hello.wasm');
const helloAs = examplePath('hello-as', 'hello.wasm');
const wordcount = examplePath('wordcount', 'wordcount.wasm');
const cpuLoop = examplePath('cpu-loop', 'cpu-loop.wasm');

const tmp = tempDir('run');
const fixtures: Record<string, string> = {};
before(async () => {
  for (const name of ['exit7', 'trap', 'grow', 'stdin-probe', 'spin', 'no-start', 'bad-import', 'big-output', 'exit256', 'control-import']) fixtures[name] = await assembleFixture(name, tmp.path);
});
after(() => tmp.cleanup());

/** The argv lines hello-c prints after its greeting. */
function printedArgv(stdout: string): string[] {
  return lines(stdout)
    .filter((line) => line.startsWith('argv['))
    .map((line) => line.replace(/^argv\[\d+\] = /, ''));
}

describe('ww run: a guest runs and its output and exit status pass through', () => {
  test('hello world prints and exits 0', async () => {
    const r = await runWw(['run', hello]);
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    assert.deepEqual(lines(r.stdout), ['hello from C on ww', 'argv[0] = hello.wasm']);
  });

  test('argv[0] is the module file name and ARGS after -- pass through unchanged', async () => {
    const r = await runWw(['run', hello, '--', 'one', 'two words', '--help', '--', '-x', '']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(printedArgv(r.stdout), ['hello.wasm', 'one', 'two words', '--help', '--', '-x', '']);
  });

  test('words after MODULE belong to the guest even without --, as in wasmtime', async () => {
    const r = await runWw(['run', hello, 'a', '--fuel', '5', '--help']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(printedArgv(r.stdout), ['hello.wasm', 'a', '--fuel', '5', '--help']);
  });

  test('argv[0] is the basename of a module given by a longer path', async () => {
    const dir = join(tmp.path, 'nested', 'dir');
    mkdirSync(dir, { recursive: true });
    copyFileSync(hello, join(dir, 'greeter.wasm'));
    const r = await runWw(['run', join(dir, 'greeter.wasm'), '--', 'x']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(printedArgv(r.stdout), ['greeter.wasm', 'x']);
  });

  test('4 MiB of guest output reaches a pipe complete before ww exits', async () => {
    const r = await runWw(['run', fixtures['big-output']]);
    assert.equal(r.status, 0, r.stderr);
    const line = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.\n';
    assert.equal(r.stdout.length, 65536 * 64);
    assert.ok(r.stdout === line.repeat(65536), 'output differs from 65536 copies of the line');
  });

  test("the guest's exit code is ww's exit status", async () => {
    const r = await runWw(['run', fixtures.exit7]);
    assert.equal(r.status, 7);
    assert.equal(r.stderr, '');
  });

  test('an exit status that does not fit in 8 bits is not mistaken for success: exit 1', async () => {
    const r = await runWw(['run', fixtures.exit256]);
    assert.equal(r.status, 1);
    assert.match(oneErrorLine(r.stderr), /^ww: the guest exited with status 256, which does not fit in 0-255/);
  });

  test('MODULE - reads the module from stdin, and the guest then gets an empty stdin', async () => {
    const r = await runWw(['run', '-', '--', 'from-stdin'], { input: readFileSync(hello) });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(lines(r.stdout)[0], 'hello from C on ww');
    assert.deepEqual(printedArgv(r.stdout), ['-', 'from-stdin']);

    const probe = await runWw(['run', '-'], { input: readFileSync(fixtures['stdin-probe']) });
    assert.equal(probe.status, 0, `guest stdin was not empty (exit ${probe.status}) ${probe.stderr}`);
  });

  test("with a module file, the guest reads ww's own stdin", async () => {
    const r = await runWw(['run', fixtures['stdin-probe']], { input: 'some input\n' });
    assert.equal(r.status, 1, `expected the guest to see input (exit ${r.status}) ${r.stderr}`);
  });
});

describe('ww run --env: only what is given is visible', () => {
  test('each --env is visible, in order, and no host variable leaks in', async () => {
    const r = await runWw(['run', '--env', 'A=1', '--env', 'B=two=parts', '--env=EMPTY=', helloAs], {
      env: { WW_HOST_SECRET: 'must-not-leak' },
    });
    assert.equal(r.status, 0, r.stderr);
    const env = lines(r.stdout).filter((line) => line.startsWith('env '));
    assert.deepEqual(env, ['env A=1', 'env B=two=parts', 'env EMPTY=']);
  });

  test('without --env the guest has an empty environment', async () => {
    const r = await runWw(['run', helloAs], { env: { WW_HOST_SECRET: 'must-not-leak' } });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), ['hello from AssemblyScript on ww', 'argv[0] = hello.wasm']);
  });

  test('a malformed --env is a usage error naming the entry', async () => {
    for (const bad of ['NOEQUALS', '=value']) {
      const r = await runWw(['run', '--env', bad, hello]);
      assert.equal(r.status, 2, r.stderr);
      assert.match(oneErrorLine(r.stderr), new RegExp(`--env '${bad}'`));
      assert.equal(r.stdout, '');
    }
  });
});

describe('ww run --dir: pre-opened directories', () => {
  // Known content: counts computed by hand and checked against `wc`.
  const data = tempDir('dir');
  before(() => {
    writeFileSync(join(data.path, 'a.txt'), 'one two\nthree\n'); // 2 lines, 3 words, 14 bytes
    writeFileSync(join(data.path, 'b.txt'), '  spaced   out  words \n\n\nlast'); // 3 lines, 4 words, 29 bytes
    writeFileSync(join(data.path, 'empty.txt'), ''); // 0 0 0
    mkdirSync(join(data.path, 'subdir')); // not a file: skipped
  });
  after(() => data.cleanup());

  const expected = (dir: string) => [
    `      2       3      14 ${dir}/a.txt`,
    `      3       4      29 ${dir}/b.txt`,
    `      0       0       0 ${dir}/empty.txt`,
    '      5       7      43 total',
  ];

  test('HOST::GUEST pre-opens HOST under the guest path GUEST', async () => {
    const r = await runWw(['run', '--dir', `${data.path}::/data`, wordcount, '--', '/data']);
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    assert.deepEqual(lines(r.stdout), expected('/data'));
  });

  test('HOST alone pre-opens HOST under the same path', async () => {
    const r = await runWw(['run', `--dir=${data.path}`, wordcount, '--', data.path]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), expected(data.path));
  });

  test('a relative HOST is visible under the same relative path', async () => {
    const r = await runWw(['run', '--dir', 'examples/wordcount/data', wordcount, '--', 'examples/wordcount/data']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(lines(r.stdout).at(-1), '      7      56     279 total');
  });

  test('a directory that is not pre-opened is not visible', async () => {
    const r = await runWw(['run', '--dir', `${data.path}::/data`, wordcount, '--', '/elsewhere']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot open directory \/elsewhere/);
    assert.equal(r.stdout, '');
  });

  test('a nonexistent or non-directory HOST is a usage error', async () => {
    const missing = join(data.path, 'no-such-dir');
    const r = await runWw(['run', '--dir', `${missing}::/data`, wordcount]);
    assert.equal(r.status, 2);
    assert.equal(oneErrorLine(r.stderr), `ww: --dir '${missing}': no such file or directory`);

    const file = join(data.path, 'a.txt');
    const notDir = await runWw(['run', '--dir', file, wordcount]);
    assert.equal(notDir.status, 2);
    assert.equal(oneErrorLine(notDir.stderr), `ww: --dir '${file}' is not a directory`);

    const emptyGuest = await runWw(['run', '--dir', `${data.path}::`, wordcount]);
    assert.equal(emptyGuest.status, 2);
    assert.match(oneErrorLine(emptyGuest.stderr), /empty guest path/);
  });

  // The WASI tests' probe guest makes raw calls on fd 3, the first pre-open: "op:args", one result line each.
  const probe = join(repoRoot, 'test', 'wasi', 'guests', 'probe.wasm');
  const probeCommands = ['read:a.txt', 'write:new.txt:x', 'write:a.txt:x', 'mkdir:made', 'unlink:b.txt', 'rename:a.txt:moved.txt', 'symlink:a.txt:link'];

  test('HOST::GUEST::ro lets the guest read and change nothing (EPERM, 63)', async () => {
    const before = readdirSync(data.path).sort();
    const r = await runWw(['run', '--dir', `${data.path}::/data::ro`, probe, '--', ...probeCommands]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), [
      'read ok one two', // a.txt's two lines, as the probe prints them
      'three',
      '',
      'write err 63',
      'write err 63',
      'mkdir err 63',
      'unlink err 63',
      'rename err 63',
      'symlink err 63',
    ]);
    assert.deepEqual(readdirSync(data.path).sort(), before);
    assert.equal(readFileSync(join(data.path, 'a.txt'), 'utf8'), 'one two\nthree\n');

    const count = await runWw(['run', '--dir', `${data.path}::/data::ro`, wordcount, '--', '/data']);
    assert.equal(count.status, 0, count.stderr);
    assert.deepEqual(lines(count.stdout), expected('/data'));
  });

  test('HOST::GUEST::rw, like HOST::GUEST, is read-write', async () => {
    const dir = join(tmp.path, 'rw');
    for (const spec of [`${dir}::/d::rw`, `${dir}::/d`]) {
      mkdirSync(dir);
      writeFileSync(join(dir, 'a.txt'), 'a');
      const r = await runWw(['run', '--dir', spec, probe, '--', 'write:new.txt:x', 'mkdir:made', 'rename:a.txt:moved.txt']);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(lines(r.stdout), ['write ok 1', 'mkdir ok', 'rename ok'], spec);
      assert.deepEqual(readdirSync(dir).sort(), ['made', 'moved.txt', 'new.txt']);
      rmSync(dir, { recursive: true });
    }
  });

  test('a mode other than ro or rw is a usage error naming both', async () => {
    for (const mode of ['xx', 'RO', '', 'ro::ro']) {
      const r = await runWw(['run', '--dir', `${data.path}::/data::${mode}`, probe, '--', 'write:new.txt:x']);
      assert.equal(r.status, 2, `${mode}: ${r.stderr}`);
      assert.equal(
        oneErrorLine(r.stderr),
        `ww: --dir '${data.path}::/data::${mode}' has an unknown mode '${mode}'; write HOST::GUEST::ro (read-only) or HOST::GUEST::rw (read-write, the default)`,
      );
      assert.equal(r.stdout, '');
    }
    assert.deepEqual(readdirSync(data.path).sort(), ['a.txt', 'b.txt', 'empty.txt', 'subdir']);
  });

  test('a symlink to a directory is accepted as HOST', async () => {
    const link = join(tmp.path, 'data-link');
    symlinkSync(data.path, link);
    const r = await runWw(['run', '--dir', `${link}::/d`, wordcount, '--', '/d']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), expected('/d'));
  });
});

describe('ww run: traps and limits end the guest with a clear reason', () => {
  test('a trap exits 134 with one stderr line naming the trap and the function', async () => {
    const r = await runWw(['run', fixtures.trap]);
    assert.equal(r.status, 134);
    assert.match(oneErrorLine(r.stderr), /^ww: trap: .*unreachable.* in fib$/);
  });

  test('--fuel stops a CPU-bound guest: exit 137, limit cpu', async () => {
    const r = await runWw(['run', '--fuel', '1000000', cpuLoop, '--', '1000000000']);
    assert.equal(r.status, 137);
    assert.equal(oneErrorLine(r.stderr), 'ww: limit exceeded: cpu (fuel 1000000)');
    assert.equal(r.stdout, '');
  });

  test('enough --fuel lets the same guest finish', async () => {
    const r = await runWw(['run', '--fuel', '1_000_000_000', cpuLoop, '--', '1000']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^rounds 1000 checksum [0-9a-f]{16}\n$/);
  });

  test('--guest-compiler optimizing and tiered run the guest alike; another value is a usage error', async () => {
    const outputs = [];
    for (const compiler of ['optimizing', 'tiered']) {
      const r = await runWw(['run', '--guest-compiler', compiler, '--fuel', '1_000_000_000', cpuLoop, '--', '100000']);
      assert.equal(r.status, 0, r.stderr);
      outputs.push(r.stdout);
    }
    assert.match(outputs[0]!, /^rounds 100000 checksum [0-9a-f]{16}\n$/);
    assert.equal(outputs[1], outputs[0]);
    const bad = await runWw(['run', '--guest-compiler', 'fast', hello]);
    assert.equal(bad.status, 2);
    assert.equal(oneErrorLine(bad.stderr), "ww: --guest-compiler must be optimizing or tiered, not 'fast'");
  });

  test('--timeout stops a guest that runs too long: exit 137, limit wall', async () => {
    const r = await runWw(['run', '--timeout', '300ms', cpuLoop, '--', '100000000000000']);
    assert.equal(r.status, 137);
    assert.equal(oneErrorLine(r.stderr), 'ww: limit exceeded: wall (timeout 300ms)');
  });

  test('SIGINT to ww kills the guest and exits 130; SIGTERM exits 143; SIGHUP 129', async () => {
    for (const [signal, status] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
      const r = await runWw(['run', fixtures.spin], {
        // The guest prints "ready" once it runs, so ww's signal handlers are in place by then.
        onStdout: (child, soFar) => {
          if (soFar === 'ready\n') child.kill(signal);
        },
      });
      assert.equal(r.stdout, 'ready\n');
      assert.equal(r.status, status, `${signal}: ${r.stderr}`);
      assert.equal(oneErrorLine(r.stderr), `ww: killed the guest on ${signal}`);
    }
  });

  test('--max-memory stops a guest that grows memory past it: exit 137, limit memory', async () => {
    const r = await runWw(['run', '--max-memory', '1m', fixtures.grow]);
    assert.equal(r.status, 137, r.stderr);
    assert.equal(oneErrorLine(r.stderr), 'ww: limit exceeded: memory (max-memory 1 MiB)');
  });
});

describe('ww run: bad input is a clear one-line error, never a stack trace', () => {
  test('a garbage module exits 1 naming the module', async () => {
    const garbage = join(tmp.path, 'garbage.wasm');
    writeFileSync(garbage, 'this is not WebAssembly at all\n');
    const r = await runWw(['run', garbage]);
    assert.equal(r.status, 1);
    assert.match(oneErrorLine(r.stderr), /^ww: module '.*garbage\.wasm': /);
  });

  test('a truncated module exits 1', async () => {
    const bytes = readFileSync(hello);
    const truncated = join(tmp.path, 'truncated.wasm');
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const r = await runWw(['run', truncated]);
    assert.equal(r.status, 1);
    assert.match(oneErrorLine(r.stderr), /^ww: module '.*truncated\.wasm': /);
  });

  test('a module without _start exits 1 and names what is missing', async () => {
    const r = await runWw(['run', fixtures['no-start']]);
    assert.equal(r.status, 1);
    assert.match(oneErrorLine(r.stderr), /^ww: module '.*no-start\.wasm': .*_start/);
  });

  test('a module importing what ww does not provide exits 1 and names the import', async () => {
    const r = await runWw(['run', fixtures['bad-import']]);
    assert.equal(r.status, 1);
    assert.match(oneErrorLine(r.stderr), /^ww: module '.*bad-import\.wasm': .*launch_missiles/);
  });

  test('names a module chose (here an import) reach the terminal escaped, on one line', async () => {
    const r = await runWw(['run', fixtures['control-import']]);
    assert.equal(r.status, 1);
    assert.match(oneErrorLine(r.stderr), /^ww: module '.*control-import\.wasm': .*env\.\\x1b\[2J forged line/);
    assert.ok(!/[\x00-\x08\x0b-\x1f\x7f]/.test(r.stderr), 'no control character but the final newline');
  });

  test('a garbage module on stdin exits 1; an empty stdin too', async () => {
    const r = await runWw(['run', '-'], { input: 'garbage' });
    assert.equal(r.status, 1);
    assert.match(oneErrorLine(r.stderr), /^ww: module from stdin: /);
    const empty = await runWw(['run', '-']);
    assert.equal(empty.status, 1);
    assert.match(oneErrorLine(empty.stderr), /no module on stdin/);
  });

  test('--max-memory below what the module needs at start exits 2 and says so', async () => {
    const r = await runWw(['run', '--max-memory', '64k', hello]); // hello declares 2 pages (128 KiB)
    assert.equal(r.status, 2);
    assert.match(oneErrorLine(r.stderr), /^ww: module '.*hello\.wasm' cannot run with these limits: .*memory at start \(2 pages\)/);
    const one = await runWw(['run', '--max-memory', '1k', fixtures.exit7]); // exit7 declares 1 page
    assert.equal(one.status, 2);
    assert.match(oneErrorLine(one.stderr), /needs 65536 bytes of memory at start \(1 page\), more than the limit of 1024 bytes$/);
  });

  test('a missing module file exits 2 naming the path', async () => {
    const r = await runWw(['run', 'no/such/module.wasm']);
    assert.equal(r.status, 2);
    assert.equal(oneErrorLine(r.stderr), "ww: cannot read module 'no/such/module.wasm': no such file or directory");
  });

  test('a directory as MODULE exits 2', async () => {
    const r = await runWw(['run', 'examples']);
    assert.equal(r.status, 2);
    assert.match(oneErrorLine(r.stderr), /cannot read module 'examples': is a directory/);
  });

  const usageErrors: [string, string[], RegExp][] = [
    ['missing MODULE', ['run'], /^ww: missing MODULE; see 'ww run --help'$/],
    ['unknown option', ['run', '--frobnicate', hello], /^ww: unknown option --frobnicate; see 'ww run --help'$/],
    ['option without its value', ['run', '--fuel'], /--fuel expects a value/],
    ['bad size', ['run', '--max-memory', '12parsecs', hello], /^ww: --max-memory '12parsecs' is not a size/],
    ['zero size', ['run', '--max-memory', '0', hello], /^ww: --max-memory '0' must be a positive size/],
    ['bad duration', ['run', '--timeout', 'soon', hello], /^ww: --timeout 'soon' is not a duration/],
    ['bad fuel', ['run', '--fuel', '1e6', hello], /^ww: --fuel '1e6' must be a positive whole number/],
    ['negative fuel', ['run', '--fuel', '-5', hello], /^ww: --fuel '-5' must be a positive whole number/],
    ['repeated single-value option', ['run', '--fuel', '1', '--fuel', '2', hello], /--fuel can only be specified once/],
    ['unknown command', ['frobnicate'], /^ww: unknown command 'frobnicate' \('ww help' lists the commands\)$/],
    ['mistyped command', ['rn', 'x.wasm'], /^ww: unknown command 'rn': did you mean 'ww run'\? \('ww help' lists the commands\)$/],
    ['help for a mistyped command', ['help', 'stat'], /^ww: unknown command 'stat': did you mean 'ww start'\?/],
    ['a word after a command that takes none', ['ps', 'x'], /^ww: unexpected argument: x; see 'ww ps --help'$/],
    ['an unknown option instead of a command', ['--frobnicate'], /^ww: unknown option --frobnicate; see 'ww --help'$/],
    // A value flag given no value takes MODULE as its value: the flag's value is what is reported.
    ['--timeout took MODULE', ['run', '--timeout', hello], /^ww: --timeout '.*hello\.wasm' is not a duration/],
    ['--max-memory took MODULE', ['run', '--max-memory', hello], /^ww: --max-memory '.*hello\.wasm' is not a size/],
    ['--fuel took MODULE', ['run', '--fuel', hello], /^ww: --fuel '.*hello\.wasm' must be a positive whole number/],
    ['--env took MODULE', ['run', '--env', hello], /^ww: --env '.*hello\.wasm' must be NAME=VALUE$/],
    ['--dir took MODULE', ['run', '--dir', hello], /^ww: --dir '.*hello\.wasm' is not a directory$/],
    ['--listen took MODULE', ['run', '--listen', hello], /^ww: --listen: .*'.*hello\.wasm' must be HOST:PORT/],
    ['--socket took MODULE', ['run', '--socket', hello], /^ww: missing MODULE \('.*hello\.wasm' was read as the value of --socket\); see 'ww run --help'$/],
    ['a valid value and no MODULE', ['run', '--timeout', '2s'], /^ww: missing MODULE; see 'ww run --help'$/],
  ];
  for (const [name, args, message] of usageErrors) {
    test(`usage error exits 2 with one line: ${name}`, async () => {
      const r = await runWw(args);
      assert.equal(r.status, 2, r.stderr);
      assert.match(oneErrorLine(r.stderr), message);
      assert.equal(r.stdout, '');
    });
  }
});

describe('ww help and version', () => {
  test('ww run --help documents the usage, every option, the exit statuses and examples', async () => {
    const r = await runWw(['run', '--help']);
    assert.equal(r.status, 0);
    const help = r.stdout;
    assert.match(help, /USAGE\n\s+\$ ww run \[--dir HOST\[::GUEST\[::ro\]\]\]\.\.\. \[--env NAME=VALUE\]\.\.\./);
    // The USAGE block (wrapped over lines) names every flag, the node ones included.
    const usage = /USAGE\n([\s\S]*?)\n\n/.exec(help)![1].replace(/\s+/g, ' ');
    for (const flag of ['--dir', '--env', '--listen', '--max-memory', '--timeout', '--fuel', '--node', '--detach', '--socket PATH']) {
      assert.ok(usage.includes(flag), `USAGE lacks ${flag}: ${usage}`);
    }
    for (const flag of ['--dir=HOST[::GUEST[::ro]]', '--env=NAME=VALUE', '--max-memory=SIZE', '--timeout=DURATION', '--fuel=N']) {
      assert.ok(help.includes(flag), `help lacks ${flag}`);
    }
    assert.match(help, /134\s+the guest trapped/);
    assert.match(help, /137\s+a limit was exceeded/);
    assert.match(help, /EXAMPLES[\s\S]*\$ ww run --fuel 1000000 examples\/cpu-loop\/cpu-loop\.wasm -- 1000000000/);
  });

  test('ww --help lists the run command', async () => {
    const r = await runWw(['--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /COMMANDS\n(?:.*\n)*?\s+run\s+Run a WebAssembly/);
  });

  test('ww started through a symlink from another directory (as a global install links it) finds its commands', async () => {
    const linkDir = join(tmp.path, 'global-bin');
    mkdirSync(linkDir);
    symlinkSync(join(repoRoot, 'bin', 'ww.js'), join(linkDir, 'ww'));
    const r = await runWw(['run', hello, '--', 'linked'], { bin: join(linkDir, 'ww'), cwd: tmp.path });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(printedArgv(r.stdout), ['hello.wasm', 'linked']);
  });

  test('ww --version, ww -v and ww version print the package version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const args of [['--version'], ['-v'], ['version']]) {
      const r = await runWw(args);
      assert.equal(r.status, 0, `${args}: ${r.stderr}`);
      assert.equal(r.stderr, '');
      assert.match(r.stdout, new RegExp(`^ww/${version.replace(/\./g, '\\.')} \\S+ node-v\\d+`), args.join(' '));
    }
  });

  test('ww help, ww -h and ww --help print the same command list; ww help run, ww run -h and ww run --help the same run help', async () => {
    const root = await Promise.all([['help'], ['-h'], ['--help'], []].map((args) => runWw(args)));
    for (const r of root) {
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, root[2].stdout);
    }
    assert.match(root[0].stdout, /COMMANDS\n(?:.*\n)*?\s+help\s+Show help/);
    assert.match(root[0].stdout, /COMMANDS\n(?:.*\n)*?\s+version\s+Show the ww version/);
    const run = await Promise.all([['help', 'run'], ['run', '-h'], ['run', '--help']].map((args) => runWw(args)));
    for (const r of run) {
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, run[2].stdout);
    }
    assert.match(run[0].stdout, /^Run a WebAssembly/);
    const ps = await runWw(['help', 'ps']);
    assert.equal(ps.status, 0, ps.stderr);
    assert.equal(ps.stdout, (await runWw(['ps', '-h'])).stdout);
  });

  test('a reader that goes away (ww --help | head -0, ww run --help too) ends ww with 141, as SIGPIPE would, not a hang', async () => {
    for (const args of [['--help'], ['run', '--help']]) {
      const child = spawn(process.execPath, [wwBin, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.destroy(); // closed long before ww, still loading, writes its help
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      assert.equal(status, 141, `${args.join(' ')}: ${stderr}`);
      assert.equal(stderr, '');
    }
  });

  test('-h after MODULE is the guest\'s, not a help request', async () => {
    const r = await runWw(['run', hello, '-h']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(printedArgv(r.stdout), ['hello.wasm', '-h']);
  });
});
