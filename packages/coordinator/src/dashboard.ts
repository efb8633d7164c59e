/**
 * The ops dashboard: a small read-only HTTP server in the coordinator process. It serves one page
 * (packages/coordinator/static), the charting library from node_modules (uPlot; no CDN: clusters
 * often have no internet), and the data:
 *
 *   GET /api/ops            the OpsSnapshot as JSON
 *   GET /api/stream         the same, pushed every `pushIntervalMs` as server-sent events
 *   GET /api/traces/<id>    one trace's spans (for its waterfall)
 *
 * Only GET and HEAD are answered (405 otherwise): nothing on it changes the cluster. It binds to
 * loopback unless told otherwise.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { OpsSnapshot, SpanRecord } from '@lambdastore/proto';

export interface DashboardSource {
  snapshot(): OpsSnapshot;
  trace(traceId: string): SpanRecord[] | undefined;
}

export interface DashboardOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** How often the stream pushes a snapshot (ms). */
  pushIntervalMs: number;
}

const STATIC_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'static');
const require = createRequire(import.meta.url);

/** Files served, by URL path: [file, content type]. */
function assets(): Record<string, [string, string]> {
  const uplotDir = dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
  return {
    '/': [join(STATIC_DIR, 'index.html'), 'text/html; charset=utf-8'],
    '/app.js': [join(STATIC_DIR, 'app.js'), 'text/javascript; charset=utf-8'],
    '/app.css': [join(STATIC_DIR, 'app.css'), 'text/css; charset=utf-8'],
    '/vendor/uPlot.iife.min.js': [join(uplotDir, 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
    '/vendor/uPlot.min.css': [join(uplotDir, 'uPlot.min.css'), 'text/css; charset=utf-8'],
  };
}

export class Dashboard {
  private server: Server | undefined;
  private readonly files = new Map<string, { body: Buffer; type: string }>();
  private readonly streams = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly source: DashboardSource, private readonly o: DashboardOptions) {}

  /** Loads the page's files, listens, and returns the URL. */
  async start(): Promise<string> {
    for (const [path, [file, type]] of Object.entries(assets())) this.files.set(path, { body: await readFile(file), type });
    const server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.host, () => { server.off('error', reject); resolve(); });
    });
    this.server = server;
    this.timer = setInterval(() => this.push(), this.o.pushIntervalMs);
    this.timer.unref();
    const a = server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}/`;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    for (const s of this.streams) s.end();
    this.streams.clear();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('the dashboard is read-only\n');
      return;
    }
    const path = (req.url ?? '/').split('?')[0]!;
    try {
      const file = this.files.get(path);
      if (file) {
        res.writeHead(200, { 'Content-Type': file.type, 'Cache-Control': 'no-cache' }).end(req.method === 'HEAD' ? undefined : file.body);
      } else if (path === '/api/ops') {
        json(res, this.source.snapshot());
      } else if (path === '/api/stream') {
        res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
        this.streams.add(res);
        res.on('close', () => this.streams.delete(res));
        res.write(`data: ${JSON.stringify(this.source.snapshot())}\n\n`);
      } else if (path.startsWith('/api/traces/')) {
        const spans = this.source.trace(decodeURIComponent(path.slice('/api/traces/'.length)));
        if (spans) json(res, { spans });
        else res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"error":"no such trace (it may have been dropped from the ring)"}');
      } else {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      }
    } catch (err) {
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${(err as Error).message}\n`);
    }
  }

  private push(): void {
    if (this.streams.size === 0) return;
    const data = `data: ${JSON.stringify(this.source.snapshot())}\n\n`;
    for (const s of this.streams) s.write(data);
  }
}

function json(res: ServerResponse, value: unknown): void {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache' }).end(JSON.stringify(value));
}
