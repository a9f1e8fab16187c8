#!/usr/bin/env node
/**
 * The smallest HTTP/1.1 responder that wrk accepts: every request (a header
 * block ending in CRLF CRLF; wrk sends no bodies) gets the same fixed "ok"
 * response. No parser, no routing, no allocation per request, so the
 * backend costs as little CPU as possible and the proxy in front of it is
 * what the figures measure. nginx is not installed on these machines, and
 * Node's `http` module spends several times more CPU per request than this.
 *
 *   node http-backend.mjs --port P [--host 127.0.0.1] [--close]
 *
 * --close answers with `Connection: close` and closes after the first
 * response: wrk then opens a new connection for every request, which is the
 * new-connections-per-second scenario.
 *
 * Prints "listening <port>" on stdout once bound.
 */
import net from 'node:net';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const host = opt('--host', '127.0.0.1');
const port = Number(opt('--port', '0'));
const closeMode = args.includes('--close');

const KEEP = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok');
const CLOSE = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nok');
const CR = 13;
const LF = 10;

/**
 * Counts header-block ends in `chunk`. `state` is how much of CR LF CR LF
 * the previous chunk ended with (0-3), so a terminator split across two
 * reads still counts once.
 */
function countRequests(socket, chunk) {
  let state = socket.matchState;
  let n = 0;
  for (let i = 0; i < chunk.length; i++) {
    const b = chunk[i];
    if (b === CR) state = state === 2 ? 3 : 1;
    else if (b === LF && (state === 1 || state === 3)) {
      if (state === 3) {
        n++;
        state = 0;
      } else state = 2;
    } else state = 0;
  }
  socket.matchState = state;
  return n;
}

function onData(chunk) {
  const n = countRequests(this, chunk);
  if (n === 0) return;
  if (closeMode) {
    this.end(CLOSE);
    this.removeListener('data', onData);
    return;
  }
  for (let i = 0; i < n; i++) this.write(KEEP);
}

function onError() {
  // A client that resets (wrk at the end of a run) is normal here.
}

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.matchState = 0;
  socket.on('data', onData);
  socket.on('error', onError);
});
server.listen({ host, port, backlog: 4096 }, () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
// Open client connections are of no interest once the run is over.
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
