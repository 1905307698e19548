// Interop of the TypeScript RPC engine with the C++ reference implementation (libcapnp-rpc), on the
// contract in capnp/interop.capnp: each client runs every check of the schema's comments against each
// server, and must report every check passed.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildCppPeer, parseReport, repoRoot, runClient, startServer, tsClient, tsServer } from './peers.js';

/** The checks of `peer client` (test/interop/cpp/peer.c++, Client::runChecks), in the order it runs them. */
const CPP_CLIENT_CHECKS = [
  'put-get-roundtrip',
  'get-missing-key-fails-not-found',
  'counter-self-returns-itself',
  'counter-pipelined-one-level',
  'counter-pipelined-two-levels',
  'subscribe-notifies-in-order-before-returning',
  'subscribe-zero-events',
  'subscribe-cancel-releases-listener',
  'subscribe-drop-releases-listener',
  'echo-embargo-keeps-call-order',
  'fail-throws-with-message',
  'connection-usable-after-exception',
  'blob-0',
  'blob-1',
  'blob-250',
  'blob-251',
  'blob-4096',
  'blob-1048576',
  'blob-33554432',
  'hold-increments-held',
  'release-lowers-held',
  'release-counts-every-reference',
  'concurrent-1000-increments',
];

/**
 * The checks of the TypeScript client (tools/interop/checks.ts, which client.js runs in order), read
 * from the compiled module so that this test follows that list as it grows; the client must report each
 * one `ok`, so a client that stops early or skips a check cannot pass.
 */
async function tsClientChecks(): Promise<string[]> {
  const modulePath = join(repoRoot, 'dist/tools/interop/checks.js');
  const { CHECKS } = (await import(pathToFileURL(modulePath).href)) as { CHECKS?: unknown };
  assert.ok(Array.isArray(CHECKS), `${modulePath} must export CHECKS, the TypeScript client's list of checks`);
  const names = CHECKS.map((check: { name?: unknown }) => check.name);
  assert.ok(names.every((name) => typeof name === 'string'), 'every TypeScript check must have a name');
  return names as string[];
}

// A 32 MiB blob through the TypeScript engine, on a loaded 2-core CI machine: be generous.
const CLIENT_TIMEOUT_MS = 240_000;
const TEST_TIMEOUT_MS = 300_000;

let cppPeer = '';
before(() => {
  cppPeer = buildCppPeer();
});

const cppServer = () => ({ command: cppPeer, args: ['server'] });
const cppClient = () => ({ command: cppPeer, args: ['client'] });

interface Command {
  command: string;
  args: readonly string[];
}

/** Starts `server`, runs `client` against it, and returns the names of the checks that passed. */
async function runEveryCheck(server: Command, client: Command, expectedChecks: number): Promise<string[]> {
  assert.ok(expectedChecks > 0, 'a client must run at least one check');
  const running = await startServer(server.command, server.args);
  try {
    const run = await runClient(client.command, client.args, running.address, CLIENT_TIMEOUT_MS);
    const report = parseReport(run.stdout);
    const context = [
      `client exited with code ${run.code}, signal ${run.signal}${run.timedOut ? ` (killed after ${CLIENT_TIMEOUT_MS} ms)` : ''}`,
      `--- client stdout ---\n${run.stdout}--- client stderr ---\n${run.stderr}`,
      `=== server (${running.address}) ===\n${running.output()}`,
    ].join('\n');
    assert.deepEqual(report.failedLines, [], `the client reported failed checks\n${context}`);
    assert.deepEqual(
      report.summary,
      { passed: expectedChecks, failed: 0 },
      `the client's last line must be '${expectedChecks} passed, 0 failed'\n${context}`,
    );
    assert.equal(report.passedChecks.length, expectedChecks, `one 'ok <name>' line per check\n${context}`);
    assert.equal(run.code, 0, `the client must exit 0\n${context}`);
    return report.passedChecks;
  } finally {
    await running.stop();
  }
}

test('C++ client passes every check against the C++ server (validates the checks)', { timeout: TEST_TIMEOUT_MS }, async () => {
  const passed = await runEveryCheck(cppServer(), cppClient(), CPP_CLIENT_CHECKS.length);
  assert.deepEqual(passed, CPP_CLIENT_CHECKS);
});

test('C++ client passes every check against the TypeScript server', { timeout: TEST_TIMEOUT_MS }, async () => {
  const passed = await runEveryCheck(tsServer, cppClient(), CPP_CLIENT_CHECKS.length);
  assert.deepEqual(passed, CPP_CLIENT_CHECKS);
});

test('TypeScript client passes every check against the C++ server', { timeout: TEST_TIMEOUT_MS }, async () => {
  const expected = await tsClientChecks();
  const passed = await runEveryCheck(cppServer(), tsClient, expected.length);
  assert.deepEqual(passed, expected);
});

test('TypeScript client passes every check against the TypeScript server', { timeout: TEST_TIMEOUT_MS }, async () => {
  const expected = await tsClientChecks();
  const passed = await runEveryCheck(tsServer, tsClient, expected.length);
  assert.deepEqual(passed, expected);
});
