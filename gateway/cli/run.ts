/** `fgw run`: collect, store, forward and serve the API until a signal or `--for` elapses. */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { collectGarbage } from '../memory.js';
import { durationOpt, usage, type Command } from './io.js';

export const command: Command = {
  async run(argv, io) {
    const { values } = parseArgs({
      args: argv,
      options: { config: { type: 'string', short: 'c' }, for: { type: 'string' }, 'no-api': { type: 'boolean' } },
      strict: true,
    });
    if (!values.config) usage('--config is required');
    const forMs = durationOpt(values.for, 'for');
    const loaded = loadConfig(values.config);
    for (const w of loaded.warnings) io.err(`warning: ${w}`);
    const { runGateway } = await import('../serve.js');
    const gw = await runGateway({ config: loaded.config, configPath: loaded.path, api: !values['no-api'], io });
    // the config parser's garbage, once the devices are started (gateway/memory.ts)
    collectGarbage();
    return await gw.untilStopped(forMs);
  },
};
