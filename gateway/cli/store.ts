/** `fgw store salvage`: what can be read from a damaged store file, into the live store of a config (ingest/salvage.ts). */
import { realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ErrorCodes, GatewayError } from '../../config/errors.js';
import { Recovery } from '../../ingest/recover.js';
import { salvageInto, salvageText } from '../../ingest/salvage.js';
import { STORE_FILE, openStore } from '../../ingest/store/index.js';
import { loadConfig } from '../config.js';
import { usage, type Command, type Io } from './io.js';

async function salvage(rest: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: rest,
    options: { config: { type: 'string', short: 'c' }, json: { type: 'boolean' }, force: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  if (!values.config || positionals.length !== 1) usage('give one damaged store file and --config <gateway.yaml>');
  const file = resolve(positionals[0]!);
  const { config } = loadConfig(values.config);
  const live = join(config.storage.path, STORE_FILE);
  let same = false;
  try {
    same = realpathSync(file) === realpathSync(live);
  } catch {
    /* the live store may not exist yet */
  }
  if (same) throw new GatewayError(ErrorCodes.USAGE, `${file} is the live store of this config; salvage reads a damaged file moved aside (store.db.damaged-*)`);
  let rec: Recovery;
  try {
    rec = new Recovery(file);
    rec.close();
  } catch (e) {
    throw new GatewayError(ErrorCodes.STORE, `cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  const store = openStore({
    path: config.storage.path,
    maxSizeBytes: config.storage.maxSize,
    retentionMs: config.storage.retention,
    limitsIntervalMs: 0,
    deadLetterShare: config.storage.deadLetterShare,
    auditShare: config.storage.auditShare,
    forwarding: config.influx !== undefined,
  });
  try {
    const done = store.salvaged(file);
    if (done && !values.force) {
      throw new GatewayError(
        ErrorCodes.USAGE,
        `${file} was salvaged into this store already (${new Date(done.at).toISOString()}: ${done.readings} readings); --force reads it again and imports what the store does not hold yet`,
      );
    }
    const result = salvageInto(file, store, { retentionMs: config.storage.retention, now: Date.now(), storePath: config.storage.path });
    if (values.json) io.out(JSON.stringify(result, null, 2));
    else for (const l of salvageText(result)) io.out(l);
    return 0;
  } finally {
    await store.close();
  }
}

export const command: Command = {
  run(argv, io) {
    const [sub, ...rest] = argv;
    if (sub !== 'salvage') usage(sub === undefined ? 'give salvage' : `fgw store knows salvage, not "${sub}"`);
    return salvage(rest, io);
  },
};
