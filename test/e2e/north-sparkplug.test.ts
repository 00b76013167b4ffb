/**
 * The gateway process (`fgw run`) as a Sparkplug B edge node and a JSON publisher on one real
 * Mosquitto, watched by a host application written here that decodes with `sparkplug-payload`:
 * NBIRTH then a DBIRTH per device with every metric, its alias and configured datatype; DDATA with
 * aliases only; seq counting 0..255 and wrapping; a rebirth request answered; the gateway SIGKILLed
 * mid-stream → the broker publishes the NDEATH will with the bdSeq of the NBIRTH; restarted → a new
 * NBIRTH with the next bdSeq, and every reading committed before and after the kill published at
 * least once on both targets (duplicates counted, not guessed).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../ingest/store/index.js';
import type { StoredReading } from '../../ingest/types.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { codec, num, value, type Metric } from '../helpers/sparkplug-host.js';
import { serveRegisters, type TestModbusServer } from '../helpers/modbus-server.js';
import { freePort } from '../helpers/net.js';
import { startProcess, type Proc } from '../helpers/proc.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const root = new URL('../..', import.meta.url).pathname;
const fgw = join(root, 'gateway/bin/fgw.js');

interface SpMessage {
  type: string;
  device?: string;
  seq?: number;
  timestamp: number;
  metrics: Metric[];
}

function configYaml(dir: string, broker: string, pressPort: number, sawPort: number, api: number): string {
  return `
gateway: { id: edge-01, site: yk, statusInterval: 1s, stopTimeout: 20s, logLevel: warn }
storage: { path: ${dir}/data }
http: { listen: 127.0.0.1:${api} }
devices:
  - id: press-01
    protocol: modbus
    connection: { host: 127.0.0.1, port: ${pressPort}, unitId: 1, timeout: 1s }
    interval: 20ms
    tags:
      - { name: state, role: state, area: holding, address: 0, type: uint16 }
      - { name: strokes, role: counter, area: holding, address: 1, type: uint32, byteOrder: ABCD }
      - { name: tonnage, role: parameter, area: holding, address: 3, type: float32, byteOrder: CDAB }
      - { name: oil_temp, role: parameter, area: holding, address: 5, type: int16, scale: 0.1 }
      - { name: lube_ok, role: quality, area: holding, address: 6, type: bool, bit: 3 }
  - id: saw-05
    protocol: modbus
    connection: { host: 127.0.0.1, port: ${sawPort}, unitId: 1, timeout: 1s }
    interval: 25ms
    tags:
      - { name: state, role: state, area: holding, address: 0, type: int32 }
      - { name: cuts, role: counter, area: holding, address: 2, type: uint16 }
north:
  - name: spb
    system: platform
    url: ${broker}
    format: sparkplugb
    sparkplug: { groupId: yk-plant }
  - name: json
    system: platform
    url: ${broker}
`;
}

describe('north: Sparkplug B edge node and JSON, gateway process SIGKILLed', () => {
  let broker: Mosquitto;
  let servers: TestModbusServer[] = [];
  let host: MqttClient;
  const sp: SpMessage[] = [];
  const json: Array<{ device: string; ts: number; tie?: number; values: Record<string, unknown>; errors: Record<string, string> }> = [];
  const press = [2, 0, 100, 0x0000, 0x444b, 0xff85, 0b1000];
  const saw = [0xffff, 0xfffe, 7];
  let ticker: NodeJS.Timeout | undefined;
  const dir = tempDir('fgw-north-spb-');
  let cfg = '';
  let api = 0;
  let gw: Proc | undefined;
  /** offline heartbeats of the JSON target: its clean stop publishes one after its last data */
  let jsonOffline = 0;

  beforeAll(async () => {
    broker = await startMosquitto();
    const pressPort = await freePort();
    const sawPort = await freePort();
    servers = [await serveRegisters(pressPort, press), await serveRegisters(sawPort, saw)];
    ticker = setInterval(() => {
      press[2] = (press[2]! + 1) & 0xffff;
      saw[2] = (saw[2]! + 1) & 0xffff;
    }, 15);
    host = await mqtt.connectAsync(broker.url, { clientId: 'host-app' });
    host.on('message', (topic, payload) => {
      const parts = topic.split('/');
      if (parts[0] === 'spBv1.0') {
        const p = codec.decodePayload(payload) as { seq?: unknown; timestamp?: unknown; metrics?: Metric[] };
        const m: SpMessage = { type: parts[2]!, timestamp: num(p.timestamp), metrics: p.metrics ?? [] };
        if (parts[4]) m.device = parts[4];
        if (p.seq !== undefined && p.seq !== null) m.seq = num(p.seq);
        sp.push(m);
      } else if (parts.length === 3 && parts[2] === 'heartbeat') {
        if (JSON.parse(payload.toString()).online === false) jsonOffline++;
      } else if (parts.length === 3) json.push(JSON.parse(payload.toString()));
    });
    await host.subscribeAsync(['spBv1.0/yk-plant/#', 'fgw/edge-01/+'], { qos: 1 });
    api = await freePort();
    cfg = join(dir.path, 'gateway.yaml');
    writeFileSync(cfg, configYaml(dir.path, broker.url, pressPort, sawPort, api));
  });

  afterAll(async () => {
    clearInterval(ticker);
    await gw?.kill('SIGKILL');
    await host?.endAsync();
    await Promise.all(servers.map((s) => s.close()));
    await broker?.close();
    dir.cleanup();
  });

  const of = (type: string, device?: string) => sp.filter((m) => m.type === type && (device === undefined || m.device === device));
  const status = async () =>
    (await (await fetch(`http://127.0.0.1:${api}/api/status`)).json()) as {
      north: Array<{ name: string; backlog: number; connected: boolean; replaying: boolean; rebirths: number }>;
    };

  it('births, data with aliases, seq wrapping, rebirth, NDEATH on SIGKILL, every reading at least once after the restart', async () => {
    gw = startProcess(process.execPath, [fgw, 'run', '--config', cfg]);
    await waitFor('NBIRTH and both DBIRTHs', () => of('NBIRTH').length === 1 && of('DBIRTH', 'press-01').length >= 1 && of('DBIRTH', 'saw-05').length >= 1, {
      timeoutMs: 30_000,
    });
    // NBIRTH first, seq 0, bdSeq and the rebirth control; then the DBIRTHs
    expect(sp[0]!.type).toBe('NBIRTH');
    expect(sp[0]!.seq).toBe(0);
    const nbirth = sp[0]!;
    const bdSeq = num(nbirth.metrics.find((m) => m.name === 'bdSeq')!.value);
    expect(nbirth.metrics.find((m) => m.name === 'Node Control/Rebirth')).toMatchObject({ type: 'Boolean', value: false });
    const dbirth = of('DBIRTH', 'press-01')[0]!;
    const types = Object.fromEntries(dbirth.metrics.map((m) => [m.name, m.type]));
    expect(types).toEqual({ state: 'UInt16', strokes: 'UInt32', tonnage: 'Float', oil_temp: 'Double', lube_ok: 'Boolean' });
    const aliases = new Map<string, Map<number, string>>();
    for (const d of ['press-01', 'saw-05']) {
      const b = of('DBIRTH', d)[0]!;
      aliases.set(d, new Map(b.metrics.map((m) => [num(m.alias), m.name!])));
      expect(b.metrics.every((m) => Number.isInteger(num(m.alias)) && num(m.alias) > 0)).toBe(true);
    }
    expect(Object.fromEntries(of('DBIRTH', 'saw-05')[0]!.metrics.map((m) => [m.name, m.type]))).toEqual({ state: 'Int32', cuts: 'UInt16' });
    // aliases unique in the node
    const all = [...aliases.values()].flatMap((m) => [...m.keys()]);
    expect(new Set(all).size).toBe(7);

    // more than 256 messages: the seq wraps
    await waitFor('seq wrapped', () => of('DDATA').length > 300, { timeoutMs: 60_000 });
    // DDATA: aliases only, a known alias of its device, values of the tag's type
    for (const m of of('DDATA').slice(0, 300)) {
      for (const x of m.metrics) {
        expect(x.name ?? undefined).toBeUndefined();
        expect(aliases.get(m.device!)!.has(num(x.alias))).toBe(true);
      }
    }
    // (the first polls may time out on a loaded machine: a DDATA with every value)
    const ddata = of('DDATA', 'press-01').find((m) => m.metrics.length === 5 && m.metrics.every((x) => x.value != null))!;
    const byName = Object.fromEntries(ddata.metrics.map((x) => [aliases.get('press-01')!.get(num(x.alias))!, value(x)]));
    expect(byName).toMatchObject({ state: 2, tonnage: 812, oil_temp: -12.3, lube_ok: true });

    // a rebirth request from the host: NBIRTH (seq 0, same bdSeq) and the DBIRTHs again
    const before = sp.length;
    await host.publishAsync(
      'spBv1.0/yk-plant/NCMD/edge-01',
      Buffer.from(codec.encodePayload({ timestamp: Date.now(), metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }] } as never)),
      { qos: 1 },
    );
    await waitFor('the rebirth', () => sp.slice(before).some((m) => m.type === 'NBIRTH') && sp.slice(before).filter((m) => m.type === 'DBIRTH').length >= 2);
    const reb = sp.slice(before).find((m) => m.type === 'NBIRTH')!;
    expect(reb.seq).toBe(0);
    expect(num(reb.metrics.find((m) => m.name === 'bdSeq')!.value)).toBe(bdSeq);
    expect((await status()).north.find((t) => t.name === 'spb')!.rebirths).toBe(1);

    // SIGKILL mid-stream: the broker sends the will, NDEATH with the NBIRTH's bdSeq
    const killAt = Date.now();
    await gw.kill('SIGKILL');
    await waitFor('NDEATH from the will', () => of('NDEATH').length === 1, { timeoutMs: 30_000 });
    const killedAt = sp.length;
    expect(num(of('NDEATH')[0]!.metrics.find((m) => m.name === 'bdSeq')!.value)).toBe(bdSeq);

    // every session: seq 0 at NBIRTH, +1 per message, wrapping 255 → 0
    let expected: number | undefined;
    let wrapped = 0;
    for (const m of sp.slice(0, killedAt)) {
      if (m.type === 'NDEATH' || m.type.endsWith('CMD')) continue;
      if (m.type === 'NBIRTH') expected = 0;
      expect(m.seq, `${m.type} ${m.device ?? ''}`).toBe(expected);
      if (expected === 255) wrapped++;
      expected = (expected! + 1) % 256;
    }
    expect(wrapped).toBeGreaterThanOrEqual(1);

    // restarted: a new NBIRTH with the next bdSeq; the backlog goes on both targets
    gw = startProcess(process.execPath, [fgw, 'run', '--config', cfg]);
    await waitFor('NBIRTH after the restart', () => sp.slice(killedAt).some((m) => m.type === 'NBIRTH'), { timeoutMs: 30_000 });
    const nb2 = sp.slice(killedAt).find((m) => m.type === 'NBIRTH')!;
    expect(num(nb2.metrics.find((m) => m.name === 'bdSeq')!.value)).toBe((bdSeq + 1) % 256);
    await waitFor(
      'both targets caught up',
      async () => {
        const s = await status();
        return s.north.length === 2 && s.north.every((t) => t.connected && !t.replaying);
      },
      { timeoutMs: 60_000 },
    );
    jsonOffline = 0; // (the will of the SIGKILL said offline too, long before)
    const termAt = Date.now();
    await gw.kill('SIGTERM'); // a clean stop publishes what was committed before it
    const { code } = await gw.exited;
    expect(code, gw.output()).toBe(0);
    gw = undefined;
    // the clean stop's own NDEATH (the will is not sent after a DISCONNECT)
    await waitFor('NDEATH of the clean stop', () => of('NDEATH').length === 2);
    // each target's last message after its data on its own connection: the JSON data is all here
    // once its offline heartbeat is (the two connections' messages reach us in no fixed order)
    await waitFor('the offline heartbeat of the clean stop', () => jsonOffline >= 1);

    const store = openStore({ path: `${dir.path}/data`, maxSizeBytes: 1024 ** 3, retentionMs: 14 * 86_400_000 });
    let stored: StoredReading[];
    try {
      stored = store.query({ measurement: 'data', limit: 10_000_000 });
    } finally {
      await store.close();
    }
    expect(stored.length).toBeGreaterThan(500);

    // JSON: every stored reading received at least once, with its value; duplicates counted
    const seen = new Map<string, number>();
    // a good reading by its value, a bad one (a poll that timed out under load) by its error code
    const got1 = (m: (typeof json)[number], tag: string, what: string) => {
      const k = `${m.device}|${tag}|${m.ts}|${m.tie ?? 0}|${what}`;
      seen.set(k, (seen.get(k) ?? 0) + 1);
    };
    for (const m of json) {
      for (const [tag, v] of Object.entries(m.values)) got1(m, tag, JSON.stringify(v));
      for (const [tag, code] of Object.entries(m.errors)) got1(m, tag, `error ${code}`);
    }
    const what = (r: StoredReading) => (r.quality === 'bad' ? `error ${r.error}` : JSON.stringify(r.value));
    const missingJson = stored.filter((r) => !seen.has(`${r.device}|${r.tag}|${r.ts}|${r.tie ?? 0}|${what(r)}`));
    expect(
      missingJson.map((r) => `${r.device}.${r.tag}@${r.ts}`),
      `SIGKILL at ${killAt}, SIGTERM at ${termAt}`,
    ).toEqual([]);
    const jsonDuplicates = [...seen.values()].reduce((a, n) => a + n - 1, 0);

    // Sparkplug: every stored reading in a DDATA of its device (alias, timestamp, value)
    const got = new Map<string, number>();
    for (const m of of('DDATA'))
      for (const x of m.metrics) {
        const tag = aliases.get(m.device!)!.get(num(x.alias));
        const k = `${m.device}|${tag}|${num(x.timestamp)}|${JSON.stringify(value(x) ?? null)}`;
        got.set(k, (got.get(k) ?? 0) + 1);
      }
    const missingSp = stored.filter((r) => !got.has(`${r.device}|${r.tag}|${r.ts}|${JSON.stringify(r.value)}`));
    expect(
      missingSp.map((r) => `${r.device}.${r.tag}@${r.ts}`),
      `SIGKILL at ${killAt}, SIGTERM at ${termAt}`,
    ).toEqual([]);
    const spDuplicates = [...got.values()].reduce((a, n) => a + n - 1, 0);
    const historical = of('DDATA').filter((m) => m.metrics.some((x) => x.isHistorical)).length;
    console.log(
      `north sigkill: ${stored.length} readings stored; JSON ${json.length} messages, ${jsonDuplicates} duplicate readings; Sparkplug ${of('DDATA').length} DDATA, ${spDuplicates} duplicate readings, ${historical} historical`,
    );
  }, 240_000);
});
