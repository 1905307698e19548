// oclif's command_not_found hook: `ww rn x.wasm` names the word the user typed (`rn`, not oclif's
// joined id `rn:x.wasm`) and suggests the nearest command. Thrown errors reach cli/main.ts.
import type { Hook } from '@oclif/core';
import { commandNotFound } from '../unknown-command.js';

const hook: Hook<'command_not_found'> = async function ({ id, config }) {
  throw commandNotFound(id, config.commandIDs);
};

export default hook;
