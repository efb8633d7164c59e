import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES } from '@lambdastore/proto';

const doc = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'docs', 'errors.md');

describe('docs/errors.md', () => {
  it('lists every code with its retryable flag, and no code that does not exist', async () => {
    const text = await readFile(doc, 'utf8');
    const rows = new Map<string, string>();
    for (const m of text.matchAll(/^\| `([A-Z_]+)` \| (yes|no) \|/gm)) rows.set(m[1]!, m[2]!);
    for (const [code, [retryable]] of Object.entries(ERROR_CODES)) {
      expect(rows.has(code), `${code} is missing from docs/errors.md`).to.equal(true);
      expect(rows.get(code), `${code} retryable flag`).to.equal(retryable ? 'yes' : 'no');
    }
    for (const code of rows.keys()) expect(ERROR_CODES, `docs list unknown code ${code}`).to.have.property(code);
  });
});
