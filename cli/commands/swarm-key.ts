// `ww swarm-key`: print a new cluster secret for `ww start --swarm-key`.
import { Command } from '@oclif/core';

export default class SwarmKey extends Command {
  static override summary = 'Print a new swarm key (a cluster secret) for ww start --swarm-key.';

  static override description = `Prints a new random libp2p private network key in the /key/swarm/psk/1.0.0/ file format. Save it to a file readable only by you, copy it to every peer of the cluster, and start each with --swarm-key FILE: only peers holding the same key can connect (the handshake of any other fails). Anyone with the file can join: treat it like a password.

Exit status: 0; 2 bad command line.`;

  static override examples = [{ description: 'Make a key file only you can read.', command: '(umask 077 && <%= config.bin %> swarm-key > swarm.key)' }];

  async run(): Promise<void> {
    await this.parse(SwarmKey);
    const { newSwarmKey } = await import('../../src/cluster/swarm-key.js');
    process.stdout.write(newSwarmKey());
  }
}
