#!/usr/bin/env node
// Entry point of the `fgw` command: runs the compiled CLI in dist/ (built by `npm ci` / `npm run build`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../../dist/gateway/cli/index.js', import.meta.url));
if (!existsSync(cli)) {
  process.stderr.write('fgw: dist/ is missing: run `npm run build` (npm ci runs it for you)\n');
  process.exit(1);
}
const { main } = await import(cli);
const code = await main(process.argv.slice(2));
process.exitCode = code;
