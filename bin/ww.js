#!/usr/bin/env node
// The ww command line. Commands live in dist/cli/commands (compiled from cli/commands).
import { execute } from '@oclif/core';

await execute({ dir: import.meta.url });
