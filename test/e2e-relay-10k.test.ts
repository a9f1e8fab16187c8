/**
 * 10,000 concurrent connections through the real `baton start` on the
 * native engine, held open at once and all closed cleanly. A process here
 * may hold at most 20,000 descriptors, and a relayed session costs two, so
 * the sessions are spread over three workers (each relaying about a third),
 * the clients live in this process and the backend in a child of its own.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { startBaton } from './helpers/baton.js';
import { freePorts } from './helpers/ports.js';
import { api } from './helpers/admin.js';

const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// The backend: greets each client, ends when the client ends; answers "count" with its open sockets.
const BACKEND = `
const net = require('node:net');
let open = 0;
const server = net.createServer({ allowHalfOpen: true }, (s) => {
  open++;
  s.on('error', () => {});
  s.on('close', () => open--);
  s.on('end', () => s.end());
  s.write('hi\\n');
});
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => console.log('port ' + server.address().port));
require('node:readline').createInterface({ input: process.stdin }).on('line', () => console.log('count ' + open));
`;

test('10,000 concurrent connections are held at once and all closed cleanly', { timeout: 180_000 }, async () => {
  const child = spawn(process.execPath, ['-e', BACKEND], { stdio: ['pipe', 'pipe', 'inherit'] });
  cleanup.push(() => child.kill('SIGKILL'));
  const lines = createInterface({ input: child.stdout! });
  const waiting: Array<(line: string) => void> = [];
  lines.on('line', (l) => waiting.shift()?.(l));
  const nextLine = () => new Promise<string>((r) => waiting.push(r));
  const backendPort = Number((await nextLine()).split(' ')[1]);
  const backendOpen = async () => {
    const answer = nextLine();
    child.stdin!.write('count\n');
    return Number((await answer).split(' ')[1]);
  };

  const [port, admin] = await freePorts(2);
  const baton = await startBaton(`
admin: { listen: 127.0.0.1:${admin} }
workers: 3
engine: native
shutdown_timeout: 1s
services:
  - name: relay
    listen: 127.0.0.1:${port}
    servers:
      - { name: b, address: 127.0.0.1:${backendPort} }
`);
  cleanup.push(() => baton.stop());

  const N = 10_000;
  const clients: net.Socket[] = [];
  let greeted = 0;
  let errors = 0;
  const closed: Array<Promise<void>> = [];
  for (let i = 0; i < N; i += 250) {
    const batch: Array<Promise<void>> = [];
    for (let j = i; j < Math.min(N, i + 250); j++) {
      const c = net.connect({ port: port!, host: '127.0.0.1', allowHalfOpen: true });
      clients.push(c);
      c.on('error', () => errors++);
      closed.push(new Promise((r) => c.once('close', () => r())));
      batch.push(
        new Promise<void>((resolve) => {
          c.once('data', () => {
            greeted++;
            resolve();
          });
          c.once('close', () => resolve());
        }),
      );
    }
    await Promise.all(batch);
  }
  assert.equal(greeted, N, 'every connection reached the backend and got its greeting');
  assert.equal(await backendOpen(), N, 'all held open at once at the backend');
  const status = await api(baton.adminUrl, '/api/status');
  const active = (status.json.services as Array<{ name: string; active: number }>).find((s) => s.name === 'relay')!.active;
  assert.equal(active, N, 'and in baton');
  for (const c of clients) c.end();
  await Promise.all(closed);
  assert.equal(errors, 0);
  let open = N;
  for (let i = 0; i < 250 && open > 0; i++) {
    open = await backendOpen();
    if (open > 0) await sleep(20);
  }
  assert.equal(open, 0, 'every backend socket closed');
  const after = await api(baton.adminUrl, '/api/status');
  const svc = (after.json.services as Array<{ name: string; active: number; servers: Array<{ connect_errors: number; total: number; bytes_in: number; bytes_out: number }> }>).find((s) => s.name === 'relay')!;
  assert.equal(svc.active, 0);
  assert.equal(svc.servers[0]!.total, N);
  assert.equal(svc.servers[0]!.connect_errors, 0);
  assert.equal(svc.servers[0]!.bytes_out, N * 3, 'each client got its greeting and nothing else');
});
