/**
 * Config schemas of the `storage` and `influx` sections (the schema lives beside the code it
 * configures; gateway/schema.ts only composes). Durations and sizes are parsed once here.
 */
import { z } from 'zod';
import { duration, size } from '../config/common.js';

// the description goes on the outermost schema (the one with the default), where tools read it
const dur = (text: string, def: number) => duration(text).default(def).describe(text);
const bytes = (text: string, def: number) => size(text).default(def).describe(text);
const share = (text: string, def: number) => z.number().min(0.001).max(0.5).default(def).describe(text);

export const storageSchema = z
  .strictObject({
    path: z
      .string()
      .min(1)
      .default('./data')
      .describe('Directory of the embedded store (SQLite database, WAL) and of adapter state such as OPC UA certificates. Created if missing.'),
    maxSize: bytes(
      'Largest size of the store on disk (e.g. "2GB"), everything included: database, WAL, a reserve for cursors and counters, dead letters and audits. Past it the oldest readings are dropped first (those InfluxDB has before those it has not), and counted.',
      2 * 1024 ** 3,
    ),
    retention: duration('How long readings are kept locally (e.g. "14d"; 0 = until maxSize). Older ones are dropped, and counted.', {
      max: Number.MAX_SAFE_INTEGER,
      why: 'no limit',
    })
      .default(14 * 86_400_000)
      .describe('How long readings are kept locally (e.g. "14d"; 0 = until maxSize). Older ones are dropped, and counted.'),
    commitInterval: dur('Longest time a write waits for its group commit (0: commit on the next turn of the event loop).', 0),
    commitRows: z.number().int().positive().default(20_000).describe('A group commit happens at once when this many rows are queued.'),
    limitsInterval: dur('How often retention is enforced and drops are logged (maxSize is enforced at every commit).', 60_000),
    deadLetterShare: share(
      'Largest part of maxSize (or of the disk, when smaller) that dead letters may take, e.g. 0.05 for 5%. Past it their own oldest are dropped, and counted; they never push out readings.',
      0.05,
    ),
    auditShare: share(
      'Largest part of maxSize (or of the disk, when smaller) that audit records may take. Past it their own oldest are dropped, and counted: those InfluxDB has first, then unforwarded refusals (a flood of bad tokens), then the rest; they never push out readings.',
      0.05,
    ),
  })
  .describe('Embedded durable store: the store-and-forward buffer and the local history.');

export const influxSchema = z
  .strictObject({
    url: z.url().describe('Base URL of InfluxDB (v1 HTTP API: /write, /query), e.g. "http://127.0.0.1:8086".'),
    database: z.string().min(1).describe('Database (InfluxDB 2.x/3.x: the bucket mapped to it) to write into.'),
    measurement: z.string().min(1).default('equipment').describe('Measurement of device readings. Status goes to `gateway_status`, audits to `gateway_audit`.'),
    username: z.string().default('').describe('User name; empty for no authentication. InfluxDB 2.x/3.x v1 API: any name, the password is the token.'),
    password: z.string().default('').describe('Password, or the API token on InfluxDB 2.x/3.x; empty for no authentication. Never logged.'),
    batchSize: z.number().int().positive().max(100_000).default(5000).describe('Lines per write request (InfluxDB recommends about 5000).'),
    flushInterval: dur(
      'The upper bound on how long a committed reading waits to be sent when nothing else triggers a write (the forwarder otherwise writes as soon as the previous write returned, with whatever was committed meanwhile, up to batchSize).',
      1000,
    ),
    createDatabase: z.boolean().default(true).describe('Create the database when InfluxDB says it does not exist (needs admin rights when auth is on).'),
    timeout: dur('Time limit of one HTTP request to InfluxDB.', 10_000),
    maxBackoff: dur('Longest wait between retries while InfluxDB is down or overloaded (Retry-After is honoured even when longer).', 30_000),
    holdRetryInterval: dur('How often to try again while held (credentials refused, or database missing and not to be created).', 30_000),
    gzip: z.boolean().default(false).describe('Compress write bodies with gzip (saves bandwidth on remote links, costs CPU).'),
  })
  .describe('InfluxDB to forward to over the v1 HTTP API.');

export type StorageConfig = z.infer<typeof storageSchema>;
export type InfluxConfig = z.infer<typeof influxSchema>;
