#!/usr/bin/env node
/** The `lambdastore` executable: see cli.ts for the commands. */
import { run } from './cli.js';

process.exitCode = await run(process.argv.slice(2));
