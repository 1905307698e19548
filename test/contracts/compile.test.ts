// The contracts the compiler enforces, checked by compiling small programs against the real sources:
// the host-call bridge wants a handler for every op of a namespace (so a new ww function does not
// compile until both sides have it), and a generated server type wants every method of its interface.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const snippetPath = join(root, 'test', 'contracts', '__snippet__.ts');
const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
if (!config) throw new Error('tsconfig.json did not parse');
const options: ts.CompilerOptions = { ...config.options, noEmit: true };
let previous: ts.Program | undefined;

/** The compiler's messages for `source`, compiled as a file of test/contracts. */
function errorsOf(source: string): string[] {
  const host = ts.createCompilerHost(options);
  const readFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, ...rest) => (name === snippetPath ? ts.createSourceFile(name, source, language) : readFile(name, language, ...rest));
  const exists = host.fileExists.bind(host);
  host.fileExists = (name) => name === snippetPath || exists(name);
  const program = ts.createProgram([snippetPath], options, host, previous);
  previous = program;
  return ts.getPreEmitDiagnostics(program, program.getSourceFile(snippetPath)).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

const BRIDGE = `
import type { Caller, Handlers } from '../../src/wasm/host-call.js';
import type { WwCalls } from '../../src/wasm/ww-host/abi.js';
import type { SockCalls } from '../../src/wasm/sockets/protocol.js';
import type { GuestProcess } from '../../src/executor/guest.js';
declare const answered: GuestProcess['calls'];
declare const call: Caller<WwCalls>;
`;

test('the executor answers every op of the ww host calls (the control: it compiles)', () => {
  assert.deepEqual(errorsOf(`${BRIDGE}\nconst all: Handlers<WwCalls> = answered;\nconst n: number = call('self', undefined);\nvoid all; void n;\n`), []);
});

test('a handler table without one op of the map does not compile, naming the op', () => {
  const errors = errorsOf(`${BRIDGE}\nconst { event_poll: _, ...rest } = answered;\nconst missing: Handlers<WwCalls> = rest;\nvoid _; void missing;\n`);
  assert.ok(errors.some((e) => e.includes('event_poll')), errors.join('\n'));
});

test('an op added to the map does not compile until it is answered', () => {
  const errors = errorsOf(`${BRIDGE}\ntype More = WwCalls & { frobnicate: { args: { h: number }; answer: number } };\nconst stale: Handlers<More> = answered;\nvoid stale;\n`);
  assert.ok(errors.some((e) => e.includes('frobnicate')), errors.join('\n'));
});

test('the worker side is typed by the same map: arguments and answers of the wrong type do not compile', () => {
  const wrongAnswer = errorsOf(`${BRIDGE}\nconst s: string = call('self', undefined);\nvoid s;\n`);
  assert.ok(wrongAnswer.some((e) => /not assignable to type 'string'/.test(e)), wrongAnswer.join('\n'));
  const wrongArgs = errorsOf(`${BRIDGE}\ncall('proc_kill', { pid: 3 });\n`);
  assert.ok(wrongArgs.length > 0, 'proc_kill takes { h }');
  const unknownOp = errorsOf(`${BRIDGE}\ncall('frobnicate', undefined);\n`);
  assert.ok(unknownOp.some((e) => e.includes('frobnicate')), unknownOp.join('\n'));
  const shortTuple = errorsOf(`${BRIDGE}\ndeclare const sock: Caller<SockCalls>;\nsock('accept', [1]);\n`);
  assert.ok(shortTuple.length > 0, 'sock.accept takes [id, block]');
});

test('a generated server type wants every method of its interface', () => {
  const server = `import type { Executor$Server } from '../../src/capnp-gen/ww.rpc.js';\n`;
  const full = errorsOf(`${server}declare const s: Executor$Server;\nconst again: Executor$Server = { spawn: s.spawn, ps: s.ps, obsoleteProcess: s.obsoleteProcess, modules: s.modules, restrict: s.restrict, process: s.process };\nvoid again;\n`);
  assert.deepEqual(full, [], 'the control: all six methods');
  const partial = errorsOf(`${server}declare const s: Executor$Server;\nconst partial: Executor$Server = { spawn: s.spawn, ps: s.ps, obsoleteProcess: s.obsoleteProcess, restrict: s.restrict, process: s.process };\nvoid partial;\n`);
  assert.ok(partial.some((e) => e.includes('modules')), partial.join('\n'));
});
