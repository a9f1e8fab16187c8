/**
 * A process that runs the VRRP Linux adapters inside one lab namespace
 * (started by the test as `ip netns exec NS node agent.js`), driven over
 * stdin/stdout with one JSON object per line. The adapters use the network
 * namespace of their process, so a test that needs them on several nodes
 * starts one agent per node.
 *
 * Requests: { id, op, ...args }; replies: { id, ok: true, ...result } or
 * { id, ok: false, error, code }. Unsolicited events: { ev: 'packet' | 'link', ... }.
 * Times (`at`) are epoch milliseconds with sub-millisecond precision
 * (performance.timeOrigin + performance.now()), comparable across processes.
 *
 * Invariants: the agent never exits on a failed request (it replies with
 * the error); it exits when stdin closes, after closing every adapter.
 */
import { createInterface } from 'node:readline';
import {
  createNetlinkVipManager,
  openGarpSender,
  openLinkWatch,
  openRawTransport,
  type LinkWatch,
  type LinuxGarpSender,
  type NetlinkVipManager,
  type RawTransport,
} from '@baton/vrrp';

type Request = { id: number; op: string } & Record<string, unknown>;

const now = () => performance.timeOrigin + performance.now();
const write = (obj: Record<string, unknown>) => process.stdout.write(JSON.stringify(obj) + '\n');

let transport: RawTransport | undefined;
let sendTimer: NodeJS.Timeout | undefined;
let watch: LinkWatch | undefined;
const vipManagers = new Map<string, NetlinkVipManager>();
const garps = new Map<string, LinuxGarpSender>();

const str = (v: unknown, name: string): string => {
  if (typeof v !== 'string') throw new Error(`${name} must be a string`);
  return v;
};
const strs = (v: unknown, name: string): string[] => {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Error(`${name} must be a string array`);
  return v as string[];
};

function vips(req: Request): NetlinkVipManager {
  const iface = str(req.interface, 'interface');
  const list = strs(req.vips, 'vips');
  const lifetime = typeof req.lifetimeS === 'number' ? { lifetimeS: req.lifetimeS, refreshMs: Number(req.refreshMs ?? 1000) } : {};
  const key = `${iface} ${list.join(',')} ${JSON.stringify(lifetime)}`;
  let m = vipManagers.get(key);
  if (!m) {
    m = createNetlinkVipManager({ interface: iface, vips: list, ...lifetime });
    vipManagers.set(key, m);
  }
  return m;
}

async function handle(req: Request): Promise<Record<string, unknown>> {
  switch (req.op) {
    case 'transport.open': {
      const peers = req.unicastPeers === undefined ? [] : strs(req.unicastPeers, 'unicastPeers');
      transport = await openRawTransport({ interface: str(req.interface, 'interface'), unicastPeers: peers });
      transport.onPacket((packet) => write({ ev: 'packet', at: now(), hex: packet.toString('hex') }));
      return { primaryAddr: transport.primaryAddr, ifindex: transport.ifindex };
    }
    case 'transport.send': {
      if (!transport) throw new Error('transport not open');
      const t = transport;
      const payload = Buffer.from(str(req.hex, 'hex'), 'hex');
      const dst = str(req.dst, 'dst');
      t.send(payload, dst);
      if (typeof req.everyMs === 'number') {
        clearInterval(sendTimer);
        sendTimer = setInterval(() => t.send(payload, dst), req.everyMs);
      }
      return {};
    }
    case 'transport.stop': {
      clearInterval(sendTimer);
      sendTimer = undefined;
      return { stats: transport ? { ...transport.stats } : null };
    }
    case 'vips.add':
      await vips(req).add();
      return {};
    case 'vips.remove':
      await vips(req).remove();
      return {};
    case 'vips.present':
      return { present: await vips(req).present() };
    case 'vips.removeLeftovers':
      return { removed: await vips(req).removeLeftovers() };
    case 'garp.send': {
      const iface = str(req.interface, 'interface');
      const list = strs(req.vips, 'vips');
      const key = `${iface} ${list.join(',')}`;
      let g = garps.get(key);
      if (!g) {
        g = await openGarpSender({ interface: iface, vips: list });
        garps.set(key, g);
      }
      g.send();
      return { mac: g.mac, sent: g.sent, failures: g.failures };
    }
    case 'link.watch': {
      watch?.close();
      watch = await openLinkWatch({
        interfaces: strs(req.interfaces, 'interfaces'),
        onChange: (c) => write({ ev: 'link', at: now(), ...c }),
      });
      return { snapshot: watch.snapshot() };
    }
    case 'ping':
      return { at: now() };
    default:
      throw new Error(`unknown op ${req.op}`);
  }
}

function shutdown(): void {
  clearInterval(sendTimer);
  transport?.close();
  watch?.close();
  for (const g of garps.values()) g.close();
  void Promise.all([...vipManagers.values()].map((m) => m.close())).finally(() => process.exit(0));
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  let req: Request;
  try {
    req = JSON.parse(line) as Request;
  } catch {
    write({ ev: 'error', error: `bad request line: ${line}` });
    return;
  }
  handle(req).then(
    (result) => write({ id: req.id, ok: true, ...result }),
    (err: unknown) =>
      write({
        id: req.id,
        ok: false,
        error: err instanceof Error ? err.message : String(err),
        code: (err as { code?: unknown } | null)?.code ?? null,
      }),
  );
});
rl.on('close', shutdown);
process.on('SIGTERM', shutdown);
write({ ev: 'ready', at: now(), pid: process.pid });
