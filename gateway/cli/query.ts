/** `fgw query`: a device's readings from the embedded store or from InfluxDB, as text or JSON. */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { joinRelativeTimes, timeOpt, usage, type Command } from './io.js';

export const command: Command = {
  async run(argv, io) {
    const { values } = parseArgs({
      args: joinRelativeTimes(argv),
      options: {
        config: { type: 'string', short: 'c' },
        device: { type: 'string', short: 'd' },
        tag: { type: 'string', short: 't' },
        from: { type: 'string' },
        to: { type: 'string' },
        limit: { type: 'string' },
        json: { type: 'boolean' },
        source: { type: 'string' },
      },
      strict: true,
    });
    if (!values.config || !values.device) usage('--config and --device are required');
    const source = values.source ?? 'store';
    if (source !== 'store' && source !== 'influx') usage(`--source: expected store or influx, got "${source}"`);
    const limit = values.limit === undefined ? 10_000 : Number(values.limit);
    if (!Number.isInteger(limit) || limit <= 0) usage(`--limit: expected a positive integer, got "${values.limit}"`);
    const { config } = loadConfig(values.config);
    const q = { device: values.device, tag: values.tag, from: timeOpt(values.from, 'from'), to: timeOpt(values.to, 'to'), limit };
    const { queryReadings } = await import('../query.js');
    const rows = await queryReadings(config, source, q);
    if (values.json) io.out(JSON.stringify(rows, null, 2));
    else {
      for (const r of rows)
        io.out(
          `${new Date(r.ts).toISOString()}  ${r.device}  ${r.tag}  ${r.value === null ? '(no value)' : String(r.value)}  ${r.quality}${r.error ? `  ${r.error}` : ''}`,
        );
      io.err(`${rows.length} readings`);
    }
    return 0;
  },
};
