/**
 * Deploy-time validation of a module. The module is evaluated by `@lambdastore/sdk/runtime`
 * `loadModule` in a worker thread that is created for this one check and terminated afterwards, with
 * a heap limit and a wall-clock bound: a hostile module can hang or exhaust its own thread, never the
 * coordinator's event loop. (The vm timeout inside loadModule bounds the top level only; a getter
 * that loops while the types are listed is caught by the wall-clock bound.)
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { METHOD_NAME_PATTERN, TYPE_NAME_PATTERN, type LambdaStoreError } from '@lambdastore/proto';
import { deployInvalid, payloadTooLarge } from './errors.js';
import type { DeployedTypeInput } from './cluster-model.js';

/** What the validation thread receives. */
export interface CheckRequest {
  source: string;
  filename: string;
  loadTimeoutMs: number;
}

export interface CheckedType {
  name: string;
  hasInit: boolean;
  methods: { name: string; readonly: boolean; timeoutMs: number }[];
}

/** What the validation thread answers. */
export type CheckReply = { ok: true; types: CheckedType[] } | { ok: false; message: string };

export interface ModuleCheckOptions {
  /** Wall-clock bound for the whole check, thread start included. */
  timeoutMs: number;
  /** Old-generation heap limit of the thread. */
  maxHeapMb: number;
  /** Largest accepted source in UTF-8 bytes. */
  maxBytes: number;
  /** Checks running at once; more wait. */
  maxConcurrent: number;
}

/** Content address of a module: the first 32 hex characters of the sha-256 of its source. */
export function moduleIdOf(source: string): string {
  return createHash('sha256').update(source, 'utf8').digest('hex').slice(0, 32);
}

const UINT32_MAX = 0xffff_ffff;

/** Checks the loader's findings against the naming rules every other package relies on. */
export function toDeployedTypes(types: readonly CheckedType[]): DeployedTypeInput[] {
  if (types.length === 0) throw deployInvalid('module defines no types (export a defineType(...) value)');
  return types.map((t) => {
    if (!TYPE_NAME_PATTERN.test(t.name)) throw deployInvalid(`type name ${JSON.stringify(t.name)} is not an identifier of at most 128 characters`);
    return {
      name: t.name,
      methods: t.methods.map((m) => {
        if (!METHOD_NAME_PATTERN.test(m.name)) throw deployInvalid(`method name ${t.name}.${JSON.stringify(m.name)} is not an identifier of at most 128 characters`);
        if (!Number.isInteger(m.timeoutMs) || m.timeoutMs < 0 || m.timeoutMs > UINT32_MAX) {
          throw deployInvalid(`method ${t.name}.${m.name}: timeoutMs must be a non-negative integer, got ${m.timeoutMs}`);
        }
        return { name: m.name, readonly: m.readonly, timeoutMs: m.timeoutMs };
      }),
    };
  });
}

export class ModuleChecker {
  private readonly opts: ModuleCheckOptions;
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(opts: ModuleCheckOptions) {
    this.opts = opts;
  }

  /** Validates `source`; resolves its types or rejects with DEPLOY_INVALID / PAYLOAD_TOO_LARGE. */
  async check(source: string, filename = 'module.js'): Promise<DeployedTypeInput[]> {
    if (typeof source !== 'string' || source.length === 0) throw deployInvalid('module source is empty');
    const bytes = Buffer.byteLength(source, 'utf8');
    if (bytes > this.opts.maxBytes) throw payloadTooLarge(`module is ${bytes} bytes, the limit is ${this.opts.maxBytes}`);
    await this.acquire();
    try {
      const reply = await this.runThread({ source, filename, loadTimeoutMs: Math.max(1, Math.floor(this.opts.timeoutMs / 2)) });
      if (!reply.ok) throw deployInvalid(`${filename}: ${reply.message}`);
      return toDeployedTypes(reply.types);
    } finally {
      this.release();
    }
  }

  private runThread(req: CheckRequest): Promise<CheckReply> {
    return new Promise<CheckReply>((resolve, reject) => {
      const worker = new Worker(new URL('./module-check-worker.js', import.meta.url), {
        workerData: req,
        // No inspector/loader flags of the coordinator process leak into the sandbox thread.
        execArgv: [],
        resourceLimits: { maxOldGenerationSizeMb: this.opts.maxHeapMb, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 },
        stdout: true,
        stderr: true,
      });
      let settled = false;
      const finish = (err: LambdaStoreError | undefined, reply?: CheckReply) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        // Always kill the thread: after answering it may still run module code (microtasks).
        void worker.terminate().catch(() => undefined);
        if (err) reject(err);
        else resolve(reply!);
      };
      const timer = setTimeout(
        () => finish(deployInvalid(`${req.filename}: module did not finish loading within ${this.opts.timeoutMs} ms`)),
        this.opts.timeoutMs,
      );
      worker.once('message', (reply: CheckReply) => finish(undefined, reply));
      worker.once('error', (err: Error & { code?: string }) => {
        const why = err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? `exhausted the ${this.opts.maxHeapMb} MB heap limit` : `crashed the loader: ${err.message}`;
        finish(deployInvalid(`${req.filename}: module ${why}`, err));
      });
      worker.once('exit', (code) => finish(deployInvalid(`${req.filename}: validation thread exited with code ${code} before answering`)));
    });
  }

  private acquire(): Promise<void> {
    if (this.running < this.opts.maxConcurrent) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(() => { this.running++; resolve(); }));
  }

  private release(): void {
    this.running--;
    this.waiting.shift()?.();
  }
}
