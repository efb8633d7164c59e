/**
 * The load generator's HTTP client for the HTTP peers (Restate ingress, the Durable Objects Worker,
 * the stateless function server): JSON over HTTP/1.1 keep-alive, one socket per call in flight, so
 * every HTTP peer is called the same way.
 */
import { Agent, request } from 'node:http';

export class HttpJson {
  private readonly agent: Agent;
  constructor(private readonly host: string, private readonly port: number, maxSockets = 256) {
    this.agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  /** POSTs `body` as JSON; resolves with the parsed JSON reply; rejects on a non-2xx status. */
  post<T = unknown>(path: string, body: unknown, headers: Record<string, string> = {}): Promise<T> {
    const data = Buffer.from(JSON.stringify(body));
    return new Promise<T>((resolve, reject) => {
      const req = request(
        { host: this.host, port: this.port, method: 'POST', path, agent: this.agent, headers: { 'content-type': 'application/json', 'content-length': data.length, ...headers } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            if ((res.statusCode ?? 0) >= 300) return reject(Object.assign(new Error(`HTTP ${res.statusCode} ${path}: ${text.slice(0, 300)}`), { code: `HTTP_${res.statusCode}` }));
            try {
              resolve((text ? JSON.parse(text) : null) as T);
            } catch (err) {
              reject(err);
            }
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
