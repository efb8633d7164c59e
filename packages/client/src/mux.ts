/**
 * Request/reply over one inbox subscription. nats.js' `request()` builds a deferred, a timer and,
 * on every reply, an Error it throws away (its RequestOne.cancel); at tens of thousands of calls a
 * second that is a measurable share of the client. Here a call costs a map entry and a timer.
 * A reply with status 503 is the server saying nobody listens on the subject.
 */
import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';

export class NoRespondersReply extends Error {
  constructor(readonly subject: string) {
    super(`no responders on ${subject}`);
    this.name = 'NoRespondersReply';
  }
}

export class ReplyTimeout extends Error {
  constructor(readonly subject: string, readonly timeoutMs: number) {
    super(`no reply on ${subject} within ${timeoutMs} ms`);
    this.name = 'ReplyTimeout';
  }
}

interface Pending {
  resolve: (m: Msg) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  subject: string;
}

export class ReplyMux {
  private readonly prefix: string;
  private readonly sub: Subscription;
  private readonly pending = new Map<string, Pending>();
  private seq = 0;

  constructor(private readonly nc: NatsConnection) {
    this.prefix = `${createInbox()}.`;
    this.sub = nc.subscribe(`${this.prefix}*`, { callback: (_err, m) => this.onReply(m) });
  }

  request(subject: string, data: Uint8Array, timeoutMs: number, headers?: MsgHdrs): Promise<Msg> {
    const token = (++this.seq).toString(36);
    return new Promise<Msg>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(token);
        reject(new ReplyTimeout(subject, timeoutMs));
      }, timeoutMs);
      this.pending.set(token, { resolve, reject, timer, subject });
      try {
        this.nc.publish(subject, data, headers ? { reply: this.prefix + token, headers } : { reply: this.prefix + token });
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(token);
        reject(err as Error);
      }
    });
  }

  private onReply(m: Msg): void {
    const token = m.subject.slice(this.prefix.length);
    const p = this.pending.get(token);
    if (!p) return; // late reply after a timeout: the caller has moved on (and may retry)
    this.pending.delete(token);
    clearTimeout(p.timer);
    if (m.data.length === 0 && m.headers?.code === 503) p.reject(new NoRespondersReply(p.subject));
    else p.resolve(m);
  }

  /** Fails every waiting request with `err` and stops listening. */
  close(err: Error): void {
    this.sub.unsubscribe();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }
}
