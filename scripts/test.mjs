#!/usr/bin/env node
// `npm test`: build everything, run every package's tests (turbo, one package at a time: the
// integration tests start whole clusters and the machine has 2 cores), and close with one line
// that sums the mocha results of all packages: "tests: N passed, N failed".
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const turbo = join(root, 'node_modules', '.bin', 'turbo');

function run(args, { tally } = {}) {
  return new Promise((resolve) => {
    const child = spawn(turbo, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' } });
    let pending = '';
    child.stdout.on('data', (d) => {
      process.stdout.write(d);
      if (!tally) return;
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop();
      for (const line of lines) tally(line);
    });
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

const totals = { passed: 0, failed: 0, pending: 0 };
const tally = (line) => {
  // mocha's summary lines, prefixed by turbo with the package name
  const m = /\s(\d+) (passing|failing|pending)\b/.exec(line);
  if (!m) return;
  const n = Number(m[1]);
  if (m[2] === 'passing') totals.passed += n;
  else if (m[2] === 'failing') totals.failed += n;
  else totals.pending += n;
};

const extra = process.argv.slice(2);
let code = await run(['run', 'build', '--output-logs=errors-only']);
if (code === 0) code = await run(['run', 'test', '--concurrency=1', '--continue', ...extra], { tally });
const skipped = totals.pending ? `, ${totals.pending} skipped` : '';
console.log(`\ntests: ${totals.passed} passed, ${totals.failed} failed${skipped}`);
if (code === 0 && totals.failed > 0) code = 1;
process.exit(code);
