#!/usr/bin/env node
// The `baton` command as npm links it (node_modules/.bin/baton, `npx baton`).
//
// Why a committed file instead of pointing "bin" at dist/src/cli.js: npm
// links a workspace's bin only if the file exists when `npm install` runs,
// and dist/ is built later (`npm run build`, or `npm start`). This file is
// always there, so the link always is; it loads the built CLI, or says how
// to build it.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/src/cli.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  process.stderr.write(`baton: the CLI is not built yet (no ${fileURLToPath(cli)}).\nRun \`npm run build\` (or \`npm start\`) in ${root} first.\n`);
  process.exit(1);
}
await import(cli.href);
