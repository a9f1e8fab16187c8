/**
 * The admin HTTP server: routing, the bearer token, the cross-site request
 * checks, JSON errors. What each route returns comes from AdminHandlers, so
 * this file holds only HTTP.
 *
 * Invariants:
 * - GETs are open (the listener is on loopback by default); every change
 *   (POST) needs `Authorization: Bearer <token>` when a token is set, and is
 *   checked before the body is even read.
 * - A change is never accepted from another web page the operator has open
 *   (cross-site request forgery), token or not. Checked before the token and
 *   the body, in this order:
 *   1. `Sec-Fetch-Site`, when present, must be `same-origin` (or `none`):
 *      a page on another port of the same host is `same-site`, still foreign.
 *   2. `Origin`, when present, must be the listener's own origin, i.e. the
 *      authority the browser sent in `Host` (http or https, for a
 *      TLS-terminating proxy that passes `Host` through). Browsers send
 *      `Origin` on every POST; curl and `baton server` send none and pass.
 *   3. With an `Origin` (so from a browser), `Host` must be an IP literal,
 *      `localhost` or admin.listen's own host name: a page
 *      on a name the attacker controls, re-pointed at 127.0.0.1 (DNS
 *      rebinding), is same-origin to itself and would pass check 2.
 *   4. `Content-Type` must be `application/json` (415 otherwise). A foreign
 *      page can send only text/plain, urlencoded or multipart bodies without
 *      a CORS preflight, and the preflight (OPTIONS) is never granted.
 *   Every answer also forbids framing (X-Frame-Options, CSP frame-ancestors),
 *   so no page can lay its own content over our buttons (clickjacking).
 *   Reads stay open to any Host: `/metrics` is scraped by name, and what they
 *   show is open to anyone who can reach the port anyway.
 * - Every error is JSON `{ "error": { "code", "message" } }` with a 4xx
 *   status, and a rejected request changes nothing.
 * - A handler that throws answers 500 and never takes the daemon down.
 * - Bodies above 64 KiB are refused (413).
 * - A request Node's parser refuses (malformed, headers over 16 KiB, head
 *   not sent within headersTimeout) gets the same JSON error (400, 431,
 *   408) and the connection is closed. A client that sends its head slowly
 *   (slowloris) is cut off 10-11 s after it connected, and never delays
 *   others: Node parses each connection as its bytes arrive.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { isIP } from 'node:net';
import { describeError, type Logger } from '@baton/core';

export type AdminAction = 'ready' | 'drain' | 'maint';
const ACTIONS: readonly AdminAction[] = ['ready', 'drain', 'maint'];
const MAX_BODY = 64 * 1024;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface AdminHandlers {
  page(): string;
  status(): Promise<unknown>;
  metrics(): Promise<{ contentType: string; body: string }>;
  /** Throws ApiError(404, ...) for an unknown service or server. */
  setState(service: string, server: string, action: AdminAction): unknown;
}

export interface AdminServerOptions {
  handlers: AdminHandlers;
  /** The current token, or undefined when changes need none. */
  token: () => string | undefined;
  /** admin.listen's host as configured: a name there is a Host that browsers may use. */
  listenHost: string;
  logger: Logger;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

function authorized(header: string | undefined, token: string | undefined): boolean {
  if (token === undefined) return true;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  // Compare digests: constant time whatever the lengths.
  return m !== null && timingSafeEqual(digest(m[1]!), digest(token));
}

/**
 * On every answer: no other page may frame ours (a framed status page would
 * let that page steer the operator's clicks onto its buttons), and no type
 * sniffing of the JSON and text answers.
 */
const FRAMING = { 'x-frame-options': 'DENY', 'content-security-policy': "frame-ancestors 'none'", 'x-content-type-options': 'nosniff' };

function send(res: http.ServerResponse, status: number, body: string, contentType: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body), ...FRAMING, ...extra });
  res.end(body);
}

function sendJson(res: http.ServerResponse, status: number, value: unknown, extra: Record<string, string> = {}): void {
  send(res, status, JSON.stringify(value) + '\n', 'application/json; charset=utf-8', extra);
}

function sendError(res: http.ServerResponse, err: ApiError, extra: Record<string, string> = {}): void {
  sendJson(res, err.status, { error: { code: err.code, message: err.message } }, extra);
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new ApiError(413, 'too-large', `request body over ${MAX_BODY} bytes`));
        // Discard the rest; the answer closes the connection.
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function segment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new ApiError(400, 'bad-request', `malformed path segment: ${s}`);
  }
}

/** A header's single value (Node joins or lists repeats; a repeated one is treated as foreign). */
function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** `host[:port]` of an http(s) URL, normalized by WHATWG URL (lower case, default port dropped); undefined when unparsable. */
function authority(scheme: string, hostPort: string): { host: string; hostname: string } | undefined {
  try {
    const u = new URL(`${scheme}//${hostPort}`);
    if (u.username || u.password || u.pathname !== '/' || u.search || u.hash) return undefined;
    return { host: u.host, hostname: u.hostname };
  } catch {
    return undefined;
  }
}

/**
 * True for a Host name that no outside DNS can point at us: an IP literal,
 * localhost, or admin.listen's own name. Not `*.localhost`: not every
 * browser keeps those away from DNS.
 */
function trustedHostname(hostname: string, listenHost: string): boolean {
  const name = hostname.replace(/\.$/, '').toLowerCase();
  const bare = name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
  if (isIP(bare) !== 0) return true;
  if (name === 'localhost') return true;
  return name === listenHost.replace(/\.$/, '').toLowerCase();
}

/** Throws the 403 for a change sent by a page of another origin (see the module's invariants). */
function checkSameOrigin(req: http.IncomingMessage, listenHost: string): void {
  const site = header(req, 'sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    throw new ApiError(403, 'cross-site', `Sec-Fetch-Site: ${site}: changes are refused from other web pages; use this listener's own status page, curl or baton server`);
  }
  const origin = header(req, 'origin');
  if (origin === undefined) return;
  const host = header(req, 'host') ?? '';
  const m = /^(https?:)\/\/([^/]*)$/i.exec(origin);
  const from = m ? authority(m[1]!.toLowerCase(), m[2]!) : undefined;
  const self = m ? authority(m[1]!.toLowerCase(), host) : undefined;
  if (from === undefined || self === undefined || from.host !== self.host) {
    throw new ApiError(403, 'foreign-origin', `Origin ${origin} is not this listener (Host ${host || '-'}): changes are refused from other web pages`);
  }
  if (!trustedHostname(self.hostname, listenHost)) {
    throw new ApiError(403, 'foreign-host', `Host ${host} is not an IP address, localhost or admin.listen's name: changes from a browser need one of those (a DNS name could be re-pointed at this listener)`);
  }
}

function checkJson(req: http.IncomingMessage): void {
  const type = header(req, 'content-type');
  const essence = type?.split(';')[0]!.trim().toLowerCase();
  if (essence !== 'application/json') {
    throw new ApiError(415, 'unsupported-media-type', `a change needs "Content-Type: application/json"; got ${type === undefined ? 'none' : JSON.stringify(type)}`);
  }
}

const STATE_PATH = /^\/api\/services\/([^/]+)\/servers\/([^/]+)\/state\/?$/;

async function route(req: http.IncomingMessage, res: http.ServerResponse, options: AdminServerOptions): Promise<void> {
  const { handlers } = options;
  // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host.
  if (req.httpVersion === '1.1' && req.headers.host === undefined) throw new ApiError(400, 'bad-request', 'an HTTP/1.1 request needs a Host header');
  const url = new URL(req.url ?? '/', 'http://admin');
  const path = url.pathname;
  const method = req.method ?? 'GET';
  const only = (allowed: string) => {
    if (method !== allowed && !(allowed === 'GET' && method === 'HEAD')) {
      throw Object.assign(new ApiError(405, 'method-not-allowed', `${method} is not allowed on ${path}; use ${allowed}`), { allow: allowed });
    }
  };

  if (path === '/' || path === '/index.html') {
    only('GET');
    send(res, 200, handlers.page(), 'text/html; charset=utf-8');
    return;
  }
  if (path === '/metrics') {
    only('GET');
    const m = await handlers.metrics();
    send(res, 200, m.body, m.contentType);
    return;
  }
  if (path === '/api/status') {
    only('GET');
    sendJson(res, 200, await handlers.status());
    return;
  }
  const m = STATE_PATH.exec(path);
  if (m) {
    only('POST');
    checkSameOrigin(req, options.listenHost);
    checkJson(req);
    if (!authorized(req.headers.authorization, options.token())) {
      throw new ApiError(401, 'unauthorized', 'this change needs "Authorization: Bearer <token>" with the admin token');
    }
    const service = segment(m[1]!);
    const server = segment(m[2]!);
    const text = await readBody(req);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      throw new ApiError(400, 'bad-json', `the body is not JSON: ${(err as Error).message}`);
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new ApiError(400, 'bad-request', 'the body must be a JSON object like {"state": "drain"}');
    }
    const state = (body as Record<string, unknown>).state;
    if (typeof state !== 'string' || !ACTIONS.includes(state as AdminAction)) {
      throw new ApiError(400, 'bad-state', `"state" must be one of ${ACTIONS.join(', ')}; got ${JSON.stringify(state ?? null)}`);
    }
    const result = handlers.setState(service, server, state as AdminAction);
    options.logger.info('operator change', { service, server, state, from: req.socket.remoteAddress ?? '-' });
    sendJson(res, 200, result);
    return;
  }
  throw new ApiError(404, 'not-found', `no such path: ${path}`);
}

/** The JSON answer for a request Node's parser refused, by its error code (as Node's own default answers). */
function clientErrorAnswer(code: string | undefined): ApiError {
  if (code === 'HPE_HEADER_OVERFLOW') return new ApiError(431, 'headers-too-large', 'the request head is over 16 KiB');
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return new ApiError(408, 'request-timeout', 'the request was not received in time');
  return new ApiError(400, 'bad-request', `malformed HTTP request${code ? ` (${code})` : ''}`);
}

export function createAdminServer(options: AdminServerOptions): http.Server {
  // connectionsCheckingInterval: how often Node looks for requests past
  // headersTimeout/requestTimeout; its default (30 s) would let a slow
  // client hold a connection for up to 40 s instead of 10.
  // requireHostHeader off: Node's own refusal of an HTTP/1.1 request without
  // Host is a bare 400 with no body; route() refuses it in JSON instead.
  const server = http.createServer({ connectionsCheckingInterval: 1000, requireHostHeader: false }, (req, res) => {
    route(req, res, options).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof ApiError) {
        const allow = (err as ApiError & { allow?: string }).allow;
        // A refused body is not read to its end: close rather than keep the connection alive.
        const headers: Record<string, string> = {};
        if (allow) headers.allow = allow;
        if (err.status === 413 || err.status === 401 || err.status === 403 || err.status === 415) headers.connection = 'close';
        if (err.status === 403) {
          // A refused cross-site change means a web page the operator has open tried to change a server: worth a line.
          options.logger.warn('admin change refused', { reason: err.code, path: req.url ?? '-', origin: header(req, 'origin') ?? '-', host: header(req, 'host') ?? '-', from: req.socket.remoteAddress ?? '-' });
        }
        sendError(res, err, headers);
        return;
      }
      options.logger.error('admin request failed', { path: req.url ?? '-', error: describeError(err) });
      sendError(res, new ApiError(500, 'internal', describeError(err)));
    });
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // An answer already on its way (or a peer gone): nothing sensible to add.
    const inFlight = (socket as unknown as { _httpMessage?: http.ServerResponse })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const e = clientErrorAnswer(err.code);
    const body = JSON.stringify({ error: { code: e.code, message: e.message } }) + '\n';
    const framing = Object.entries(FRAMING).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    socket.end(
      `HTTP/1.1 ${e.status} ${http.STATUS_CODES[e.status]}\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\ncache-control: no-store\r\n${framing}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  });
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return server;
}
