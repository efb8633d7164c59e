/**
 * Entry of the throw-away validation thread (see module-check.ts). It evaluates the module once with
 * the same sandbox loader the worker uses and reports what it found, as plain data. Anything the
 * module does to this thread (hang, exhaust memory, crash) stays in this thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadModule } from '@lambdastore/sdk/runtime';
import type { CheckReply, CheckRequest } from './module-check.js';

const req = workerData as CheckRequest;
let reply: CheckReply;
try {
  const mod = loadModule(req.source, { filename: req.filename, timeoutMs: req.loadTimeoutMs });
  reply = {
    ok: true,
    types: [...mod.types.values()].map((t) => ({
      name: t.name,
      hasInit: t.hasInit,
      methods: t.methods.map((m) => ({ name: m.name, readonly: m.readonly, timeoutMs: m.timeoutMs })),
    })),
  };
} catch (err) {
  reply = { ok: false, message: err instanceof Error ? err.message : String(err) };
}
parentPort!.postMessage(reply);
