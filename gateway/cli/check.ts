/** `fgw check --config <file>` validates a gateway config; `fgw check --hub <hub.yaml>` a hub config and its project folders. */
import { parseArgs } from 'node:util';
import { ErrorCodes, GatewayError } from '../../config/errors.js';
import { loadConfig } from '../config.js';
import { usage, type Command, type Io } from './io.js';

async function checkHub(file: string, io: Io): Promise<number> {
  const { loadHubConfig } = await import('../hub/config.js');
  const { checkHub } = await import('../hub/check.js');
  const loaded = loadHubConfig(file);
  const { errors, warnings, summary } = checkHub(loaded);
  for (const w of warnings) io.err(`warning: ${w}`);
  if (errors.length > 0)
    throw new GatewayError(ErrorCodes.CONFIG, `${loaded.path}: ${errors.filter((e) => !e.startsWith('  ')).length} project folder(s) cannot be read`, {
      details: errors,
    });
  io.out(summary);
  return 0;
}

export const command: Command = {
  async run(argv, io) {
    const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, hub: { type: 'string' } }, strict: true });
    if (values.hub) return checkHub(values.hub, io);
    if (!values.config) usage('give --config <file> or --hub <hub.yaml>');
    const { config, path, warnings } = loadConfig(values.config);
    for (const w of warnings) io.err(`warning: ${w}`);
    const byProto = new Map<string, number>();
    for (const d of config.devices) byProto.set(d.protocol, (byProto.get(d.protocol) ?? 0) + 1);
    const tags = config.devices.reduce((n, d) => n + d.tags.length, 0);
    const protocols = [...byProto].map(([p, n]) => `${n} ${p}`).join(', ') || 'none';
    const influx = config.influx ? `; forwarding to ${config.influx.url} db ${config.influx.database}` : '; no InfluxDB (embedded store only)';
    const north = config.north.length ? `; north: ${config.north.map((t) => `${t.name} (${t.format}${t.enabled ? '' : ', disabled'})`).join(', ')}` : '';
    io.out(
      `ok: ${path}: gateway ${config.gateway.id}, ${config.devices.length} devices (${protocols}), ${tags} tags; store ${config.storage.path}${influx}${north}`,
    );
    return 0;
  },
};
