/**
 * systemd readiness of the real daemon: with $NOTIFY_SOCKET pointing at a
 * datagram socket this test binds, Baton sends READY=1 only once its ports
 * listen, RELOADING=1 (with MONOTONIC_USEC) then READY=1 around a SIGHUP,
 * and STOPPING=1 on SIGTERM. The receiver is a small python3 process: Node
 * cannot bind a unix datagram socket.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { startBaton } from './helpers/baton.js';
import { freePorts } from './helpers/ports.js';
import { nameBackend } from './helpers/backends.js';

const PYTHON = '/usr/bin/python3';
const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

// Prints each datagram as one JSON line; at most 100 datagrams, then exits.
const RECEIVER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps("bound"), flush=True)
for _ in range(100):
    print(json.dumps(s.recv(4096).decode()), flush=True)
`;

interface Receiver {
  messages: string[];
  next(timeoutMs?: number): Promise<string>;
}

async function startReceiver(path: string): Promise<Receiver> {
  const child: ChildProcess = spawn(PYTHON, ['-c', RECEIVER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanup.push(() => child.kill('SIGKILL'));
  const messages: string[] = [];
  let read = 0;
  let wake: (() => void) | undefined;
  let buf = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    buf += text;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      messages.push(JSON.parse(buf.slice(0, nl)) as string);
      buf = buf.slice(nl + 1);
      wake?.();
    }
  });
  const next = async (timeoutMs = 15_000): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    while (read >= messages.length) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no notify message within ${timeoutMs} ms; got ${JSON.stringify(messages)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return messages[read++]!;
  };
  assert.equal(await next(5000), 'bound');
  return { messages, next };
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

test('READY=1 after the ports listen, RELOADING=1/READY=1 around SIGHUP, STOPPING=1 on SIGTERM', { skip: !existsSync(PYTHON) && !process.env.CI ? `${PYTHON} is needed to read the notify socket` : false }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-notify-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const socketPath = join(dir, 'notify.sock');
  const receiver = await startReceiver(socketPath);
  const backend = await nameBackend('db1');
  cleanup.push(() => backend.close());
  const [listen, admin] = await freePorts(2);
  const baton = await startBaton(
    `admin: { listen: 127.0.0.1:${admin} }\nworkers: 1\nservices:\n  - name: read\n    listen: 127.0.0.1:${listen}\n    servers:\n      - { name: db1, address: 127.0.0.1:${backend.port} }\n`,
    { env: { NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: '' } },
  );
  cleanup.push(() => baton.stop());

  assert.equal(await receiver.next(), 'READY=1');
  // The port listened when READY=1 was sent: nothing closes it afterwards.
  assert.equal(await connects(listen!), true, 'the service port listens once READY=1 arrived');
  assert.ok(baton.logs.some((l) => /baton started/.test(l)));

  baton.signal('SIGHUP');
  const reloading = await receiver.next();
  const m = /^RELOADING=1\nMONOTONIC_USEC=(\d+)$/.exec(reloading);
  assert.ok(m, `expected RELOADING=1 with MONOTONIC_USEC, got ${JSON.stringify(reloading)}`);
  // CLOCK_MONOTONIC in µs, the clock systemd compares it with.
  const nowUs = process.hrtime.bigint() / 1000n;
  const sent = BigInt(m[1]!);
  assert.ok(sent <= nowUs && nowUs - sent < 60_000_000n, `MONOTONIC_USEC ${sent} is not a recent CLOCK_MONOTONIC reading (now ${nowUs})`);
  assert.equal(await receiver.next(), 'READY=1');
  await baton.waitForLog(/config reloaded/);

  baton.signal('SIGTERM');
  assert.equal(await receiver.next(), 'STOPPING=1');
});

test('WATCHDOG=1 every half of WATCHDOG_USEC once ready; none when WATCHDOG_PID names another process', { skip: !existsSync(PYTHON) && !process.env.CI ? `${PYTHON} is needed to read the notify socket` : false }, async () => {
  for (const [pid, want] of [[undefined, true], ['1', false]] as const) {
    const dir = mkdtempSync(join(tmpdir(), 'baton-notify-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const socketPath = join(dir, 'notify.sock');
    const receiver = await startReceiver(socketPath);
    const [admin] = await freePorts(1);
    const baton = await startBaton(`admin: { listen: 127.0.0.1:${admin} }\nworkers: 1\n`, {
      env: { NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: '200000', ...(pid ? { WATCHDOG_PID: pid } : {}) },
    });
    assert.equal(await receiver.next(), 'READY=1');
    await new Promise((r) => setTimeout(r, 700));
    const pings = receiver.messages.filter((m) => m === 'WATCHDOG=1').length;
    if (want) assert.ok(pings >= 3, `expected a ping every 100 ms, got ${pings} in 700 ms`);
    else assert.equal(pings, 0, 'the watchdog belongs to another PID');
    await baton.stop();
  }
});

test('the sd_notify addon reports a missing socket and bad arguments as errors with a code', () => {
  const addon = createRequire(import.meta.url)('../../packages/baton/build/Release/sd_notify.node') as { send(path: string, message: string): void };
  assert.throws(() => addon.send('/nonexistent/notify.sock', 'READY=1'), { code: 'ENOENT' });
  assert.throws(() => addon.send('relative.sock', 'READY=1'), { code: 'EINVAL' });
  assert.throws(() => addon.send('/tmp/x.sock', ''), { code: 'EINVAL' });
  assert.throws(() => addon.send('/'.repeat(200), 'READY=1'), { code: 'EINVAL' });
});
