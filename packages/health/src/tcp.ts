/**
 * The `tcp` check: a TCP connect to the server succeeds.
 *
 * Invariants: the socket is always destroyed before the result is returned,
 * so a check leaves nothing open; an abort before the connect completes is
 * `l4-timeout`. Note that against MySQL a bare connect-and-close counts as an
 * aborted connect on the server (see mysql.ts); prefer the mysql check there.
 */
import { connect } from 'node:net';
import { failure, socketReason, stopwatch, type CheckResult, type Probe, type ProbeTarget } from './probe.js';

export function createTcpProbe(target: ProbeTarget): Probe {
  return {
    check: (signal) => connectOnce(target, signal),
    close: async () => {},
  };
}

function connectOnce(target: ProbeTarget, signal: AbortSignal): Promise<CheckResult> {
  const elapsed = stopwatch();
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(failure(0, 'l4-timeout', 'aborted before connect'));
      return;
    }
    const socket = connect({ host: target.host, port: target.port });
    const finish = (result: CheckResult) => {
      signal.removeEventListener('abort', onAbort);
      socket.removeAllListeners();
      socket.on('error', () => {}); // late errors after destroy are not ours to report
      socket.destroy();
      resolve(result);
    };
    const onAbort = () => finish(failure(elapsed(), 'l4-timeout', `no TCP connect to ${target.host}:${target.port} within the timeout`));
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => finish({ ok: true, ms: elapsed() }));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      finish(failure(elapsed(), socketReason(err.code), `${target.host}:${target.port}: ${err.code ?? err.message}`)),
    );
  });
}
