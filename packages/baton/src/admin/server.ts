/**
 * The admin HTTP server: routing, the bearer token, JSON errors. What each
 * route returns comes from AdminHandlers, so this file holds only HTTP.
 *
 * Invariants:
 * - GETs are open (the listener is on loopback by default); every change
 *   (POST) needs `Authorization: Bearer <token>` when a token is set, and is
 *   checked before the body is even read.
 * - Every error is JSON `{ "error": { "code", "message" } }` with a 4xx
 *   status, and a rejected request changes nothing.
 * - A handler that throws answers 500 and never takes the daemon down.
 * - Bodies above 64 KiB are refused (413).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
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
  /** `why`: with the reasons behind each state (`?why=1`). */
  status(why?: boolean): Promise<unknown>;
  metrics(): Promise<{ contentType: string; body: string }>;
  /** Throws ApiError(404, ...) for an unknown service or server. */
  setState(service: string, server: string, action: AdminAction): unknown;
}

export interface AdminServerOptions {
  handlers: AdminHandlers;
  /** The current token, or undefined when changes need none. */
  token: () => string | undefined;
  logger: Logger;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

function authorized(header: string | undefined, token: string | undefined): boolean {
  if (token === undefined) return true;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  // Compare digests: constant time whatever the lengths.
  return m !== null && timingSafeEqual(digest(m[1]!), digest(token));
}

function send(res: http.ServerResponse, status: number, body: string, contentType: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body), ...extra });
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

const STATE_PATH = /^\/api\/services\/([^/]+)\/servers\/([^/]+)\/state\/?$/;

async function route(req: http.IncomingMessage, res: http.ServerResponse, options: AdminServerOptions): Promise<void> {
  const { handlers } = options;
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
    sendJson(res, 200, await handlers.status(url.searchParams.get('why') === '1'));
    return;
  }
  const m = STATE_PATH.exec(path);
  if (m) {
    only('POST');
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

export function createAdminServer(options: AdminServerOptions): http.Server {
  const server = http.createServer((req, res) => {
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
        if (err.status === 413 || err.status === 401) headers.connection = 'close';
        sendError(res, err, headers);
        return;
      }
      options.logger.error('admin request failed', { path: req.url ?? '-', error: describeError(err) });
      sendError(res, new ApiError(500, 'internal', describeError(err)));
    });
  });
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return server;
}
