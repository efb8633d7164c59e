import { expect } from 'chai';
import { connect } from '@nats-io/transport-node';
import { startNatsServer, eventually, tempDir } from '../src/index.js';
import { existsSync } from 'node:fs';

describe('testkit', function () {
  this.timeout(15_000);

  it('starts a real nats-server with JetStream on a free port and stops it', async () => {
    const a = await startNatsServer();
    const b = await startNatsServer({ port: 0 });
    try {
      expect(a.port).to.not.equal(b.port);
      expect(a.port).to.not.equal(4222);
      const nc = await connect({ servers: a.url });
      const info = nc.info!;
      expect(info.jetstream).to.equal(true);
      await nc.close();
    } finally {
      await a.stop();
      await b.stop();
    }
    expect(existsSync(a.storeDir)).to.equal(false);
  });

  it('eventually() polls until truthy and times out with what it waited for', async () => {
    let n = 0;
    expect(await eventually(() => ++n >= 3 && n, 1000, 'three polls', 1)).to.equal(3);
    let msg = '';
    try { await eventually(() => false, 50, 'the impossible', 5); } catch (e) { msg = (e as Error).message; }
    expect(msg).to.match(/timed out after 50 ms waiting for the impossible/);
  });

  it('tempDir() makes and removes a folder', async () => {
    const d = await tempDir();
    expect(existsSync(d.path)).to.equal(true);
    await d.cleanup();
    expect(existsSync(d.path)).to.equal(false);
  });
});
