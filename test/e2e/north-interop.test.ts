/**
 * Northbound Sparkplug B against an implementation we did not write: Eclipse Tahu's JavaScript edge
 * node (npm `sparkplug-client`, the one Sparkplug B implementation on npm besides the codec; no
 * Sparkplug host application installs from npm or Debian). On one real Mosquitto:
 *
 *   Tahu edge node "press-node" ──(southbound: the MQTT adapter as Sparkplug host)──▶ gateway
 *   gateway ──(north: our edge node "edge-gw")──▶ the test's host application
 *
 * - the host application's checks (births before data, seq 0 at NBIRTH and +1 per message, every
 *   DDATA metric declared by the device's DBIRTH by name or alias) hold for Tahu's edge node and
 *   for ours alike: the checks are Sparkplug's, not fitted to our implementation;
 * - the values Tahu's device publishes reach the host through our edge node with their timestamps;
 * - a DCMD the host sends our edge node goes through the gateway's write path and reaches Tahu's
 *   device as a DCMD it decodes (with the datatype of its own DBIRTH), is applied, and comes back.
 */
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { newClient, type UPayload } from 'sparkplug-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../gateway/config.js';
import { GatewayRuntime } from '../../gateway/runtime.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { codec, num, value, type Metric } from '../helpers/sparkplug-host.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

interface Msg {
  group: string;
  type: string;
  node: string;
  device?: string;
  seq?: number;
  metrics: Metric[];
}

/**
 * What a Sparkplug B host application checks of one edge node's messages: NBIRTH first (seq 0, a
 * bdSeq metric), seq +1 per message mod 256 within a session, a device's DBIRTH before its DDATA,
 * every DDATA metric declared by the DBIRTH (by name or alias). Returns the problems found.
 */
function edgeNodeProblems(msgs: readonly Msg[]): string[] {
  const out: string[] = [];
  let seq: number | undefined;
  const born = new Map<string, { names: Set<string>; aliases: Set<number> }>();
  msgs.forEach((m, i) => {
    if (m.type.endsWith('CMD') || m.type === 'NDEATH') return;
    if (i === 0 && m.type !== 'NBIRTH') out.push(`first message is ${m.type}, not NBIRTH`);
    if (m.type === 'NBIRTH') {
      seq = 0;
      born.clear();
      if (!m.metrics.some((x) => x.name === 'bdSeq')) out.push('NBIRTH without bdSeq');
    }
    if (m.seq !== seq) out.push(`${m.type} ${m.device ?? ''}: seq ${m.seq}, expected ${seq}`);
    seq = ((seq ?? 0) + 1) % 256;
    if (m.type === 'DBIRTH')
      born.set(m.device!, {
        names: new Set(m.metrics.map((x) => x.name!)),
        aliases: new Set(m.metrics.filter((x) => x.alias != null).map((x) => num(x.alias))),
      });
    if (m.type === 'DDATA') {
      const b = born.get(m.device!);
      if (!b) out.push(`DDATA of ${m.device} before its DBIRTH`);
      else
        for (const x of m.metrics)
          if (!(x.name ? b.names.has(x.name) : b.aliases.has(num(x.alias))))
            out.push(`DDATA of ${m.device}: metric ${x.name ?? num(x.alias)} not in its DBIRTH`);
    }
  });
  return out;
}

describe('north: Sparkplug B interoperability with Eclipse Tahu (sparkplug-client)', () => {
  let broker: Mosquitto;
  let host: MqttClient;
  let tahu: ReturnType<typeof newClient>;
  let rt: GatewayRuntime;
  const dir = tempDir('fgw-north-interop-');
  const msgs: Msg[] = [];
  const dcmds: UPayload[] = [];
  const device = { Speed: 1200, Setpoint: 40.5 };
  let ticker: NodeJS.Timeout | undefined;
  const sent: Array<{ ts: number; speed: number }> = [];

  beforeAll(async () => {
    broker = await startMosquitto();
    host = await mqtt.connectAsync(broker.url, { clientId: 'host-app' });
    host.on('message', (topic, payload) => {
      const [, group, type, node, dev] = topic.split('/');
      const p = codec.decodePayload(payload) as { seq?: unknown; metrics?: Metric[] };
      const m: Msg = { group: group!, type: type!, node: node!, metrics: p.metrics ?? [] };
      if (dev) m.device = dev;
      if (p.seq != null) m.seq = num(p.seq);
      msgs.push(m);
    });
    await host.subscribeAsync('spBv1.0/#', { qos: 1 });

    // Tahu's edge node, with one device that applies a DCMD and reports it back
    tahu = newClient({
      serverUrl: broker.url,
      username: '',
      password: '',
      groupId: 'tahu',
      edgeNode: 'press-node',
      clientId: 'tahu-press-node',
      version: 'spBv1.0',
      publishDeath: true,
    });
    const birth = () => {
      const ts = Date.now();
      tahu.publishNodeBirth({ timestamp: ts, metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: false }] });
      tahu.publishDeviceBirth('press-t', {
        timestamp: ts,
        metrics: [
          { name: 'Speed', type: 'Int32', value: device.Speed },
          { name: 'Setpoint', type: 'Float', value: device.Setpoint },
        ],
      });
    };
    tahu.on('birth', birth);
    tahu.on('ncmd', (p) => {
      if (p.metrics?.some((m) => m.name === 'Node Control/Rebirth' && m.value === true)) birth();
    });
    tahu.on('dcmd', (dev, p) => {
      dcmds.push(p);
      for (const m of p.metrics ?? []) if (dev === 'press-t' && m.name === 'Setpoint') device.Setpoint = m.value as number;
      tahu.publishDeviceData('press-t', { timestamp: Date.now(), metrics: [{ name: 'Setpoint', type: 'Float', value: device.Setpoint }] });
    });
    await waitFor('Tahu births on the broker', () => msgs.some((m) => m.group === 'tahu' && m.type === 'DBIRTH'));

    const cfg = parseConfigText(`
gateway: { id: edge-gw, site: yk, statusInterval: 1s, logLevel: silent }
storage: { path: ${dir.path}/data }
devices:
  - id: press-t
    protocol: mqtt
    format: sparkplugb
    connection: { url: "${broker.url}", clientId: gw-south }
    sparkplug: { groupId: tahu, edgeNodeId: press-node, deviceId: press-t }
    tags:
      - { name: speed, role: parameter, metric: Speed }
      - { name: setpoint, role: parameter, metric: Setpoint, type: float, writable: true }
north:
  - name: spb
    system: platform
    url: ${broker.url}
    format: sparkplugb
    sparkplug: { groupId: yk-plant }
    allowWrites: true
`);
    rt = await GatewayRuntime.start({ config: cfg, log: pino({ level: 'silent' }) });
    await waitFor('our edge node born', () => msgs.some((m) => m.group === 'yk-plant' && m.type === 'DBIRTH'));
    ticker = setInterval(() => {
      device.Speed += 7;
      const ts = Date.now();
      sent.push({ ts, speed: device.Speed });
      tahu.publishDeviceData('press-t', { timestamp: ts, metrics: [{ name: 'Speed', type: 'Int32', value: device.Speed, timestamp: ts }] });
    }, 40);
  }, 60_000);

  afterAll(async () => {
    clearInterval(ticker);
    await rt?.stop();
    tahu?.stop();
    await host?.endAsync();
    await broker?.close();
    dir.cleanup();
  });

  const ours = () => msgs.filter((m) => m.group === 'yk-plant');

  it("Tahu's values reach the host through our edge node; the same host checks hold for both edge nodes", async () => {
    await waitFor("50 of Tahu's values through our edge node", () => ours().filter((m) => m.type === 'DDATA').length >= 50, { timeoutMs: 60_000 });
    clearInterval(ticker);
    const first = sent.length;
    // our DDATA names metrics by alias; the DBIRTH maps them (the type learnt from Tahu's Int32 values: Int64)
    const births = ours().filter((m) => m.type === 'DBIRTH' && m.device === 'press-t');
    const birth = births[births.length - 1]!;
    const tagOf = new Map(birth.metrics.map((x) => [num(x.alias), x.name!]));
    expect(Object.fromEntries(birth.metrics.map((x) => [x.name, x.type]))).toMatchObject({ speed: 'Int64', setpoint: 'Double' });
    const got = new Map<number, number>();
    for (const m of ours().filter((x) => x.type === 'DDATA'))
      for (const x of m.metrics) if (tagOf.get(num(x.alias)) === 'speed') got.set(num(x.timestamp), num(value(x)));
    await waitFor('every value sent reached the host', () => {
      for (const m of ours().filter((x) => x.type === 'DDATA'))
        for (const x of m.metrics) if (tagOf.get(num(x.alias)) === 'speed') got.set(num(x.timestamp), num(value(x)));
      return sent.slice(0, first).every((s) => got.get(s.ts) === s.speed);
    });
    expect(edgeNodeProblems(msgs.filter((m) => m.group === 'tahu' && m.node === 'press-node'))).toEqual([]);
    expect(edgeNodeProblems(ours())).toEqual([]);
  }, 90_000);

  it("a DCMD to our edge node reaches Tahu's device as a DCMD it decodes, and the new value comes back", async () => {
    const birth = ours()
      .filter((m) => m.type === 'DBIRTH' && m.device === 'press-t')
      .at(-1)!;
    const alias = num(birth.metrics.find((x) => x.name === 'setpoint')!.alias);
    await host.publishAsync(
      'spBv1.0/yk-plant/DCMD/edge-gw/press-t',
      Buffer.from(codec.encodePayload({ timestamp: Date.now(), metrics: [{ alias, type: 'Double', value: 55.5 }] } as never)),
      { qos: 1 },
    );
    await waitFor("the DCMD at Tahu's edge node", () => dcmds.length === 1);
    expect(dcmds[0]!.metrics).toEqual([expect.objectContaining({ name: 'Setpoint', type: 'Float', value: 55.5 })]);
    expect(device.Setpoint).toBe(55.5);
    await waitFor('55.5 back through our edge node', () =>
      ours().some((m) => m.type === 'DDATA' && m.metrics.some((x) => num(x.alias) === alias && value(x) === 55.5)),
    );
    expect(rt.store.audits({ action: 'write' }).map((a) => [a.actor, a.system, a.route, a.device, a.tag, a.value, a.result])).toEqual([
      ['spb', 'platform', 'MQTT DCMD', 'press-t', 'setpoint', '55.5', 'ok'],
    ]);
  }, 60_000);
});
