/**
 * Builds dist/ once before the suite: tests that spawn the gateway as a real process (SIGKILL and
 * restart tests) run the shipped artifact `gateway/bin/fgw.js`, not the sources.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  mkdirSync('/tmp/fgw-test-xdg', { recursive: true });
  try {
    execFileSync(process.execPath, [`${root}/node_modules/typescript/bin/tsc`, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'pipe' });
  } catch (e) {
    // tsc still emits on type errors; the type check proper is `npm run typecheck` in test/run.sh
    const out = (e as { stdout?: Buffer }).stdout?.toString() ?? '';
    console.warn(`tsc reported errors (dist/ emitted anyway):\n${out.slice(0, 4000)}`);
  }
}
