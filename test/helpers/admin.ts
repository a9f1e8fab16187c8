/**
 * Talking to a running daemon from tests: the admin API, its workers' PIDs,
 * and which process holds each accepted connection (from `ss`).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export async function api(base: string, path: string, init: { method?: string; body?: unknown; rawBody?: string; token?: string } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  const res = await fetch(base + path, {
    method: init.method ?? (init.body !== undefined || init.rawBody !== undefined ? 'POST' : 'GET'),
    headers,
    body: init.rawBody ?? (init.body !== undefined ? JSON.stringify(init.body) : undefined),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

export function setServerState(base: string, service: string, server: string, state: string, token?: string) {
  return api(base, `/api/services/${encodeURIComponent(service)}/servers/${encodeURIComponent(server)}/state`, { body: { state }, token });
}

/** Direct children of a process that run the given script. */
export function childPids(pid: number, script = 'worker-main.js'): number[] {
  let children: string;
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8');
  } catch {
    return [];
  }
  return children
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((c) => {
      try {
        return readFileSync(`/proc/${c}/cmdline`, 'utf8').includes(script);
      } catch {
        return false;
      }
    });
}

/** Established connections with local port `port`, counted by the PID that holds them. */
export function connectionsByPid(port: number): Map<number, number> {
  const r = spawnSync('ss', ['-tnpH', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
  const out = new Map<number, number>();
  for (const m of r.stdout.matchAll(/pid=(\d+)/g)) out.set(Number(m[1]), (out.get(Number(m[1])) ?? 0) + 1);
  return out;
}
