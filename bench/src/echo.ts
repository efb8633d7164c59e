/**
 * The raw NATS floor's responder: a separate process that answers every request on a subject
 * with its own payload. Nothing between the two NATS hops: what a call costs at the very least.
 *   node echo.js <natsUrl> <subject>
 */
import { connect } from '@nats-io/transport-node';

const [url, subject] = process.argv.slice(2);
const nc = await connect({ servers: url! });
nc.subscribe(subject!, { callback: (_err, m) => { m.respond(m.data); } });
await nc.flush();
console.log('echo ready');
process.on('SIGTERM', () => void nc.close().then(() => process.exit(0)));
