/**
 * The ops dashboard in a real browser (Debian's chromium, driven by playwright-core): a dev cluster
 * of three worker processes, the page the coordinator serves, a workload that must move the
 * throughput chart, and a failed call whose trace shows up as a waterfall. The page's screenshot is
 * written to integration/test-output/dashboard.png.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { eventually } from '@lambdastore/testkit';
import { runCli } from '@lambdastore/cli';
import { startTestCluster, fixture, placeObjects, repoRoot, type TestCluster } from '../src/cluster.js';

/** The bits of a DOM element the page checks use (the tests compile without the DOM library). */
interface DomElement {
  dataset: Record<string, string | undefined>;
  classList: { contains(c: string): boolean };
  innerText: string;
}

const OUTPUT_DIR = join(repoRoot, 'integration', 'test-output');

function chromiumPath(): string {
  const candidates = [process.env.LAMBDASTORE_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error('no Chromium found: `npm test` installs Debian\'s chromium when run as root (else: sudo apt-get install -y chromium, or set LAMBDASTORE_CHROMIUM)');
  return found;
}

describe('ops dashboard in a browser', function () {
  this.timeout(180_000);
  let t: TestCluster;
  let browser: Browser;
  let page: Page;
  let stopLoad = false;
  let load: Promise<void> | undefined;

  before(async () => {
    // Every root call sampled, so the failed call below is sure to be traced.
    t = await startTestCluster({ env: { LAMBDASTORE_TRACE_SAMPLE_RATIO: '1' } });
    await t.client.deployFile(fixture('testtypes.ts'));
    browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    page = await browser.newPage({ viewport: { width: 1400, height: 1300 } });
  });

  after(async () => {
    stopLoad = true;
    await load?.catch(() => {});
    await browser?.close().catch(() => {});
    await t?.stop();
  });

  it('is served by the coordinator at the URL the dev cluster reports', () => {
    expect(t.cluster.dashboardUrl).to.match(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  });

  it('refuses anything but reads', async () => {
    const res = await fetch(new URL('/api/ops', t.cluster.dashboardUrl), { method: 'POST', body: '{}' });
    expect(res.status).to.equal(405);
  });

  it('shows the cluster map with every worker and shard', async () => {
    await page.goto(t.cluster.dashboardUrl!);
    await eventually(async () => (await page.locator('#workers tbody tr').count()) === 3, 20_000, 'three workers in the map');
    const workers = await page.locator('#workers tbody tr').evaluateAll((rows) => rows.map((r) => (r as unknown as DomElement).dataset.worker));
    expect(workers.sort()).to.deep.equal(t.cluster.workers.map((w) => w.id).sort());
    const cfg = await t.client.config();
    expect(await page.locator('#shards .shard').count()).to.equal(cfg.numShards);
    expect(await page.locator('#live').getAttribute('class')).to.contain('on');
  });

  it('moves the throughput chart while a workload runs, and lists the hot object', async () => {
    await t.client.create('Counter', 'hot-1');
    const before = await page.locator('#chart-throughput').screenshot();
    load = (async () => {
      while (!stopLoad) await Promise.all(Array.from({ length: 8 }, () => t.client.invoke('Counter', 'hot-1', 'get')));
    })();
    // The chart's data (what uPlot draws) shows calls, and its pixels change from one second to the next.
    await eventually(() => page.evaluate(() => {
      const chart = (globalThis as unknown as { lambdastoreDashboard: { charts: Record<string, { data: number[][] }> } }).lambdastoreDashboard.charts['#chart-throughput']!;
      return Math.max(0, ...chart.data[1]!.filter((v) => typeof v === 'number')) > 0;
    }), 30_000, 'calls in the throughput chart');
    const first = await page.locator('#chart-throughput').screenshot();
    expect(first.equals(before), 'chart drawn differently once calls flow').to.equal(false);
    const moved = await eventually(async () => !(await page.locator('#chart-throughput').screenshot()).equals(first), 10_000, 'the chart moving on');
    expect(moved).to.equal(true);
    await eventually(async () => (await page.locator('#hot tbody').innerText()).includes('Counter/hot-1'), 15_000, 'Counter/hot-1 in the hot list');

    // The terminal shows the same map and hot list.
    const cli = async (...argv: string[]) => {
      let out = '';
      let err = '';
      const code = await runCli([...argv, '--nats', t.cluster.natsUrl, '--prefix', t.cluster.prefix], { stdout: (s) => { out += s; }, stderr: (s) => { err += s; } });
      return { code, out, err };
    };
    const top = await cli('top', '--once');
    expect(top.code, top.err).to.equal(0);
    for (const w of t.cluster.workers) expect(top.out).to.match(new RegExp(`^${w.id}\\s+yes\\s`, 'm'));
    expect(top.out).to.match(/^Counter\/hot-1\s+\d/m);
    expect(top.out).to.match(/^Counter\s+get\s+ok\s+\d/m);
    const status = await cli('status');
    expect(status.code, status.err).to.equal(0);
    expect(status.out).to.include('Hot objects');
    expect(status.out).to.match(/^Counter\/hot-1\s+\d/m);
    stopLoad = true;
    await load;
  });

  it('shows a failed call as a waterfall across workers', async () => {
    // The load above sampled every call, so the hot worker's span outbox (bounded, drained once a
    // second) may still be full and would drop this call's spans. Wait for three quiet seconds in
    // the coordinator's series: every worker has shipped (and emptied) its outbox since the load.
    await eventually(async () => {
      const ops = (await (await fetch(new URL('/api/ops', t.cluster.dashboardUrl))).json()) as { series: { calls: number[] } };
      const calls = ops.series.calls;
      return calls.length >= 3 && calls.slice(-3).every((n) => n === 0);
    }, 30_000, 'three seconds without calls after the load');
    const ids = placeObjects(await t.client.config(), 'Relay', 3, 'across-workers', 'dash');
    for (const id of ids) await t.client.create('Relay', id);
    const err = await t.client.invoke('Relay', ids[0]!, 'relay', [ids.slice(1), true]).then(() => undefined, (e: { code: string }) => e);
    expect(err?.code).to.equal('END_OF_THE_LINE');
    const item = page.locator('#trace-list li', { hasText: 'END_OF_THE_LINE' }).first();
    await item.waitFor({ timeout: 20_000 });
    await item.click();
    await page.locator('#waterfall .span-row.error').first().waitFor({ timeout: 10_000 });
    const readRows = () => page.locator('#waterfall .span-row').evaluateAll((els) => els.map((e) => {
      const d = e as unknown as DomElement;
      return { span: d.dataset.span, error: d.classList.contains('error'), text: d.innerText };
    }));
    // The workers ship their spans once a second each: the waterfall fills in as they arrive.
    const rows = await eventually(async () => {
      const r = await readRows();
      return r.filter((x) => x.span === 'lambdastore.txn.snapshot').length >= 2 && r;
    }, 15_000, 'the snapshot reads served by the other two workers in the waterfall');
    const names = rows.map((r) => r.span);
    for (const n of ['lambdastore.ingress', 'lambdastore.execute', 'lambdastore.thread', 'lambdastore.call', 'lambdastore.txn.snapshot']) {
      expect(names.some((x) => x === n || (n === 'lambdastore.ingress' && x === 'lambdastore.shard')), `${n} in the waterfall`).to.equal(true);
    }
    expect(rows.filter((r) => r.span === 'lambdastore.call' && r.error).length, 'the failing nested call').to.be.at.least(1);
    // spans recorded by more than one worker process
    const services = new Set(rows.map((r) => /· (\S+)$/.exec(r.text.split('\n')[0]!)?.[1]));
    expect(services.size, [...services].join(', ')).to.be.at.least(2);
    await mkdir(OUTPUT_DIR, { recursive: true });
    await page.screenshot({ path: join(OUTPUT_DIR, 'dashboard.png'), fullPage: true });
  });
});
