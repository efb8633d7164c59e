import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { tempDir } from '@lambdastore/testkit';

/** `lambdastore start --once` end to end, small: what `npm start` runs, checked by its exit code. */
describe('lambdastore start --once', function () {
  this.timeout(120_000);

  it('deploys the examples, runs the micro and bank workloads, and passes its checks', async () => {
    const dir = await tempDir('lambdastore-start-');
    try {
      const main = join(import.meta.dirname, '..', 'src', 'main.js');
      const args = [main, 'start', '--once', '--workers', '2', '--objects', '20', '--accounts', '20', '--duration-s', '1', '--concurrency', '8', '--data', dir.path];
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => child.kill('SIGINT'), 100_000);
      const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
      clearTimeout(timer);
      expect(code, out).to.equal(0);
      expect(out).to.match(/bank check: PASS/);
      expect(out).to.match(/write share \| calls\/s/);
      for (const share of ['0 %', '50 %', '100 %']) expect(out).to.include(`${share} |`);
    } finally {
      await dir.cleanup();
    }
  });
});
