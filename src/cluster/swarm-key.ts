// The cluster secret: a libp2p private network key in the usual file format
//   /key/swarm/psk/1.0.0/
//   /base16/
//   <64 hex digits>
// A leaf (node:crypto only), so `ww swarm-key` makes one without loading libp2p.

import { randomBytes } from 'node:crypto';
import { openSync, fstatSync, readFileSync, closeSync } from 'node:fs';
import { ClusterError } from './errors.js';

const HEADER = '/key/swarm/psk/1.0.0/';

/** A new swarm key, as the text of a key file. */
export function newSwarmKey(): string {
  return `${HEADER}\n/base16/\n${randomBytes(32).toString('hex')}\n`;
}

/** Checks a key file's text and returns it in the form libp2p's pnet reads (header, encoding, hex). */
export function parseSwarmKey(text: string, where: string): Uint8Array {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  const bad = (why: string): ClusterError =>
    new ClusterError('bad-swarm-key', `${where} is not a swarm key (${why}): make one with \`ww swarm-key --out FILE\``);
  if (lines[0] !== HEADER) throw bad(`its first line must be ${HEADER}`);
  if (lines[1] !== '/base16/') throw bad('its second line must be /base16/');
  if (lines.length !== 3 || !/^[0-9a-fA-F]{64}$/.test(lines[2])) throw bad('its third line must be 64 hex digits');
  return new TextEncoder().encode(`${HEADER}\n/base16/\n${lines[2].toLowerCase()}`);
}

/**
 * Reads and checks a swarm key file. A key that every user of this machine may read is refused:
 * anyone holding it joins the cluster. Its group may read it (how Kubernetes hands a pod a secret
 * through fsGroup), which ssh would refuse for a private key.
 */
export function readSwarmKey(file: string): Uint8Array {
  let text: string;
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const mode = fstatSync(fd).mode & 0o777;
    if (mode & 0o007) {
      throw new ClusterError('bad-swarm-key', `the swarm key ${file} may be read by every user of this machine (mode ${mode.toString(8).padStart(4, '0')}): \`chmod 600 ${file}\` first`);
    }
    text = readFileSync(fd, 'utf8');
  } catch (e) {
    if (e instanceof ClusterError) throw e;
    throw new ClusterError('bad-swarm-key', `cannot read the swarm key ${file}: ${(e as Error).message}`, { cause: e });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return parseSwarmKey(text, file);
}
