// The node's socket for a command: --socket (or $WW_SOCKET), else the default. No oclif here: the
// fast path in cli/main.ts (`ww run`, `ww ps` without oclif) and node-connection.ts use it.

/** The socket path to use: the flag's value, else the node's default. */
export async function resolveSocketPath(flag: string | undefined): Promise<string> {
  if (flag !== undefined && flag !== '') return flag;
  const { defaultSocketPath } = await import('../../src/node/socket-path.js');
  return defaultSocketPath();
}
