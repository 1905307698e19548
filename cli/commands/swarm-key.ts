// `ww swarm-key`: a new cluster secret for `ww start --swarm-key`.
import { Command, Flags } from '@oclif/core';
import { InputError } from '../errors.js';

export default class SwarmKey extends Command {
  static override summary = 'Make a new swarm key (a cluster secret) for ww start --swarm-key.';

  static override description = `Makes a new random libp2p private network key in the /key/swarm/psk/1.0.0/ file format: with --out, written to a new file only you can read (mode 0600; an existing file is never replaced); without it, printed. Copy it to every peer of the cluster and start each with --swarm-key FILE: only peers holding the same key can connect (the handshake of any other fails). Anyone with the file can join: treat it like a password. ww start refuses a key file that every user of the machine may read.

Exit status: 0; 1 the file exists or cannot be written; 2 bad command line.`;

  static override examples = [
    { description: 'Make a key file only you can read.', command: '<%= config.bin %> swarm-key --out swarm.key' },
    { description: 'Print one (mind the umask if you redirect it to a file).', command: '<%= config.bin %> swarm-key' },
  ];

  static override flags = {
    out: Flags.string({ helpValue: 'FILE', description: 'write the key to FILE (created with mode 0600; never replaced)' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(SwarmKey);
    const { newSwarmKey } = await import('../../src/cluster/swarm-key.js');
    if (flags.out === undefined) {
      process.stdout.write(newSwarmKey());
      return;
    }
    const { writeFileSync } = await import('node:fs');
    try {
      writeFileSync(flags.out, newSwarmKey(), { mode: 0o600, flag: 'wx' });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new InputError(err.code === 'EEXIST' ? `${flags.out} exists: a swarm key is never replaced (remove it first if you mean to)` : `cannot write ${flags.out}: ${err.message}`);
    }
  }
}
