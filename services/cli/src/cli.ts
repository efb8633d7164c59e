/**
 * The `lambdastore` command line. `run()` returns the exit code instead of exiting, so tests call it
 * in-process: 0 ok, 1 the operation failed (`error CODE: message` on stderr), 2 usage error.
 * `dev` and `start` live in their own modules, loaded only when used (they pull in the cluster
 * launcher); the client commands load only @lambdastore/client.
 */
import { resolve } from 'node:path';
import type { LambdaStoreClient } from '@lambdastore/client';
import { LambdaStoreError, subjects, type ErrorCode } from '@lambdastore/proto';
import { UsageError, VALUE_OPTIONS, allowOnly, intOption, parseArgs, parseJsonArg, stringOption, type ParsedArgs } from './args.js';
import { resolveConnection } from './connection.js';
import { formatStatus } from './status.js';
import { fetchOps, formatTop, formatTraffic } from './top.js';

export const USAGE = `usage: lambdastore <command> [options]

Commands:
  dev                                   start a local cluster (nats-server, coordinator, workers)
  start                                 fresh dev cluster + example deploys + workload and checks
  deploy <file.ts|file.js>              bundle a type module with esbuild and deploy it
  create <Type> <id> [jsonArg...]       create an object (runs the type's init with the args)
  invoke <Type> <id> <method> [jsonArg...] [--key K]
                                        call a method; prints the result as JSON
  status                                workers, shards (chain/epoch), deployed types, hot objects
  top [--interval-ms 1000] [--once]     live cluster map, rates and hot objects (Ctrl-C quits)
  worker drain <workerId>               take a worker out of every chain (successors take over; chains
                                        refill from the other workers); stop it once this returns
  worker add <workerId>                 let a (drained, or new) worker into chains again: chains short
                                        of members take it as tail, after a state transfer
  help                                  this text
(\`lambdastore dev --help\` and \`lambdastore start --help\` describe their own options.)

Each jsonArg is parsed as JSON, or taken as a plain string when it is not JSON:
  lambdastore invoke Account alice transfer '{"to":"bob","amount":5}'

Options for deploy/create/invoke/status:
  --nats <url>        NATS server (env LAMBDASTORE_NATS_URL; default: <data>/cluster.json of \`lambdastore dev\`)
  --prefix <p>        subject prefix (env LAMBDASTORE_PREFIX; default lambdastore or cluster.json's)
  --data <dir>        data folder of \`lambdastore dev\` (env LAMBDASTORE_DATA; default .lambdastore/dev)
  --timeout-ms <n>    overall deadline of the operation, retries included (default 10000; deploy 30000)
  --key <k>           invoke only: idempotency key (calling again with the same key applies the call once)

Exit codes: 0 ok, 1 failed (\`error CODE: message\` on stderr), 2 usage error.`;

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

const processIo: CliIo = {
  stdout: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  stderr: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
};

const CONNECTION_OPTIONS = ['nats', 'prefix', 'data', 'timeout-ms', 'help'] as const;

export async function run(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  // dev/start parse their own options: hand them everything but the command word.
  const at = commandIndex(argv);
  const word = at < 0 ? undefined : argv[at];
  if (word === 'dev' || word === 'start') {
    const rest = [...argv.slice(0, at), ...argv.slice(at + 1)];
    if (word === 'dev') return (await import('./dev.js')).devCommand(rest);
    return (await import('./start-job.js')).startCommand(rest);
  }

  let args: ParsedArgs;
  try {
    args = parseArgs(argv);
    if (args.command === undefined) {
      if (args.options.has('help')) {
        io.stdout(USAGE);
        return 0;
      }
      throw new UsageError('no command given');
    }
  } catch (err) {
    return usage(io, err);
  }
  if (args.command === 'help' || args.options.has('help')) {
    io.stdout(USAGE);
    return 0;
  }
  const command = COMMANDS[args.command];
  if (!command) return usage(io, new UsageError(`unknown command ${JSON.stringify(args.command)}`));

  let client: LambdaStoreClient | undefined;
  try {
    // @lambdastore/client's create() takes no idempotency key (it makes one and reuses it on its own
    // retries), so the CLI cannot pass one through: say so and where a chosen key does work.
    if (args.command === 'create' && args.options.has('key')) {
      throw new UsageError('create does not take --key: the client picks the key of a create and reuses it on its own retries (to choose the key, send the create to the JSON ingress: README, "From plain NATS")');
    }
    allowOnly(args, command.options);
    const p = args.positionals;
    if (p.length < command.min || p.length > command.max) throw new UsageError(`usage: lambdastore ${args.command} ${command.synopsis}`);
    const timeoutMs = intOption(args, 'timeout-ms');
    const conn = resolveConnection(
      { nats: stringOption(args, 'nats'), prefix: stringOption(args, 'prefix'), data: stringOption(args, 'data') },
      io.env ?? process.env,
      io.cwd ?? process.cwd(),
    );
    const { connect } = await import('@lambdastore/client');
    client = await connect({
      servers: conn.natsUrl,
      prefix: conn.prefix,
      name: `lambdastore-cli ${args.command}`,
      ...(timeoutMs !== undefined ? { callTimeoutMs: timeoutMs, deployTimeoutMs: timeoutMs, requestTimeoutMs: timeoutMs } : {}),
    });
    await command.run(client, args, io, conn.prefix);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) return usage(io, err);
    const e = err instanceof LambdaStoreError ? err : undefined;
    io.stderr(`error ${e?.code ?? 'INTERNAL'}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    await client?.close().catch(() => undefined);
  }
}

interface Command {
  synopsis: string;
  min: number;
  max: number;
  options: readonly string[];
  run(client: LambdaStoreClient, args: ParsedArgs, io: CliIo, prefix: string): Promise<void>;
}

const COMMANDS: Record<string, Command> = {
  deploy: {
    synopsis: '<file.ts|file.js>',
    min: 1,
    max: 1,
    options: CONNECTION_OPTIONS,
    async run(client, args, io) {
      const file = resolve(io.cwd ?? process.cwd(), args.positionals[0]!);
      const types = await client.deployFile(file);
      for (const t of types) {
        const methods = (t.methods ?? []).map((m) => (m.readonly ? `${m.name} (ro)` : m.name)).join(', ');
        io.stdout(`deployed ${t.name} v${t.version}${t.moduleId ? ` (module ${t.moduleId})` : ''}: ${methods || 'no methods'}`);
      }
    },
  },
  create: {
    synopsis: '<Type> <id> [jsonArg...]',
    min: 2,
    max: Infinity,
    options: CONNECTION_OPTIONS,
    async run(client, args, io) {
      const [type, id, ...rest] = args.positionals as [string, string, ...string[]];
      const result = await client.create(type, id, ...rest.map(parseJsonArg));
      // The confirmation is the command's output (stdout), as invoke's result is.
      io.stdout(`created ${type} ${id}`);
      if (result !== undefined) io.stdout(formatResult(result));
    },
  },
  invoke: {
    synopsis: '<Type> <id> <method> [jsonArg...] [--key K] [--timeout-ms N]',
    min: 3,
    max: Infinity,
    options: [...CONNECTION_OPTIONS, 'key'],
    async run(client, args, io) {
      const [type, id, method, ...rest] = args.positionals as [string, string, string, ...string[]];
      const key = stringOption(args, 'key');
      const timeoutMs = intOption(args, 'timeout-ms');
      const result = await client.invoke(type, id, method, rest.map(parseJsonArg), {
        ...(key !== undefined ? { idempotencyKey: key } : {}),
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      });
      io.stdout(formatResult(result));
    },
  },
  status: {
    synopsis: '',
    min: 0,
    max: 0,
    options: CONNECTION_OPTIONS,
    async run(client, args, io, prefix) {
      const cfg = await client.config();
      // The map is what status is for; the traffic is a bonus the coordinator may not offer.
      let traffic = '';
      try {
        const ops = await fetchOps(client, prefix, intOption(args, 'timeout-ms') ?? 10_000);
        if (ops) traffic = `\n\n${formatTraffic(ops)}`;
      } catch (err) {
        traffic = `\n\nHot objects: unavailable (${(err as Error).message})`;
      }
      io.stdout(`${formatStatus(cfg)}${traffic}`);
    },
  },
  worker: {
    synopsis: 'drain|add <workerId>',
    min: 2,
    max: 2,
    options: CONNECTION_OPTIONS,
    async run(client, args, io, prefix) {
      const [action, workerId] = args.positionals as [string, string];
      if (action !== 'drain' && action !== 'add') throw new UsageError('usage: lambdastore worker drain|add <workerId>');
      const timeoutMs = intOption(args, 'timeout-ms') ?? 30_000;
      const drain = action === 'drain';
      let data: Uint8Array;
      try {
        data = (await client.connection.request(subjects(prefix).adminDrain, new TextEncoder().encode(JSON.stringify({ workerId, drain })), { timeout: timeoutMs })).data;
      } catch {
        throw new LambdaStoreError('COORDINATOR_UNAVAILABLE', `no coordinator answered within ${timeoutMs} ms`);
      }
      const reply = JSON.parse(new TextDecoder().decode(data)) as { ok: boolean; error?: { code: string; message: string } };
      if (!reply.ok) throw new LambdaStoreError((reply.error?.code ?? 'INTERNAL') as ErrorCode, reply.error?.message ?? 'drain failed');
      if (!drain) {
        const cfg = await client.config();
        const n = cfg.shards.filter((s) => (s.chain ?? []).includes(workerId)).length;
        io.stdout(`worker ${workerId} may join chains again (in ${n} shard chain${n === 1 ? '' : 's'} now; chains short of members take it as tail)`);
        return;
      }
      // Drained once no chain names it (a shard whose only copy it holds keeps it).
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const cfg = await client.config();
        const still = cfg.shards.filter((s) => (s.chain ?? []).includes(workerId) && (s.chain ?? []).length > 1);
        if (still.length === 0) {
          const only = cfg.shards.filter((s) => (s.chain ?? []).includes(workerId)).map((s) => s.shard);
          io.stdout(`worker ${workerId} drained: it is in no chain${only.length > 0 ? ` but holds the only copy of shards ${only.join(',')}` : ''}; it can be stopped`);
          return;
        }
        if (Date.now() > deadline) throw new LambdaStoreError('TIMEOUT', `worker ${workerId} is still in the chains of shards ${still.map((s) => s.shard).join(',')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  },
  top: {
    synopsis: '[--interval-ms 1000] [--once]',
    min: 0,
    max: 0,
    options: [...CONNECTION_OPTIONS, 'interval-ms', 'once'],
    async run(client, args, io, prefix) {
      const intervalMs = intOption(args, 'interval-ms') ?? 1000;
      if (intervalMs < 100) throw new UsageError('--interval-ms must be at least 100');
      const timeoutMs = intOption(args, 'timeout-ms') ?? 10_000;
      const once = args.options.has('once');
      const frame = async () => {
        const ops = await fetchOps(client, prefix, timeoutMs);
        if (!ops) throw new LambdaStoreError('NOT_SUPPORTED', 'the coordinator does not serve ops snapshots (is it older than this CLI?)');
        return formatTop(ops);
      };
      if (once) {
        io.stdout(await frame());
        return;
      }
      // Redraw in place until Ctrl-C (clear screen, cursor home).
      let stop = false;
      const onSignal = () => { stop = true; };
      process.once('SIGINT', onSignal);
      try {
        while (!stop) {
          io.stdout(`\x1b[2J\x1b[H${await frame()}\n\n(every ${intervalMs} ms; Ctrl-C quits)`);
          await new Promise((r) => setTimeout(r, intervalMs));
        }
      } finally {
        process.off('SIGINT', onSignal);
      }
    },
  },
};

/** A result as one line of JSON; bytes as {"$bytes": base64} (the JSON ingress's form). */
export function formatResult(value: unknown): string {
  if (value === undefined) return 'null';
  // Look at the holder's raw value: a Buffer's toJSON has already run by the time `v` arrives.
  return (
    JSON.stringify(value, function (this: Record<string, unknown>, k: string, v: unknown) {
      const raw = this[k];
      return raw instanceof Uint8Array ? { $bytes: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64') } : v;
    }) ?? 'null'
  );
}

/** Index of the command word: the first token that is neither an option nor an option's value. */
export function commandIndex(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return i + 1 < argv.length ? i + 1 : -1;
    if (!a.startsWith('-')) return i;
    if (a.startsWith('--') && !a.includes('=') && VALUE_OPTIONS.has(a.slice(2))) i++;
  }
  return -1;
}

function usage(io: CliIo, err: unknown): number {
  io.stderr(`lambdastore: ${err instanceof Error ? err.message : String(err)}\n(see \`lambdastore help\`)`);
  return 2;
}
