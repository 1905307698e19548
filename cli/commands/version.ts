// `ww version`: what `ww --version` and `ww -v` print (oclif's user agent: ww/VERSION PLATFORM-ARCH
// node-vX), as a command, the way oclif's version plugin provides it, without the plugin.
import { Command } from '@oclif/core';

export default class Version extends Command {
  static override summary = 'Show the ww version (also: ww --version, ww -v).';

  static override examples = [{ description: 'Print ww, platform and Node versions.', command: '<%= config.bin %> version' }];

  async run(): Promise<void> {
    await this.parse(Version);
    process.stdout.write(`${this.config.userAgent}\n`);
  }
}
