// The test network itself: hosts reach each other and nothing else, a cut and a blackhole take
// effect and heal, and nothing is left behind — after close(), and after a run that was killed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { namespaces, ip, TestNetwork } from './netns.js';
import { requireNamespaces } from './require.js';

requireNamespaces();

/** A TCP echo server on ADDRESS:7000 inside a host; resolves when it listens. */
async function echoServer(net: TestNetwork, host: number): Promise<ChildProcess> {
  const script = `require('net').createServer((s) => s.pipe(s)).listen(7000, '${net.host(host).address}', () => console.log('listening'))`;
  const child = net.spawn(host, process.execPath, ['-e', script]);
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  assert.match(line.toString(), /listening/);
  return child;
}

/** From inside `host`, connects to ADDRESS:7000 and sends "ping"; the echo, or the error code. */
function probe(net: TestNetwork, host: number, address: string, timeoutMs = 1500): string {
  const script = `const s = require('net').connect(7000, '${address}'); s.setTimeout(${timeoutMs}, () => { console.log('timeout'); process.exit(0) });
    s.on('connect', () => s.write('ping')); s.on('data', (d) => { console.log(String(d)); process.exit(0) });
    s.on('error', (e) => { console.log(e.code); process.exit(0) });`;
  const r = spawnSync('ip', ['netns', 'exec', net.host(host).netns, process.execPath, '-e', script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test('hosts on a test network reach each other, and nothing outside it', async (t) => {
  const net = TestNetwork.create(3);
  t.after(() => net.close());
  await echoServer(net, 1);
  assert.equal(probe(net, 2, '10.99.0.1'), 'ping');
  assert.equal(probe(net, 3, '10.99.0.1'), 'ping');
  // No default route inside: the machine's own network (and anything beyond) is unreachable at once.
  assert.doesNotMatch(ip('-n', net.host(2).netns, 'route'), /default/);
  assert.equal(probe(net, 2, '192.0.2.1'), 'ENETUNREACH');
});

test('a blackhole cuts one pair at once, a cut link isolates a host, and both heal', async (t) => {
  const net = TestNetwork.create(3);
  t.after(() => net.close());
  await echoServer(net, 1);

  net.blackhole(2, 1);
  assert.match(probe(net, 2, '10.99.0.1'), /^(EINVAL|ENETUNREACH|EHOSTUNREACH)$/);
  assert.equal(probe(net, 3, '10.99.0.1'), 'ping', 'only 2 -> 1 is cut');
  net.unblackhole(2, 1);
  assert.equal(probe(net, 2, '10.99.0.1'), 'ping');

  net.cut(1);
  assert.notEqual(probe(net, 3, '10.99.0.1'), 'ping');
  net.heal(1);
  assert.equal(probe(net, 3, '10.99.0.1', 10_000), 'ping');
});

test('close() kills what ran inside and removes the namespaces and the bridge', async () => {
  const net = TestNetwork.create(2);
  const server = await echoServer(net, 1);
  const names = net.hosts.map((h) => h.netns);
  assert.ok(names.every((n) => namespaces().includes(n)));
  await net.close();
  assert.ok(server.exitCode !== null || server.signalCode !== null, 'the server was killed');
  assert.deepEqual(namespaces().filter((n) => names.includes(n)), []);
  assert.equal(spawnSync('ip', ['link', 'show', net.bridge]).status, 1, 'the bridge is gone');
});

test('a run killed before it cleaned up is cleaned up by the next one', async () => {
  // A child process makes a network, starts a process inside, prints the tag and is killed -9 (no exit hook runs).
  const orphanScript = `import('${new URL('./netns.js', import.meta.url).href}').then(({ TestNetwork }) => {
      const net = TestNetwork.create(2);
      net.spawn(1, 'sleep', ['600']);
      console.log(net.tag);
      setInterval(() => {}, 1000);
    })`;
  const orphan = spawn(process.execPath, ['--input-type=module', '-e', orphanScript], { stdio: 'pipe' });
  const [out] = (await once(orphan.stdout, 'data')) as [Buffer];
  const tag = out.toString().trim();
  orphan.kill('SIGKILL');
  await once(orphan, 'exit');
  const left = namespaces().filter((n) => n.includes(`-${tag}-`));
  assert.equal(left.length, 2, 'killed -9, it left its namespaces behind');

  const next = TestNetwork.create(1);
  await next.close();
  assert.deepEqual(namespaces().filter((n) => n.includes(`-${tag}-`)), [], 'the next run removed them');
  assert.ok(!existsSync(`/run/ww-cluster-tests/${tag}`));
});
