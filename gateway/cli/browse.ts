/** `fgw browse opc.tcp://host:port ...`: prints a server's variables as ready-to-paste tag entries (adapters/opcua/browse.ts). */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { browse, formatTags } from '../../adapters/opcua/browse.js';
import { connectionSchema, SECURITY_MODES, SECURITY_POLICIES } from '../../adapters/opcua/schema.js';
import { loadConfig } from '../config.js';
import { usage, type Command } from './io.js';

export const command: Command = {
  async run(argv, io) {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        security: { type: 'string' },
        policy: { type: 'string' },
        user: { type: 'string' },
        password: { type: 'string' },
        depth: { type: 'string' },
        root: { type: 'string' },
        pki: { type: 'string' },
        config: { type: 'string', short: 'c' },
        'trust-unknown': { type: 'boolean' },
        'include-server': { type: 'boolean' },
      },
      allowPositionals: true,
      strict: true,
    });
    const endpoint = positionals[0];
    if (!endpoint || positionals.length > 1) usage('give one endpoint: fgw browse opc.tcp://host:port');
    if (values.security && !(SECURITY_MODES as readonly string[]).includes(values.security)) usage(`--security: expected one of ${SECURITY_MODES.join(', ')}`);
    if (values.policy && !(SECURITY_POLICIES as readonly string[]).includes(values.policy)) usage(`--policy: expected one of ${SECURITY_POLICIES.join(', ')}`);
    if ((values.user === undefined) !== (values.password === undefined)) usage('--user and --password go together');
    const depth = values.depth === undefined ? 4 : Number(values.depth);
    if (!Number.isInteger(depth) || depth < 1) usage(`--depth: expected a whole number >= 1, got "${values.depth}"`);

    const parsed = connectionSchema.safeParse({
      endpoint,
      securityMode: values.security ?? 'None',
      ...(values.policy ? { securityPolicy: values.policy } : {}),
      auth: values.user !== undefined ? { type: 'username', username: values.user, password: values.password } : { type: 'anonymous' },
      trustUnknownServers: values['trust-unknown'] ?? false,
    });
    if (!parsed.success) usage(parsed.error.issues.map((i) => `${i.path.join('.') || 'endpoint'}: ${i.message}`).join('; '));

    let pkiDir: string;
    let gatewayId = 'browse';
    if (values.config) {
      const { config } = loadConfig(values.config);
      gatewayId = config.gateway.id;
      pkiDir = values.pki ?? join(config.storage.path, 'pki');
    } else pkiDir = values.pki ?? join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'fgw', 'pki');

    const log = pino({ level: 'warn' }, {
      write: (s: string) => io.err(String((JSON.parse(s) as { msg?: string }).msg ?? s)),
    } as unknown as NodeJS.WritableStream);
    const vars = await browse({
      connection: parsed.data,
      pkiDir,
      gatewayId,
      depth,
      ...(values.root ? { root: values.root } : {}),
      includeServer: values['include-server'] ?? false,
      log,
    });
    io.out(`# fgw browse ${endpoint}: ${vars.length} variables (depth ${depth}); paste under a device of protocol opcua`);
    for (const line of formatTags(vars)) io.out(line);
    return 0;
  },
};
