#!/usr/bin/env node
// Chaos run: three Baton nodes (VRRPv3, 100 ms adverts, `cluster:` writer
// agreement) in front of two MariaDB servers in the network-namespace lab,
// client traffic through the VIP's write and read ports, and a seeded
// random fault every 3-15 s for MINUTES minutes (SIGKILL / SIGTERM and
// restart of a node, link down, loss and delay, partition, a database killed
// and restarted, SIGHUP with a changed config, malformed VRRP, a CPU hog).
// The engine is test/lab/chaos.ts (compiled to test/dist/lab/chaos.js by
// `npm run build`); test/chaos.test.ts runs the same for 2 minutes in CI.
//
// Prints the table, then the JSON (or writes it to FILE with --json FILE).
// Exit 0 when the run holds (no daemon crash, no dual VIP owner and no
// writer disagreement outside the protocol's bounds), 1 when it does not,
// 2 when this machine cannot run the lab (needs root and iproute2).
//
// Usage: node benchmarks/chaos.mjs [minutes=30] [--seed N] [--json FILE] [--logs DIR]
// (--logs DIR keeps every daemon's log and the client's output there.)
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lab = (file) => import(pathToFileURL(join(root, 'test/dist/lab', file)).href);

const args = process.argv.slice(2);
const flag = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const positional = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
const minutes = Number(positional[0] ?? 30);
const seed = flag('--seed') === undefined ? undefined : Number(flag('--seed'));
const jsonAt = flag('--json');
const logDir = flag('--logs');
if (!(minutes > 0) || (seed !== undefined && !Number.isInteger(seed))) {
  console.error('usage: node benchmarks/chaos.mjs [minutes=30] [--seed N] [--json FILE] [--logs DIR]');
  process.exit(2);
}

const { labCapability } = await lab('lab.js');
const cap = labCapability();
if (!cap.ok) {
  console.error(`chaos: cannot run here: ${cap.reason}`);
  process.exit(2);
}
const { runChaos, table } = await lab('chaos.js');
const report = await runChaos({ minutes, seed, logDir });
console.log(table(report));
const json = JSON.stringify(report, null, 2);
if (jsonAt) writeFileSync(jsonAt, json);
else console.log(json);
process.exitCode = report.ok ? 0 : 1;
