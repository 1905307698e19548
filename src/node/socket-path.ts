// Where a node's socket is by default: a leaf, so that finding it loads nothing else (a local `ww run`
// asks, to see whether a node is there, before it knows it needs one).
import { homedir } from 'node:os';
import { join } from 'node:path';

/** `$XDG_RUNTIME_DIR/ww/node.sock`, else `~/.ww/node.sock`. */
export function defaultSocketPath(): string {
  const runtimeDir = process.env.XDG_RUNTIME_DIR;
  return runtimeDir ? join(runtimeDir, 'ww', 'node.sock') : join(homedir(), '.ww', 'node.sock');
}
