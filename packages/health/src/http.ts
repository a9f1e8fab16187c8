/**
 * The `http` check: GET `path` on the server, expect `status` and optionally a
 * body substring. This is how Galera's clustercheck (an HTTP responder on port
 * 9200 answering 200 "Galera cluster node is synced" or 503) is consumed.
 *
 * Invariants: one fresh connection per check (`agent: false`, Connection:
 * close), destroyed before the result returns; the body read is capped so a
 * large or endless answer cannot hold the check; an abort is `l4-timeout`
 * before the TCP connect and `l7-timeout` after it.
 */
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { failure, socketReason, stopwatch, type CheckResult, type Probe, type ProbeTarget } from './probe.js';

export interface HttpProbeOptions {
  /** Default '/'. */
  path?: string;
  /** Expected status; default 200. */
  status?: number;
  /** Substring the body must contain. */
  expect?: string;
  /** Host header; default the target host. */
  hostHeader?: string;
  /** Body bytes read at most; default 64 KiB. */
  maxBodyBytes?: number;
}

export function createHttpProbe(target: ProbeTarget, options: HttpProbeOptions = {}): Probe {
  return {
    check: (signal) => getOnce(target, options, signal),
    close: async () => {},
  };
}

function getOnce(target: ProbeTarget, options: HttpProbeOptions, signal: AbortSignal): Promise<CheckResult> {
  const elapsed = stopwatch();
  const wantStatus = options.status ?? 200;
  const maxBody = options.maxBodyBytes ?? 65536;
  const where = `${target.host}:${target.port}${options.path ?? '/'}`;
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(failure(0, 'l4-timeout', 'aborted before connect'));
      return;
    }
    let connected = false;
    let settled = false;
    const req = request({
      host: target.host,
      port: target.port,
      path: options.path ?? '/',
      method: 'GET',
      agent: false,
      headers: { host: options.hostHeader ?? target.host, connection: 'close', 'user-agent': 'baton-health' },
    });
    const finish = (result: CheckResult) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      req.on('error', () => {}); // errors caused by our own destroy
      req.destroy();
      resolve(result);
    };
    const onAbort = () =>
      finish(
        connected
          ? failure(elapsed(), 'l7-timeout', `no HTTP answer from ${where} within the timeout`)
          : failure(elapsed(), 'l4-timeout', `no TCP connect to ${target.host}:${target.port} within the timeout`),
      );
    signal.addEventListener('abort', onAbort, { once: true });
    req.on('socket', (socket: Socket) => {
      if (!socket.connecting) connected = true;
      else socket.once('connect', () => (connected = true));
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected) finish(failure(elapsed(), socketReason(err.code), `${where}: ${err.code ?? err.message}`));
      else finish(failure(elapsed(), 'l7-error', `${where}: ${err.code ?? err.message}`));
    });
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      let body = '';
      let bytes = 0;
      res.setEncoding('utf8');
      const judge = () => {
        if (status !== wantStatus) {
          finish(failure(elapsed(), 'l7-status', `${where}: status ${status}, want ${wantStatus}${body ? `: ${oneLine(body)}` : ''}`));
        } else if (options.expect !== undefined && !body.includes(options.expect)) {
          finish(failure(elapsed(), 'l7-expect', `${where}: body does not contain ${JSON.stringify(options.expect)}: ${oneLine(body)}`));
        } else {
          finish({ ok: true, ms: elapsed() });
        }
      };
      res.on('data', (chunk: string) => {
        if (bytes < maxBody) body += chunk.slice(0, maxBody - bytes);
        bytes += Buffer.byteLength(chunk);
        if (bytes >= maxBody) judge(); // enough read; do not wait for the rest
      });
      res.on('end', judge);
      res.on('error', (err) => finish(failure(elapsed(), 'l7-error', `${where}: ${err.message}`)));
    });
    req.end();
  });
}

function oneLine(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}
