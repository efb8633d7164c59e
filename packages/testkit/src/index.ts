export { startNatsServer, findNatsServer, type NatsServer, type NatsServerOptions } from './nats-server.js';
export { eventually, tempDir } from './util.js';
