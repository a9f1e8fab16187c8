/**
 * The native engine's contract with JavaScript, on real sockets: an
 * exception thrown by a pick or an event handler closes that one client and
 * is reported, never unwinds through C nor stops the loop (the next client
 * is served); live byte counters can be read while a session is open; the
 * engine rejects bad arguments with a TypeError and changes nothing.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Service, relayEngine, setEngineErrorHandler } from '../src/index.js';
import { fetchName, nameBackend, openSession, serviceSpec, sleep, waitFor, type Backend } from './helpers.js';
import type { Logger } from '@baton/core';

const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

async function backend(name: string): Promise<Backend> {
  const b = await nameBackend(name);
  cleanup.push(() => b.close());
  return b;
}

/** A logger that keeps every line. */
function recorder(): { logger: Logger; lines: Array<{ level: string; msg: string; fields: Record<string, unknown> }> } {
  const lines: Array<{ level: string; msg: string; fields: Record<string, unknown> }> = [];
  const make = (base: Record<string, unknown>): Logger => {
    const at = (level: string) => (msg: string, fields: Record<string, unknown> = {}) => lines.push({ level, msg, fields: { ...base, ...fields } });
    return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: (f: Record<string, unknown>) => make({ ...base, ...f }) } as unknown as Logger;
  };
  return { logger: make({}), lines };
}

/** Resolves when the client socket closes, with what it received. */
function clientOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let data = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (data += d));
    s.on('error', () => undefined);
    s.on('close', () => resolve(data));
  });
}

test('an exception in a pick closes only that client, is logged, and the next client is served', async () => {
  const b = await backend('b');
  const { logger, lines } = recorder();
  const service = new Service(serviceSpec([{ name: 'b', port: b.port }]), { engine: 'native', logger });
  await service.listen();
  cleanup.push(() => service.stopListening());
  const port = service.boundPort!;
  const real = service.acquireServer.bind(service);
  let throwOnce = true;
  service.acquireServer = (session, tried) => {
    if (throwOnce) {
      throwOnce = false;
      throw new Error('pick exploded');
    }
    return real(session, tried);
  };
  assert.equal(await clientOutcome(port), '', 'the client whose pick threw is closed without data');
  assert.equal(await fetchName(port), 'b', 'the next client is served');
  assert.ok(await waitFor(() => service.activeSessions === 0));
  const line = lines.find((l) => l.msg === 'session internal-error');
  assert.ok(line, `logged: ${JSON.stringify(lines)}`);
  assert.match(String(line.fields.detail), /pick exploded/);
});

test('an exception in the connected handler closes only that client and is logged', async () => {
  const b = await backend('c');
  const { logger, lines } = recorder();
  const service = new Service(serviceSpec([{ name: 'c', port: b.port }]), { engine: 'native', logger });
  await service.listen();
  cleanup.push(() => service.stopListening());
  const port = service.boundPort!;
  const real = service.sessionOpened.bind(service);
  let armed = true;
  service.sessionOpened = (session) => {
    real(session);
    if (!armed) return;
    armed = false;
    const s = session as unknown as { connected(): void };
    const connected = s.connected.bind(s);
    s.connected = () => {
      connected();
      throw new Error('connected handler exploded');
    };
  };
  await clientOutcome(port);
  assert.equal(await fetchName(port), 'c');
  assert.ok(await waitFor(() => service.activeSessions === 0));
  assert.ok(lines.some((l) => l.msg === 'session internal-error' && /connected handler exploded/.test(String(l.fields.detail))), JSON.stringify(lines));
  // The server's counters are settled for the closed session too.
  assert.equal(service.counters().servers[0]!.active, 0);
});

test('a client accepted on a listener no service handles is closed by the engine', async () => {
  const seen: unknown[] = [];
  setEngineErrorHandler((err) => seen.push(err));
  cleanup.push(() => setEngineErrorHandler((err) => console.error('relay engine:', err)));
  // An accept for a listener nobody handles: the engine closes the client by itself.
  const fd = relayEngine().bind('127.0.0.1', 0, 16);
  const port = relayEngine().localPort(fd);
  const id = relayEngine().listen(fd);
  cleanup.push(() => relayEngine().closeListener(id));
  assert.equal(await clientOutcome(port), '');
  assert.deepEqual(seen, []);
});

test('live byte counters are readable while a session is open', async () => {
  const b = await backend('live');
  const service = new Service(serviceSpec([{ name: 'live', port: b.port }]), { engine: 'native' });
  await service.listen();
  cleanup.push(() => service.stopListening());
  const s = await openSession(service.boundPort!);
  s.socket.write('x'.repeat(1000));
  assert.ok(await waitFor(() => service.counters().servers[0]!.bytesIn >= 1000), JSON.stringify(service.counters().servers[0]));
  const live = service.counters().servers[0]!;
  assert.ok(live.bytesOut >= 1000 + 'live\n'.length, JSON.stringify(live));
  s.socket.end();
  await s.closed;
  await sleep(20);
});

test('bad arguments to the engine throw a TypeError and change nothing', () => {
  const e = relayEngine();
  const before = e.stats();
  assert.throws(() => e.connect(-1, 'not-an-ip', 1, 0, 0, 0), TypeError);
  assert.throws(() => e.connect(123, '127.0.0.1', 0, 0, 0, 0), TypeError);
  assert.throws(() => e.connect(123, '127.0.0.1', 80, 0, 0, 7), TypeError);
  assert.throws(() => e.bind('nowhere', 1, 1), /EINVAL|invalid/i);
  assert.throws(() => e.listen(-5), TypeError);
  assert.equal(e.closeSession(987654321, 'x'), false);
  assert.equal(e.bytes(987654321), undefined);
  assert.deepEqual(e.stats(), before);
});
