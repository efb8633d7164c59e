import { expect } from 'chai';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lambdastore } from '@lambdastore/proto';
import { UsageError, intOption, parseArgs, parseJsonArg } from '../src/args.js';
import { commandIndex, formatResult } from '../src/cli.js';
import { resolveConnection } from '../src/connection.js';
import { formatStatus, ranges, table } from '../src/status.js';

describe('cli argument parsing', () => {
  it('splits command, positionals and options in any order', () => {
    const a = parseArgs(['invoke', 'Account', 'alice', '--key', 'k1', 'deposit', '5', '--timeout-ms=300', '--nats', 'nats://x:1']);
    expect(a.command).to.equal('invoke');
    expect(a.positionals).to.deep.equal(['Account', 'alice', 'deposit', '5']);
    expect(Object.fromEntries(a.options)).to.deep.equal({ key: 'k1', 'timeout-ms': '300', nats: 'nats://x:1' });
  });

  it('keeps negative numbers positional and honours --', () => {
    expect(parseArgs(['invoke', 'A', 'a', 'add', '-5', '-0.5', '-1e3']).positionals).to.deep.equal(['A', 'a', 'add', '-5', '-0.5', '-1e3']);
    expect(parseArgs(['invoke', 'A', 'a', 'echo', '--', '--key']).positionals).to.deep.equal(['A', 'a', 'echo', '--key']);
    expect(parseArgs(['-h']).options.get('help')).to.equal(true);
  });

  it('rejects unknown options and missing values', () => {
    expect(() => parseArgs(['status', '--frobnicate'])).to.throw(UsageError, /unknown option --frobnicate/);
    expect(() => parseArgs(['status', '-x'])).to.throw(UsageError);
    expect(() => parseArgs(['invoke', '--key'])).to.throw(UsageError, /needs a value/);
    expect(() => parseArgs(['status', '--help=yes'])).to.throw(UsageError, /takes no value/);
  });

  it('parses integer options with bounds', () => {
    expect(intOption(parseArgs(['x', '--timeout-ms', '250']), 'timeout-ms')).to.equal(250);
    expect(intOption(parseArgs(['x']), 'timeout-ms')).to.equal(undefined);
    for (const bad of ['0', '-3', '1.5', 'abc', '']) {
      expect(() => intOption(parseArgs(['x', `--timeout-ms=${bad}`]), 'timeout-ms'), bad).to.throw(UsageError);
    }
  });

  it('json args: JSON when it parses, else the plain string', () => {
    expect(parseJsonArg('5')).to.equal(5);
    expect(parseJsonArg('-2.5')).to.equal(-2.5);
    expect(parseJsonArg('{"to":"bob","amount":5}')).to.deep.equal({ to: 'bob', amount: 5 });
    expect(parseJsonArg('[1,"a"]')).to.deep.equal([1, 'a']);
    expect(parseJsonArg('true')).to.equal(true);
    expect(parseJsonArg('null')).to.equal(null);
    expect(parseJsonArg('"quoted"')).to.equal('quoted');
    expect(parseJsonArg('alice')).to.equal('alice');
    expect(parseJsonArg('{not json')).to.equal('{not json');
    expect(parseJsonArg('')).to.equal('');
  });

  it('finds the command word past global options (for dev/start dispatch)', () => {
    expect(commandIndex(['dev', '--workers', '3'])).to.equal(0);
    expect(commandIndex(['--data', 'x', 'dev'])).to.equal(2);
    expect(commandIndex(['--data=x', 'start', '--once'])).to.equal(1);
    expect(commandIndex(['--help'])).to.equal(-1);
  });

  it('formats results as one line of JSON, bytes as $bytes', () => {
    expect(formatResult(undefined)).to.equal('null');
    expect(formatResult({ a: [1, 2] })).to.equal('{"a":[1,2]}');
    expect(formatResult(new Uint8Array([1, 2, 3]))).to.equal('{"$bytes":"AQID"}');
    expect(formatResult(Buffer.from([255]))).to.equal('{"$bytes":"/w=="}');
  });
});

describe('cli connection settings', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lambdastore-cli-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('--nats wins over the environment; --prefix over LAMBDASTORE_PREFIX', () => {
    const env = { LAMBDASTORE_NATS_URL: 'nats://env:1', LAMBDASTORE_PREFIX: 'envp' };
    expect(resolveConnection({ nats: 'nats://opt:2' }, env, dir)).to.deep.equal({ natsUrl: 'nats://opt:2', prefix: 'envp', source: 'option' });
    expect(resolveConnection({ prefix: 'p2' }, env, dir)).to.deep.equal({ natsUrl: 'nats://env:1', prefix: 'p2', source: 'env' });
    expect(resolveConnection({}, { LAMBDASTORE_NATS_URL: 'nats://e:3' }, dir).prefix).to.equal('lambdastore');
  });

  it('falls back to <data>/cluster.json written by `lambdastore dev`', async () => {
    await mkdir(join(dir, '.lambdastore/dev'), { recursive: true });
    await writeFile(join(dir, '.lambdastore/dev/cluster.json'), JSON.stringify({ natsUrl: 'nats://127.0.0.1:4999', prefix: 'devp', pid: 1 }));
    expect(resolveConnection({}, {}, dir)).to.deep.equal({ natsUrl: 'nats://127.0.0.1:4999', prefix: 'devp', source: 'cluster.json' });
    await mkdir(join(dir, 'other'), { recursive: true });
    await writeFile(join(dir, 'other/cluster.json'), JSON.stringify({ natsUrl: 'nats://h:5' }));
    expect(resolveConnection({ data: 'other' }, {}, dir).natsUrl).to.equal('nats://h:5');
    expect(resolveConnection({}, { LAMBDASTORE_DATA: join(dir, 'other') }, '/').natsUrl).to.equal('nats://h:5');
    // from a subfolder, the dev cluster of an enclosing folder is found
    await mkdir(join(dir, 'a/b/c'), { recursive: true });
    expect(resolveConnection({}, {}, join(dir, 'a/b/c')).natsUrl).to.equal('nats://127.0.0.1:4999');
  });

  it('without any of them it is a usage error naming the ways out', () => {
    expect(() => resolveConnection({ data: 'nowhere' }, {}, dir)).to.throw(UsageError, /--nats.*LAMBDASTORE_NATS_URL.*lambdastore dev/);
  });
});

describe('cli status formatting', () => {
  it('ranges compress shard lists', () => {
    expect(ranges([0, 1, 2, 3, 5, 7, 8])).to.equal('0-3,5,7-8');
    expect(ranges([])).to.equal('');
    expect(ranges([4, 4, 2])).to.equal('2,4');
  });

  it('table aligns columns', () => {
    expect(table(['a', 'long'], [['xyz', '1'], ['q', '22']])).to.equal('A    LONG\nxyz  1\nq    22');
  });

  it('shows workers with alive/shards/calls, shards with chain/epoch, types with version and methods', () => {
    const cfg = lambdastore.ClusterConfig.create({
      version: 12,
      numShards: 4,
      clusterId: 'c1',
      shards: [
        { shard: 0, chain: ['w1'], epoch: 1 },
        { shard: 1, chain: ['w2'], epoch: 3 },
        { shard: 2, chain: ['w1', 'w2'], epoch: 2 },
        { shard: 3, chain: [], epoch: 0 },
      ],
      workers: [
        { id: 'w2', alive: false, callsTotal: 5, pid: 42 },
        { id: 'w1', alive: true, callsTotal: 1234, inflight: 2, abortsTotal: 9, entrySetSplits: 3, entrySetMerges: 1, pid: 41 },
      ],
      types: [{ name: 'Account', version: 3, methods: [{ name: 'balance', readonly: true }, { name: 'deposit' }] }],
    });
    const text = formatStatus(cfg);
    expect(text).to.include('config v12');
    expect(text).to.include('4 shards (3 assigned)');
    expect(text).to.include('1/2 workers alive');
    expect(text).to.match(/^w1\s+yes\s+0,2\s+1234\s+2\s+9\s+3\/1\s+41$/m);
    expect(text).to.match(/^w2\s+NO\s+1-2\s+5\s+0\s+0\s+0\/0\s+42$/m);
    expect(text).to.match(/^2\s+w1 -> w2\s+2$/m);
    expect(text).to.match(/^3\s+\(unassigned\)\s+0$/m);
    expect(text).to.match(/^Account\s+v3\s+balance \(ro\), deposit$/m);
    expect(text.indexOf('w1')).to.be.below(text.indexOf('w2'));
  });

  it('an empty cluster says so', () => {
    const text = formatStatus(lambdastore.ClusterConfig.create({ version: 1, numShards: 16 }));
    expect(text).to.include('(none)');
    expect(text).to.include('(none assigned yet)');
    expect(text).to.include('(none deployed)');
  });
});
