/** `fgw demo` (`npm start`): the simulated thermos-cup line collected by a real gateway (gateway/demo.ts). */
import { parseArgs } from 'node:util';
import { startDemo } from '../demo.js';
import { durationOpt, usage, type Command } from './io.js';

function intOpt(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) usage(`--${name}: expected a whole number, got "${v}"`);
  return n;
}

export const command: Command = {
  async run(argv, io) {
    const { values } = parseArgs({
      args: argv,
      options: { for: { type: 'string' }, dir: { type: 'string' }, port: { type: 'string' }, seed: { type: 'string' } },
      strict: true,
    });
    const forMs = durationOpt(values.for, 'for');
    const demo = await startDemo({ dir: values.dir ?? 'data/demo', apiPort: intOpt(values.port, 'port'), seed: intOpt(values.seed, 'seed'), io });
    return demo.untilStopped(forMs);
  },
};
