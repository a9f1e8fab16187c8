/**
 * Wording of config errors. Zod's own messages speak about JavaScript types
 * ("expected object, received null"); a config error should speak about the
 * YAML the user wrote ("expected a mapping, got an empty value"). This module
 * is the zod error map passed to every parse, plus hints for keys a
 * keepalived or HAProxy user is likely to type.
 */
import type { z } from 'zod';

const NOUNS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
};

/** Short description of a YAML value for "got ..." clauses. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

function entries(n: number | bigint): string {
  return `${n} ${n === 1 ? 'entry' : 'entries'}`;
}

/** The error map for `safeParse(data, { error: configErrorMap })`; undefined keeps zod's wording. */
export function configErrorMap(iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'is required';
      return `expected ${NOUNS[iss.expected] ?? iss.expected}, got ${describeValue(iss.input)}`;
    case 'too_small':
      if (iss.origin === 'array') return `must have at least ${entries(iss.minimum)}`;
      if (iss.origin === 'string') return iss.minimum === 1 ? 'must not be empty' : `must be at least ${iss.minimum} characters`;
      return `must be ${iss.inclusive === false ? 'greater than' : 'at least'} ${iss.minimum}, got ${describeValue(iss.input)}`;
    case 'too_big':
      if (iss.origin === 'array') return `must have at most ${entries(iss.maximum)}`;
      if (iss.origin === 'string') return `must be at most ${iss.maximum} characters`;
      return `must be ${iss.inclusive === false ? 'less than' : 'at most'} ${iss.maximum}, got ${describeValue(iss.input)}`;
    case 'invalid_value':
      return iss.values.length === 1
        ? `must be ${String(iss.values[0])}, got ${describeValue(iss.input)}`
        : `must be one of ${iss.values.map(String).join(', ')}; got ${describeValue(iss.input)}`;
    case 'not_multiple_of':
      return `must be a multiple of ${iss.divisor}`;
    case 'unrecognized_keys':
      return 'unknown key';
    default:
      return undefined;
  }
}

/** Keys from keepalived.conf, HAProxy or plain typos, mapped to what Baton calls them. */
const KEY_HINTS: Record<string, string> = {
  virtual_router_id: 'router_id',
  advert_int: 'advert_interval',
  virtual_ipaddress: 'virtual_ips',
  virtual_ip: 'virtual_ips',
  vips: 'virtual_ips',
  nopreempt: 'preempt: false',
  unicast_peer: 'unicast_peers',
  auth_pass: 'auth_pass_env (the password comes from the environment)',
  password: 'password_env (the password comes from the environment)',
  token: 'token_env (the token comes from the environment)',
  track_interface: 'track: { interfaces: [...] }',
  track_script: 'track: { scripts: [...] }',
  notify_master: 'notify (called with the new state as an argument)',
  notify_backup: 'notify (called with the new state as an argument)',
  lb_algo: 'balance',
  real_server: 'servers',
  server: 'servers',
  service: 'services',
  delay_loop: 'health: { interval }',
  inter: 'interval',
  bind: 'listen',
  port: 'listen',
  state: 'priority and preempt (there is no initial state)',
};

/** The message for an unknown key, with a hint when the key is a familiar name for something Baton has. */
export function unknownKeyMessage(key: string): string {
  // hasOwn: a key such as toString must not find Object.prototype's.
  const hint = Object.hasOwn(KEY_HINTS, key) ? KEY_HINTS[key] : undefined;
  return hint ? `unknown key "${key}" (did you mean ${hint}?)` : `unknown key "${key}"`;
}
