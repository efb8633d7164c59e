/**
 * Dependency direction (docs/ARCHITECTURE.md): the coordinator may import proto and sdk/runtime,
 * never worker, storage, txn or client. Checked on the sources and the manifest.
 */
import { expect } from 'chai';
import { readFile, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FORBIDDEN = ['@lambdastore/worker', '@lambdastore/storage', '@lambdastore/txn', '@lambdastore/client'];

describe('coordinator dependencies', function () {
  this.timeout(5000);

  it('src imports nothing from worker, storage, txn or client', async () => {
    const dir = join(root, 'src');
    for (const f of await readdir(dir)) {
      if (!f.endsWith('.ts')) continue;
      const text = await readFile(join(dir, f), 'utf8');
      for (const m of text.matchAll(/from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/g)) {
        const spec = m[1] ?? m[2]!;
        expect(FORBIDDEN.some((p) => spec === p || spec.startsWith(p + '/')), `${f} imports ${spec}`).to.equal(false);
      }
    }
  });

  it('package.json does not depend on them', async () => {
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
    const deps = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies });
    expect(deps.filter((d) => FORBIDDEN.includes(d))).to.deep.equal([]);
  });
});
