/**
 * Test-side handle of an agent (agent.ts) running in a lab node: request /
 * reply over the agent's stdin/stdout, and a log of its events to wait on.
 *
 * Invariants: the agent is started with lab.spawn(), so lab.destroy() stops
 * it even when a test forgets stop(); every wait has a timeout and fails
 * with what was seen instead of hanging.
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Lab } from './lab.js';

export type AgentEvent = { ev: string; at: number } & Record<string, unknown>;
export type AgentReply = { id: number; ok: boolean; error?: string; code?: string | null } & Record<string, unknown>;

const agentPath = fileURLToPath(new URL('./agent.js', import.meta.url));

export class Agent {
  readonly events: AgentEvent[] = [];
  /** The agent's stderr, for failure messages. */
  stderr = '';
  private nextId = 1;
  private readonly pending = new Map<number, (reply: AgentReply) => void>();
  private readonly watchers = new Set<() => void>();

  private constructor(
    readonly node: string,
    private readonly child: ChildProcess,
  ) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let msg: AgentReply | AgentEvent;
      try {
        msg = JSON.parse(line) as AgentReply | AgentEvent;
      } catch {
        this.stderr += `(stdout) ${line}\n`;
        return;
      }
      if ('id' in msg && typeof msg.id === 'number') {
        this.pending.get(msg.id)?.(msg as AgentReply);
        this.pending.delete(msg.id);
      } else {
        this.events.push(msg as AgentEvent);
        for (const w of [...this.watchers]) w();
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (this.stderr += s));
  }

  /** Starts an agent in `node` and waits until it is ready. */
  static async start(lab: Lab, node: string): Promise<Agent> {
    const child = lab.spawn(node, [process.execPath, agentPath]);
    const agent = new Agent(node, child);
    await agent.waitFor((e) => e.ev === 'ready', 10_000, 'agent ready');
    return agent;
  }

  /** Sends a request; rejects with the agent's error (and its code) when it fails. */
  async call(op: string, args: Record<string, unknown> = {}, timeoutMs = 10_000): Promise<AgentReply> {
    const id = this.nextId++;
    const reply = await new Promise<AgentReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`[${this.node}] ${op}: no reply in ${timeoutMs} ms; stderr: ${this.stderr}`));
      }, timeoutMs);
      this.pending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.child.stdin!.write(JSON.stringify({ id, op, ...args }) + '\n');
    });
    if (!reply.ok) throw Object.assign(new Error(`[${this.node}] ${op}: ${reply.error}`), { code: reply.code });
    return reply;
  }

  /** Resolves with the first event (already seen or future) matching `pred`. */
  waitFor(pred: (e: AgentEvent) => boolean, timeoutMs: number, what: string): Promise<AgentEvent> {
    const found = this.events.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const check = () => {
        const e = this.events.find(pred);
        if (!e) return;
        clearTimeout(timer);
        this.watchers.delete(check);
        resolve(e);
      };
      const timer = setTimeout(() => {
        this.watchers.delete(check);
        reject(new Error(`[${this.node}] timed out after ${timeoutMs} ms waiting for ${what}; stderr: ${this.stderr}`));
      }, timeoutMs);
      this.watchers.add(check);
    });
  }

  /** Closes stdin (the agent closes its adapters and exits) and waits for the exit. */
  /** SIGKILL: the agent dies without running any cleanup; resolves once it exited. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin!.end();
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
  }
}
