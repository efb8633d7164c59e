/**
 * Dependencies run one way (docs/ARCHITECTURE.md): proto and sdk are leaves; storage <- txn <-
 * worker; coordinator and client see only proto and sdk. This test reads every package's manifest
 * and every import in its sources and fails on an arrow that runs the wrong way.
 */
import { expect } from 'chai';
import { readFile, readdir } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const ALLOWED: Record<string, string[]> = {
  proto: [],
  sdk: [],
  testkit: [],
  storage: ['proto'],
  txn: ['proto', 'storage'],
  worker: ['proto', 'sdk', 'storage', 'txn'],
  coordinator: ['proto', 'sdk'],
  client: ['proto', 'sdk'],
};
/** Test code may also use the shared test kit. */
const TEST_ONLY = ['testkit'];

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  let items;
  try {
    items = await readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const it of items) {
    const p = join(dir, it.name);
    if (it.isDirectory()) { if (it.name !== 'gen') out.push(...(await sources(p))); }
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function importsOf(text: string): string[] {
  const found: string[] = [];
  const re = /(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|import\s+['"]([^'"]+)['"]/g;
  for (let m = re.exec(text); m; m = re.exec(text)) found.push((m[1] ?? m[2] ?? m[3])!);
  return found;
}

const ours = (spec: string) => /^@lambdastore\/([^/]+)/.exec(spec)?.[1];

describe('dependency direction', () => {
  for (const [pkg, allowed] of Object.entries(ALLOWED)) {
    it(`${pkg} imports only ${allowed.length ? allowed.join(', ') : 'nothing of ours'}`, async () => {
      const dir = join(root, 'packages', pkg);
      const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
      for (const dep of Object.keys(manifest.dependencies ?? {})) {
        const name = ours(dep);
        if (name) expect(allowed, `${pkg}/package.json depends on ${dep}`).to.include(name);
      }
      for (const dep of Object.keys(manifest.devDependencies ?? {})) {
        const name = ours(dep);
        if (name) expect([...allowed, ...TEST_ONLY], `${pkg}/package.json devDepends on ${dep}`).to.include(name);
      }
      for (const [sub, extra] of [['src', []], ['test', TEST_ONLY]] as const) {
        for (const file of await sources(join(dir, sub))) {
          for (const spec of importsOf(await readFile(file, 'utf8'))) {
            const name = ours(spec);
            if (name && name !== pkg) expect([...allowed, ...extra], `${file} imports ${spec}`).to.include(name);
            if (spec.startsWith('.')) {
              // A relative import must stay inside the package.
              const target = join(dirname(file), spec);
              expect(target.startsWith(dir), `${file} reaches outside its package with ${spec}`).to.equal(true);
            }
          }
        }
      }
    });
  }

  it('the checker itself catches a wrong-way import', () => {
    expect(importsOf(`import { Store } from '@lambdastore/storage';\nexport { x } from "./y.js";\nconst m = await import('@lambdastore/worker');`))
      .to.deep.equal(['@lambdastore/storage', './y.js', '@lambdastore/worker']);
    expect(ours('@lambdastore/worker')).to.equal('worker');
    expect(ALLOWED.client).to.not.include(ours('@lambdastore/worker'));
  });
});
