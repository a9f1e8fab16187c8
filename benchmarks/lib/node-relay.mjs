#!/usr/bin/env node
/**
 * The cheapest possible Node relay, as a baseline: net.createServer +
 * net.connect + pipe, nothing else. Run next to
 * Baton (--baseline) it separates what Node itself costs from what Baton
 * adds on top.
 *
 *   node node-relay.mjs LISTEN_PORT:BACKEND_PORT [LISTEN_PORT:BACKEND_PORT ...]
 *
 * Prints "listening" on stdout once every port is bound.
 */
import net from 'node:net';

const pairs = process.argv.slice(2).map((a) => a.split(':').map(Number));
let pending = pairs.length;
for (const [listen, backend] of pairs) {
  const server = net.createServer({ noDelay: true }, (client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: backend, noDelay: true });
    client.pipe(upstream).pipe(client);
    const destroy = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', destroy);
    upstream.on('error', destroy);
  });
  server.listen({ host: '127.0.0.1', port: listen, backlog: 1024 }, () => {
    if (--pending === 0) process.stdout.write('listening\n');
  });
}
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
