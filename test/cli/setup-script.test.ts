// scripts/setup.sh adds bookworm-backports from the mirror the machine's apt already uses for bookworm,
// read from its sources in either format, and names no mirror of its own. Run on sample sources
// (APT_ETC), never on the machine's.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, tempDir } from './helpers.js';

const setup = join(repoRoot, 'scripts', 'setup.sh');
const tmp = tempDir('apt');
after(() => tmp.cleanup());

let count = 0;
/** A fresh apt configuration directory holding `files` (name under sources.list.d/, or sources.list). */
function aptEtc(files: Record<string, string>): string {
  const etc = join(tmp.path, `etc-${count++}`);
  mkdirSync(join(etc, 'sources.list.d'), { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(name === 'sources.list' ? join(etc, name) : join(etc, 'sources.list.d', name), text);
  return etc;
}

/** Sources setup.sh (which then only defines its functions) and runs `command` with APT_ETC=etc. */
function inSetup(etc: string, command: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('bash', ['-c', `source "$1"; ${command}`, 'bash', setup], { env: { ...process.env, APT_ETC: etc }, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const DEB822 = `Types: deb
# a comment
URIs: http://apt-mirror.invalid/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: http://apt-mirror.invalid/debian http://second.invalid/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;

describe('scripts/setup.sh', () => {
  test('finds the mirror (and its keyring) of the bookworm suite in deb822 sources', () => {
    const r = inSetup(aptEtc({ 'debian.sources': DEB822 }), 'debian_source bookworm');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'http://apt-mirror.invalid/debian /usr/share/keyrings/debian-archive-keyring.gpg\n');
  });

  test('skips disabled stanzas and deb-src only ones; an inline key is not a keyring path', () => {
    const sources = `Types: deb
URIs: http://disabled.invalid/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb-src
URIs: http://sources-only.invalid/debian
Suites: bookworm
Components: main

Types: deb
URIs: file:/srv/apt/debian
Suites: bookworm
Components: main
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBGPL
 -----END PGP PUBLIC KEY BLOCK-----
`;
    const r = inSetup(aptEtc({ 'local.sources': sources }), 'debian_source bookworm');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'file:/srv/apt/debian\n');
  });

  test('finds it in one-line sources, with or without options', () => {
    const withOptions = inSetup(
      aptEtc({ 'sources.list': '# deb http://commented.invalid/debian bookworm main\ndeb [arch=amd64 signed-by=/etc/apt/keyrings/debian.gpg] http://apt-mirror.invalid/debian bookworm main contrib\n' }),
      'debian_source bookworm',
    );
    assert.equal(withOptions.stdout, 'http://apt-mirror.invalid/debian /etc/apt/keyrings/debian.gpg\n');
    const plain = inSetup(aptEtc({ 'mirror.list': 'deb-src http://src.invalid/debian bookworm main\ndeb http://apt-mirror.invalid/debian bookworm main\n' }), 'debian_source bookworm');
    assert.equal(plain.stdout, 'http://apt-mirror.invalid/debian\n');
    const other = inSetup(aptEtc({ 'mirror.list': 'deb http://apt-mirror.invalid/debian bookworm-backports main\n' }), 'debian_source bookworm');
    assert.equal(other.stdout, '', 'bookworm-backports is not bookworm');
  });

  test('adds bookworm-backports with that mirror, once; nothing when a source already names it', () => {
    const etc = aptEtc({ 'debian.sources': DEB822 });
    for (let i = 0; i < 2; i++) {
      const r = inSetup(etc, 'add_backports bookworm ""');
      assert.equal(r.status, 0, r.stderr);
    }
    assert.deepEqual(readdirSync(join(etc, 'sources.list.d')).sort(), ['debian.sources', 'ww-backports.sources']);
    assert.equal(
      readFileSync(join(etc, 'sources.list.d', 'ww-backports.sources'), 'utf8'),
      'Types: deb\nURIs: http://apt-mirror.invalid/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n',
    );
    const already = aptEtc({ 'sources.list': 'deb http://apt-mirror.invalid/debian bookworm main\ndeb http://apt-mirror.invalid/debian bookworm-backports main\n' });
    assert.equal(inSetup(already, 'add_backports bookworm ""').status, 0);
    assert.deepEqual(readdirSync(join(already, 'sources.list.d')), []);
  });

  test('without a bookworm source it says so and adds nothing', () => {
    const etc = aptEtc({});
    const r = inSetup(etc, 'add_backports bookworm ""');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^setup\.sh: no apt source for Debian bookworm found in .*; add bookworm-backports yourself/);
    assert.deepEqual(readdirSync(join(etc, 'sources.list.d')), []);
  });

  test('installs nc for the READMEs\' echo example, and names no mirror host itself', () => {
    const script = readFileSync(setup, 'utf8');
    assert.match(script, /^\s+netcat-openbsd\s/m);
    assert.doesNotMatch(script, /\b[a-z]+:\/\/[a-z0-9.-]+\.[a-z]{2,}/i, 'a URL with a host');
  });
});
