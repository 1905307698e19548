// `ww help [COMMAND]`: the same help `ww --help` and `ww COMMAND --help` print (oclif's Help class),
// as a command, the way oclif's help plugin provides it, without the plugin.
import { Args, Command, loadHelpClass } from '@oclif/core';
import { unknownCommand } from '../unknown-command.js';

export default class HelpCommand extends Command {
  static override summary = 'Show help for ww, or for one command.';

  static override description = '`ww help run` is the same as `ww run --help` (or `ww run -h`); `ww help` alone lists the commands.';

  static override examples = [
    { description: 'List the commands.', command: '<%= config.bin %> help' },
    { description: 'Every option of ww run.', command: '<%= config.bin %> help run' },
  ];

  static override args = { command: Args.string({ description: 'the command to explain', required: false }) };

  // `ww help ps --tree` still explains ps: what follows the command's name is not checked.
  static override strict = false;

  async run(): Promise<void> {
    const words = this.argv.filter((word) => !word.startsWith('-'));
    if (words.length > 0 && !this.config.findCommand(words[0])) throw unknownCommand(words[0], this.config.commandIDs);
    const Help = await loadHelpClass(this.config);
    await new Help(this.config, this.config.pjson.oclif.helpOptions ?? {}).showHelp(words.slice(0, 1));
  }
}
