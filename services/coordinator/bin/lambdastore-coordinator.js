#!/usr/bin/env node
// Installed as a bin before the TypeScript is built, so `npx` finds it on a fresh clone; the
// program itself is the compiled dist/src/main.js.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/src/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error('LambdaStore is not built yet: run `npm run build` (or `npm start`) in the repository first');
  process.exit(1);
}
await import(main.href);
