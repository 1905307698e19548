// `ww argo run`: run a plain Argo Workflow file on ww, without Kubernetes (src/argo). Steps run on the
// node when one answers on --socket, else in this process, as `ww run` does.
import { Args, Command, Flags } from '@oclif/core';
import { socketFlag } from '../../lib/node-args.js';
import { InputError, UsageError } from '../../errors.js';

export default class ArgoRun extends Command {
  static override summary = 'Run an Argo Workflow file on ww, without Kubernetes.';

  static override description = `Runs WORKFLOW (a YAML file with kind: Workflow, as Argo's examples are written) the way Argo's controller would, with each container or script step run as a WebAssembly process: on the node answering on --socket, else in this process.

A step's image names its module through the image map. The defaults: busybox and alpine:* run a Wasm POSIX shell, argoproj/argosay:v1 and :v2 a Wasm argosay (both under examples/argo-images/). --image NAME=MODULE adds or replaces one (NAME may end in *; MODULE may be written KIND:PATH, KIND shell, argosay or plain: how argv is read when the step gives no command); --image-map FILE adds a JSON or YAML map {NAME: MODULE}. A step whose image has no module fails with a message saying how to map it.

Each step sees scratch directories at /tmp, at the directories of its output files, and a script step's source at /argo/staging/script; its stdout is outputs.result. Artifacts pass between steps through a local store in the run's directory (--run-dir to keep it; else a temporary one, removed).

Runs: steps, dag (dependencies, depends), withItems, withParam, withSequence, when, retryStrategy (limit, retryPolicy, backoff), onExit, outputs (parameters, result, artifacts; loops aggregated as JSON lists), parallelism, {{= expressions}}. Refused before starting, by name: suspend, resource, http, plugin, containerSet and data templates, templateRef, hooks, volumes and the like.

Prints the node tree with phases as \`argo get\` does (stderr carries the steps' own stderr, prefixed with their names). --json prints the workflow with its status in Argo's shape (status.phase, status.nodes keyed by node ID with type, phase, templateName, outputs).

Exit status: 0 the workflow succeeded; 1 it failed, or WORKFLOW is not a valid Workflow (the message names file:line and the field); 2 bad command line.`;

  static override usage = ['argo run WORKFLOW [-p NAME=VALUE]... [--image NAME=MODULE]... [--image-map FILE] [--run-dir DIR] [--socket PATH] [--json]'];

  static override examples = [
    { description: 'Run a workflow with the default images.', command: '<%= config.bin %> argo run hello.yaml' },
    { description: 'Set a workflow parameter.', command: '<%= config.bin %> argo run -p message=hi steps.yaml' },
    { description: 'Map an image to a module of your own.', command: '<%= config.bin %> argo run --image my/tool:1=./tool.wasm dag.yaml' },
    { description: 'The phase of every node, with jq.', command: "<%= config.bin %> argo run --json dag.yaml | jq '.status.nodes[] | {displayName, phase}'" },
  ];

  static override args = {
    workflow: Args.string({ description: 'the Workflow YAML file', required: true }),
  };

  static override flags = {
    parameter: Flags.string({ char: 'p', description: 'a workflow parameter, NAME=VALUE (repeatable)', multiple: true, multipleNonGreedy: true }),
    image: Flags.string({ description: 'map an image to a Wasm module, NAME=MODULE (repeatable)', multiple: true, multipleNonGreedy: true }),
    'image-map': Flags.string({ description: 'a JSON or YAML file mapping image names to modules (repeatable)', multiple: true, multipleNonGreedy: true }),
    'run-dir': Flags.string({ description: 'keep the run\'s directory (the artifact store) here' }),
    json: Flags.boolean({ description: 'print the workflow with its status as JSON, in Argo\'s shape' }),
    socket: socketFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ArgoRun);
    const { argoRun } = await import('../../argo-run.js');
    process.exitCode = await argoRun(args.workflow, {
      parameters: parseParameters(flags.parameter ?? []),
      images: flags.image ?? [],
      imageMaps: flags['image-map'] ?? [],
      runDir: flags['run-dir'],
      json: flags.json,
      socket: flags.socket,
    });
  }
}

function parseParameters(entries: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new UsageError(`-p '${entry}' must be NAME=VALUE`);
    out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}

export { InputError };
