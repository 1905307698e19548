// The node's identity: an Ed25519 key whose libp2p peer ID names the node. Kept in the data
// directory (protobuf form, mode 0600) so the peer ID survives restarts; without a data directory,
// a new key per start. A key file that cannot be read is an error, never silently replaced: the
// peer ID is what other operators put on their allow-lists.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { PrivateKey } from '@libp2p/interface';
import { ClusterError } from './errors.js';

/** The file in the data directory that holds the key. */
export const IDENTITY_FILE = 'identity.key';

export interface Identity {
  readonly privateKey: PrivateKey;
  /** The libp2p peer ID (`12D3KooW...`). */
  readonly peerId: string;
}

/** The key in `<dataDir>/identity.key`, made on first use; without dataDir, a new one. */
export async function loadIdentity(dataDir?: string): Promise<Identity> {
  if (dataDir === undefined) return identityOf(await generateKeyPair('Ed25519'));
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, IDENTITY_FILE);
  if (!existsSync(file)) {
    const key = await generateKeyPair('Ed25519');
    // 'wx': two nodes starting on one data directory must not overwrite each other's key.
    try {
      writeFileSync(file, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' });
      return identityOf(key);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new ClusterError('bad-key-file', `cannot write the node's key ${file}: ${(e as Error).message}`, { cause: e });
      }
    }
  }
  let key: PrivateKey;
  try {
    key = privateKeyFromProtobuf(readFileSync(file));
  } catch (e) {
    throw new ClusterError(
      'bad-key-file',
      `${file} is not a readable private key (${(e as Error).message}): restore it from a backup, or move it away to give this node a new peer ID`,
      { cause: e },
    );
  }
  if (key.type !== 'Ed25519') throw new ClusterError('bad-key-file', `${file} holds a ${key.type} key; ww keys are Ed25519: move it away to give this node a new peer ID`);
  return identityOf(key);
}

function identityOf(privateKey: PrivateKey): Identity {
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString() };
}
