/**
 * A small client for the daemon's admin API (`GET /api/status`,
 * `POST /api/services/SERVICE/servers/SERVER/state`), for `baton status` and
 * `baton server`.
 *
 * Invariants:
 * - Every failure a user can meet (daemon not running, wrong address, no
 *   token, unknown server, something else answering) is a value with a stable
 *   `code` and a one-line message that says what to do; nothing throws.
 * - The token is sent only on POSTs, as `Authorization: Bearer`, and never
 *   appears in a message.
 * - Every request gives up after `timeoutMs` (default 5 s), body included.
 */

/** Where `--admin` was not given and `$BATON_ADMIN` is unset (the config's default admin.listen). */
export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:9900';
export const ADMIN_TOKEN_ENV = 'BATON_ADMIN_TOKEN';
const DEFAULT_TIMEOUT_MS = 5000;

// ---------------------------------------------------------------- wire types (the admin API contract)

export type VrrpStateName = 'init' | 'backup' | 'master' | 'fault';
export type ServerStateName = 'up' | 'down' | 'drain' | 'maint';
export type AdminStateName = 'ready' | 'drain' | 'maint';

export interface StatusVrrp {
  name: string;
  state: VrrpStateName;
  priority: number;
  effective_priority: number;
  master: string | null;
  virtual_ips: string[];
  interface: string;
  router_id: number;
  faults: string[];
  /** With `?why=1`. */
  why?: {
    adverts: Array<{ from: string; priority: number; age_s: number; count: number }>;
    master_down: { interval_ms: number; skew_ms: number; total_ms: number; left_ms: number | null; arithmetic: string };
    reason: string;
    since_s: number;
  } | null;
}

export interface StatusCheck {
  ok: boolean;
  ms: number;
  error: string | null;
}

export interface StatusServer {
  name: string;
  address: string;
  state: ServerStateName;
  admin: AdminStateName;
  health: 'up' | 'down';
  weight: number;
  backup: boolean;
  active: number;
  /** The server's session limit; null: none. */
  max_connections?: number | null;
  total: number;
  bytes_in: number;
  bytes_out: number;
  connect_errors: number;
  check: StatusCheck | null;
  /** With `?why=1`. */
  why?: {
    last_check: { result: string; layer: string; ms: number } | null;
    counter: { value: number; rise: number; fall: number; checks: number } | null;
    since_s: number | null;
    reason: string | null;
  };
}

export interface StatusSwitch {
  from: string | null;
  to: string;
  phase: 'holding' | 'draining' | 'done' | 'aborted';
  drain_ms: number;
  hold_ms: number;
  running: boolean;
  elapsed_s: number;
  held: number;
  closed: number;
  error: string | null;
}

/** A writer service's decision, when the daemon keeps them (`cluster:` or `state_file:`). */
export interface StatusDecision {
  epoch: number | null;
  decided_by: string | null;
  reason: string | null;
  role: 'decide' | 'adopt';
  why: string;
}

export interface StatusService {
  name: string;
  listen: string;
  balance: string;
  writer: string | null;
  decision?: StatusDecision | null;
  /** A planned writer switch running now or finished lately. */
  switch?: StatusSwitch | null;
  active: number;
  total: number;
  /** The service's client limit; null: none. */
  max_connections?: number | null;
  /** Clients waiting now for a server slot. */
  queued?: number;
  queue_timeout_ms?: number;
  /** Queued clients closed at queue_timeout since start. */
  queue_timeouts?: number;
  servers: StatusServer[];
}

/** `GET /api/status`. */
export interface AdminStatus {
  node: string;
  version: string;
  pid: number;
  uptime_s: number;
  workers: number;
  auth: { token_required: boolean };
  vrrp: StatusVrrp[];
  services: StatusService[];
}

/** The answer to `POST …/state`. */
export interface ServerStateChange {
  service: string;
  server: string;
  admin: AdminStateName;
  state: ServerStateName;
}

// ---------------------------------------------------------------- results

export type AdminErrorCode =
  | 'bad-url'
  | 'unreachable'
  | 'timeout'
  | 'unauthorized'
  | 'not-found'
  | 'bad-request'
  | 'http-error'
  | 'bad-answer';

export interface AdminError {
  code: AdminErrorCode;
  /** One line, for the user. */
  message: string;
}

export type AdminResult<T> = { ok: true; value: T } | { ok: false; error: AdminError };

const fail = <T>(code: AdminErrorCode, message: string): AdminResult<T> => ({ ok: false, error: { code, message } });

// ---------------------------------------------------------------- base URL

/**
 * The admin API's base URL: `--admin`, else `$BATON_ADMIN`, else the default.
 * A bare `host:port` (admin.listen as written in the config) means http.
 */
export function resolveAdminUrl(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): AdminResult<URL> {
  const raw = (flag ?? (env.BATON_ADMIN || undefined) ?? DEFAULT_ADMIN_URL).trim();
  const source = flag !== undefined ? '--admin' : env.BATON_ADMIN ? 'BATON_ADMIN' : 'the default';
  const text = raw.includes('://') ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return fail('bad-url', `${source}: not a URL: ${JSON.stringify(raw)} (expected e.g. http://127.0.0.1:9900)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return fail('bad-url', `${source}: ${url.protocol} is not http or https: ${JSON.stringify(raw)}`);
  }
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  url.search = '';
  url.hash = '';
  return { ok: true, value: url };
}

/** The base URL as the user would write it (no trailing slash at the root). */
function shown(base: URL): string {
  return base.href.endsWith('/') && base.pathname === '/' ? base.href.slice(0, -1) : base.href;
}

// ---------------------------------------------------------------- client

export interface AdminClientOptions {
  baseUrl: URL;
  /** Sent on POSTs only. */
  token?: string;
  timeoutMs?: number;
  /** For tests; default the global fetch. */
  fetch?: typeof fetch;
}

export class AdminClient {
  private readonly base: URL;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  private readonly fetchFn: typeof fetch;

  constructor(options: AdminClientOptions) {
    // Paths resolve against the base: keep a prefix (`/baton` becomes `/baton/api/status`).
    this.base = new URL(options.baseUrl.href);
    if (!this.base.pathname.endsWith('/')) this.base.pathname += '/';
    this.token = options.token || undefined;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.fetchFn = options.fetch ?? fetch;
  }

  /** `GET /api/status`, parsed; `raw` is the JSON as the daemon sent it, for `--json`. */
  async status(options: { why?: boolean } = {}): Promise<AdminResult<{ status: AdminStatus; raw: unknown }>> {
    const r = await this.request('GET', options.why ? 'api/status?why=1' : 'api/status');
    if (!r.ok) return r;
    const body = r.value;
    if (!isStatus(body)) {
      return fail('bad-answer', `the answer from ${shown(this.base)}/api/status is not a Baton status (is --admin the admin API's address?)`);
    }
    return { ok: true, value: { status: body, raw: body } };
  }

  /** `POST /api/services/SERVICE/servers/SERVER/state` with `{ state }`. */
  async setServerState(service: string, server: string, state: AdminStateName): Promise<AdminResult<ServerStateChange>> {
    const path = `api/services/${encodeURIComponent(service)}/servers/${encodeURIComponent(server)}/state`;
    const r = await this.request('POST', path, { state });
    if (!r.ok) return r;
    const body = r.value as Partial<ServerStateChange> | null;
    if (!body || typeof body !== 'object' || typeof body.state !== 'string' || typeof body.admin !== 'string') {
      return fail('bad-answer', `the answer from ${shown(this.base)}/${path} is not a server state (is --admin the admin API's address?)`);
    }
    return { ok: true, value: { service: body.service ?? service, server: body.server ?? server, admin: body.admin, state: body.state } };
  }

  /** `POST /api/services/SERVICE/writer`: starts a planned writer switch; the answer is the switch as started. */
  async switchWriter(service: string, options: { to?: string; drainMs: number; holdMs: number }): Promise<AdminResult<{ from: string | null; to: string }>> {
    const path = `api/services/${encodeURIComponent(service)}/writer`;
    const r = await this.request('POST', path, { ...(options.to !== undefined ? { to: options.to } : {}), drain_ms: options.drainMs, hold_ms: options.holdMs });
    if (!r.ok) return r;
    const body = r.value as { from?: unknown; to?: unknown } | null;
    if (!body || typeof body !== 'object' || typeof body.to !== 'string') {
      return fail('bad-answer', `the answer from ${shown(this.base)}/${path} is not a writer switch (is --admin the admin API's address?)`);
    }
    return { ok: true, value: { from: typeof body.from === 'string' ? body.from : null, to: body.to } };
  }

  private async request(method: 'GET' | 'POST', path: string, json?: unknown): Promise<AdminResult<unknown>> {
    const url = new URL(path, this.base);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (json !== undefined) headers['content-type'] = 'application/json';
    if (method === 'POST' && this.token) headers.authorization = `Bearer ${this.token}`;
    const signal = AbortSignal.timeout(this.timeoutMs);
    let res: Response;
    let text: string;
    try {
      res = await this.fetchFn(url, { method, headers, signal, redirect: 'error', ...(json !== undefined ? { body: JSON.stringify(json) } : {}) });
      text = await res.text();
    } catch (err) {
      return fail(...describeFetchFailure(err, shown(this.base), this.timeoutMs, method));
    }
    const parsed = parseJson(text);
    if (res.status === 401) {
      return fail(
        'unauthorized',
        this.token
          ? `unauthorized: ${ADMIN_TOKEN_ENV} does not match the daemon's admin token`
          : `unauthorized: set ${ADMIN_TOKEN_ENV} to the daemon's admin token`,
      );
    }
    if (res.status < 200 || res.status > 299) {
      const apiMessage = errorMessage(parsed);
      const code: AdminErrorCode = res.status === 404 ? 'not-found' : res.status === 400 ? 'bad-request' : 'http-error';
      if (apiMessage) return fail(code, apiMessage);
      return fail(code, `${shown(this.base)}/${path} answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''} (is --admin the admin API's address?)`);
    }
    if (!parsed.ok) {
      const type = res.headers.get('content-type')?.split(';')[0] || 'no content type';
      return fail('bad-answer', `${shown(this.base)}/${path} answered HTTP ${res.status} with something that is not JSON (${oneLine(type)}); is --admin the admin API's address?`);
    }
    return { ok: true, value: parsed.value };
  }
}

/** A client from the command line's `--admin` and the environment. */
export function adminClientFrom(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): AdminResult<AdminClient> {
  const base = resolveAdminUrl(flag, env);
  if (!base.ok) return base;
  return { ok: true, value: new AdminClient({ baseUrl: base.value, token: env[ADMIN_TOKEN_ENV] }) };
}

// ---------------------------------------------------------------- helpers

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/** The API's `{ error: { message } }`, if that is what came back. */
function errorMessage(parsed: { ok: true; value: unknown } | { ok: false }): string | undefined {
  if (!parsed.ok || !parsed.value || typeof parsed.value !== 'object') return undefined;
  const error = (parsed.value as { error?: unknown }).error;
  if (!error || typeof error !== 'object') return undefined;
  const message = (error as { message?: unknown }).message;
  return typeof message === 'string' && message !== '' ? oneLine(message) : undefined;
}

function isStatus(v: unknown): v is AdminStatus {
  if (!v || typeof v !== 'object') return false;
  const s = v as Partial<AdminStatus>;
  return typeof s.node === 'string' && Array.isArray(s.services) && (s.vrrp === undefined || Array.isArray(s.vrrp));
}

const oneLine = (s: string): string => s.replace(/\s+/g, ' ').trim();

/** Node's fetch wraps socket errors as `TypeError: fetch failed` with the system error as `cause`. */
function describeFetchFailure(err: unknown, base: string, timeoutMs: number, method: 'GET' | 'POST'): [AdminErrorCode, string] {
  const name = (err as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') {
    // A POST that timed out may still have been applied: say how to find out.
    const after = method === 'POST' ? ' (the change may have been made anyway: see baton status)' : '';
    return ['timeout', `the Baton admin API at ${base} did not answer within ${timeoutMs / 1000} s${after}`];
  }
  const cause = (err as { cause?: unknown } | null)?.cause ?? err;
  const code = (cause as { code?: unknown } | null)?.code;
  const reach = `cannot reach the Baton admin API at ${base}`;
  if (typeof code === 'string' && code.startsWith('HPE_')) {
    // llhttp's parse errors: something answered, but not in HTTP.
    return ['unreachable', `${reach}: what listens there does not speak HTTP (is admin.listen this address?)`];
  }
  switch (code) {
    case 'ECONNREFUSED':
      return ['unreachable', `${reach}: connection refused (is baton running? is admin.listen this address?)`];
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return ['unreachable', `${reach}: unknown host`];
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return ['unreachable', `${reach}: no route to host`];
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return ['timeout', `${reach}: connect timed out`];
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return ['unreachable', `${reach}: the connection was closed without an HTTP answer (is admin.listen this address?)`];
  }
  const detail = cause instanceof Error ? cause.message : String(cause);
  if (detail === 'bad port') {
    // The fetch standard's list of blocked ports (6000, 6665-6669 …).
    return ['unreachable', `${reach}: fetch refuses to connect to this port; give admin.listen another one`];
  }
  return ['unreachable', `${reach}: ${oneLine(typeof code === 'string' && !detail.includes(code) ? `${code}: ${detail}` : detail)}`];
}
