/**
 * The plant of `npm start` / `fgw demo` (gateway/cli/demo.ts): a simulated thermos-cup line (the
 * route of config/project.yaml: 下料, 冲压, 金工, 焊接, 抛光, 包装) on loopback, collected by a real
 * gateway into the embedded store.
 *
 *   saw-05       cutting    Modbus TCP     drops out now and then (its simulator goes silent)
 *   press-01     stamping   Modbus TCP     the canonical press tags (uint32 ABCD, float32 CDAB, bits)
 *   lathe-03     machining  OPC UA         SignAndEncrypt + Basic256Sha256, user gateway/secret
 *   welder-02    welding    Modbus TCP     unit 7, string program name
 *   polisher-04  polishing  MQTT (JSON)    in-process broker (aedes) unless MQTT_URL points to one
 *   scale-06     packing    —              no interface: exempt in the project register
 *
 * Each machine is a state machine (gateway/demo/plant.ts) stepped every 500 ms; the simulators
 * serve what it says. INFLUX_URL forwards to InfluxDB as well.
 */
import { createServer, type Server } from 'node:net';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModbusSimulator } from '../adapters/modbus/simulator.js';
import { MqttSimulator, telemetryMessages } from '../adapters/mqtt/simulator.js';
import { freePort } from '../config/net.js';
import { loadConfig } from './config.js';
import type { Io } from './cli/io.js';
import { newMachine, seeded, step, STATE_CODES, type Machine, type MachineSpec, type MachineState } from './demo/plant.js';
import { runGateway } from './serve.js';

/** the package root (holding config/), whether running from dist/ or from the sources */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

const SPECS: Record<string, MachineSpec> = {
  'saw-05': {
    rate: 20,
    params: { blade_load: { nominal: 62, noise: 3, idle: 0 } },
    meanDwell: { running: 90, idle: 15, fault: 20, off: 30 },
    faultChance: 0.1,
  },
  'press-01': {
    rate: 40,
    params: { tonnage: { nominal: 812, noise: 6, idle: 0 }, oil_temp: { nominal: 48.5, noise: 0.4, idle: 35 } },
    meanDwell: { running: 120, idle: 20, fault: 25, off: 60 },
    faultChance: 0.15,
  },
  'lathe-03': {
    rate: 6,
    params: { spindle_speed: { nominal: 2400, noise: 20, idle: 0 } },
    meanDwell: { running: 150, idle: 20, fault: 30, off: 60 },
    faultChance: 0.1,
  },
  'welder-02': { rate: 12, params: {}, meanDwell: { running: 100, idle: 25, fault: 30, off: 60 }, faultChance: 0.1 },
  'polisher-04': {
    rate: 30,
    params: { motor_current: { nominal: 4.2, noise: 0.15, idle: 0.3 } },
    meanDwell: { running: 110, idle: 20, fault: 20, off: 60 },
    faultChance: 0.1,
  },
};

/** Tokens of the demo's consumer systems (the demo listens on loopback only). */
export const DEMO_TOKENS = { mes: 'demo-mes-token', platform: 'demo-platform-token', dashboard: 'demo-dashboard-token' };

/** saw-05 goes silent for `dropFor` out of every `dropEvery` (the demo's intermittent device). */
const DROP = { every: 45_000, for: 15_000, firstAfter: 20_000 };

async function apiPort(wanted: number): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', () => void freePort().then(res, rej));
    s.listen(wanted, '127.0.0.1', () => s.close(() => res(wanted)));
  });
}

export interface DemoPorts {
  modbus: number;
  opcua: number;
  mqttUrl: string;
  api: number;
}

export function demoConfigYaml(dir: string, p: DemoPorts, influxUrl?: string, projectFile?: string): string {
  const influx = influxUrl
    ? `influx:\n  url: ${influxUrl}\n  database: \${INFLUX_DB:-factory}\n  username: \${INFLUX_USER:-}\n  password: \${INFLUX_PASSWORD:-}\n`
    : '# influx: set INFLUX_URL before `npm start` to forward to InfluxDB as well\n';
  const mb = (unit: number) => `{ host: 127.0.0.1, port: ${p.modbus}, unitId: ${unit}, timeout: 500ms }`;
  return `# Written by \`fgw demo\`: the simulated thermos-cup line. Same keys as config/gateway.yaml.
gateway: { id: demo-line, site: yk-cup-plant, logLevel: warn }
storage: { path: ${dir}/store, maxSize: 512MB, retention: 7d }
${influx}http:
  listen: 127.0.0.1:${p.api}
  projects: [${projectFile ?? ''}]
  tokens:
    # the demo's consumer systems: a simulated MES reads the latest values, the platform sends
    # set-points (both audited: the verifier's evidence of data use and platform execution)
    - { name: mes, system: MES, token: \${MES_TOKEN:-${DEMO_TOKENS.mes}}, scopes: [read] }
    - { name: platform, system: platform, token: \${OPERATOR_TOKEN:-${DEMO_TOKENS.platform}}, scopes: [read, write] }
    - { name: dashboard, system: dashboard, token: \${DASHBOARD_TOKEN:-${DEMO_TOKENS.dashboard}}, scopes: [read] }
devices:
  - id: saw-05
    name: 带锯床 5 号
    line: line-01
    process: cutting
    protocol: modbus
    connection: ${mb(5)}
    interval: 1s
    tags:
      - { name: state, role: state, area: holding, address: 0, type: uint16 }
      - { name: cuts, role: counter, area: holding, address: 1, type: uint32 }
      - { name: blade_load, role: parameter, area: holding, address: 3, type: float32, unit: "%" }
  - id: press-01
    name: 冲压机 1 号
    line: line-01
    process: stamping
    protocol: modbus
    connection: ${mb(1)}
    interval: 1s
    tags:
      - { name: state, role: state, area: holding, address: 0, type: uint16 }
      - { name: strokes, role: counter, area: holding, address: 1, type: uint32, byteOrder: ABCD }
      - { name: tonnage, role: parameter, area: holding, address: 3, type: float32, byteOrder: CDAB, unit: kN }
      - { name: oil_temp, role: parameter, area: input, address: 0, type: int16, scale: 0.1, unit: °C }
      - { name: door_open, role: alarm, area: discrete, address: 0, type: bool }
      - { name: lube_ok, role: quality, area: holding, address: 5, type: bool, bit: 3 }
      - { name: stroke_rate_set, role: parameter, area: holding, address: 10, type: uint16, writable: true, min: 0, max: 60, unit: /min }
  - id: lathe-03
    name: 数控车床 3 号
    line: line-01
    process: machining
    protocol: opcua
    connection:
      endpoint: opc.tcp://127.0.0.1:${p.opcua}
      securityMode: SignAndEncrypt
      securityPolicy: Basic256Sha256
      auth: { type: username, username: gateway, password: \${LATHE_PASSWORD:-secret} }
      trustUnknownServers: true
    interval: 1s
    tags:
      - { name: state, role: state, nodeId: "ns=1;s=Lathe3.State" }
      - { name: parts, role: counter, nodeId: "ns=1;s=Lathe3.PartCount" }
      - { name: spindle_speed, role: parameter, nodeId: "ns=1;s=Lathe3.SpindleSpeed", deadband: { type: absolute, value: 5 } }
      - { name: program, role: parameter, nodeId: "ns=1;s=Lathe3.Program", mode: poll }
  - id: welder-02
    name: 焊接机器人 2 号
    line: line-01
    process: welding
    protocol: modbus
    connection: ${mb(7)}
    interval: 2s
    tags:
      - { name: state, role: state, area: holding, address: 100, type: uint16 }
      - { name: welds, role: counter, area: holding, address: 101, type: uint32, byteOrder: CDAB }
      - { name: program, role: parameter, area: holding, address: 110, type: string, length: 8 }
  - id: polisher-04
    name: 抛光机 4 号
    line: line-01
    process: polishing
    protocol: mqtt
    connection: { url: "${p.mqttUrl}", clientId: gw-demo-line, qos: 1, protocolVersion: 4 }
    interval: 2s
    tags:
      - { name: state, role: state, topic: plant/line-01/polisher-04/status, path: state, type: string }
      - { name: pieces, role: counter, topic: plant/line-01/polisher-04/telemetry, path: counters.pieces, timestampPath: ts, type: integer }
      - { name: motor_current, role: parameter, topic: plant/line-01/polisher-04/telemetry, path: motor.current, unit: A, timestampPath: ts, type: float }
`;
}

/** The demo's policy: the shipped one with short slots, so a few minutes of data can be judged. */
export function demoPolicy(): string {
  const shipped = readFileSync(join(repoRoot(), 'config/policy/yongkang-2019.yaml'), 'utf8');
  const changed = shipped.replace(/^(\s*slotMin:\s*)\S+/m, '$110s').replace(/^(\s*minWindow:\s*)\S+/m, '$15m');
  return `# DEMO ONLY: config/policy/yongkang-2019.yaml with slotMin 10s and minWindow 5m, so that the\n# demo's few minutes of data can be judged. Never use it for a real review.\n${changed}`;
}

export interface DemoPlant {
  dir: string;
  /** the simulated devices' servers, for tests that make a machine fail */
  simulators: { modbus: ModbusSimulator };
  configFile: string;
  projectFile: string;
  policyFile: string;
  apiUrl?: string;
  stop(): Promise<void>;
  untilStopped(forMs?: number): Promise<number>;
}

export async function startDemo(opts: { dir: string; apiPort?: number; seed?: number; io: Io; quiet?: boolean }): Promise<DemoPlant> {
  const dir = resolve(opts.dir);
  mkdirSync(dir, { recursive: true });
  const rand = seeded(opts.seed ?? 2026);
  const stops: Array<() => Promise<void>> = [];

  // Modbus: one TCP server with units 1 (press), 5 (saw) and 7 (welder)
  const modbus = new ModbusSimulator([1, 5, 7]);
  const modbusPort = await freePort();
  await modbus.startTcp(modbusPort);
  stops.push(() => modbus.stop());

  // OPC UA lathe (loaded only here: node-opcua is heavy)
  const { OpcuaSimulator } = await import('../adapters/opcua/simulator.js');
  const opcua = await OpcuaSimulator.start({ pkiDir: join(dir, 'opcua-sim-pki') });
  stops.push(() => opcua.stop());

  // MQTT: the configured broker, or an in-process one (MQTT 3.1.1)
  let mqttUrl = process.env.MQTT_URL;
  if (!mqttUrl) {
    const { Aedes } = await import('aedes');
    const broker = await Aedes.createBroker();
    const server: Server = createServer(broker.handle as never);
    const port = await freePort();
    await new Promise<void>((res) => server.listen(port, '127.0.0.1', res));
    mqttUrl = `mqtt://127.0.0.1:${port}`;
    stops.push(
      () =>
        new Promise<void>((res) => {
          server.close(() => broker.close(() => res()));
          for (const c of Object.values((broker as unknown as { clients: Record<string, { close(): void }> }).clients)) c.close();
        }),
    );
  }

  const machines = new Map<string, Machine>(Object.entries(SPECS).map(([id, spec]) => [id, newMachine(spec, rand)]));
  const mqttState: Record<MachineState, string> = { off: 'off', idle: 'idle', running: 'running', fault: 'fault' };
  const polisher = new MqttSimulator({
    url: mqttUrl,
    clientId: 'demo-polisher-04',
    protocolVersion: 4,
    intervalMs: 1000,
    messages: telemetryMessages('plant/line-01/polisher-04', () => {
      const m = machines.get('polisher-04')!;
      return { state: mqttState[m.state], pieces: m.count, motor: { current: Math.round(m.params.motor_current! * 100) / 100 } };
    }),
  });
  await polisher.start();
  stops.push(() => polisher.stop());

  let removeDrop: (() => void) | undefined;
  const started = Date.now();
  const serve = () => {
    const saw = machines.get('saw-05')!;
    modbus.set(5, 'holding', 0, 'uint16', STATE_CODES[saw.state]);
    modbus.set(5, 'holding', 1, 'uint32', saw.count);
    modbus.set(5, 'holding', 3, 'float32', saw.params.blade_load!);
    const press = machines.get('press-01')!;
    modbus.set(1, 'holding', 0, 'uint16', STATE_CODES[press.state]);
    modbus.set(1, 'holding', 1, 'uint32', press.count, { byteOrder: 'ABCD' });
    modbus.set(1, 'holding', 3, 'float32', press.params.tonnage!, { byteOrder: 'CDAB' });
    modbus.set(1, 'input', 0, 'int16', Math.round(press.params.oil_temp! * 10));
    modbus.setBits(1, 'discrete', 0, [press.state === 'fault']);
    modbus.setRegisters(1, 'holding', 5, [press.state === 'off' ? 0 : 0b1000]);
    const welder = machines.get('welder-02')!;
    modbus.set(7, 'holding', 100, 'uint16', STATE_CODES[welder.state]);
    modbus.set(7, 'holding', 101, 'uint32', welder.count, { byteOrder: 'CDAB' });
    modbus.set(7, 'holding', 110, 'string', 'WLD-P07', { length: 8 });
    const lathe = machines.get('lathe-03')!;
    opcua.set('Lathe3.State', STATE_CODES[lathe.state]);
    opcua.set('Lathe3.PartCount', lathe.count);
    opcua.set('Lathe3.SpindleSpeed', Math.round(lathe.params.spindle_speed! * 10) / 10);
    opcua.set('Lathe3.Program', 'O1000-CUP-LID');
    // the intermittent device
    const t = Date.now() - started - DROP.firstAfter;
    const dropping = t >= 0 && t % DROP.every < DROP.for;
    if (dropping && !removeDrop) removeDrop = modbus.fault({ unit: 5, kind: 'silent' });
    if (!dropping && removeDrop) {
      removeDrop();
      removeDrop = undefined;
    }
  };
  serve();
  const ticker = setInterval(() => {
    for (const [id, m] of machines) machines.set(id, step(SPECS[id]!, m, 0.5, rand));
    serve();
  }, 500);
  stops.push(async () => clearInterval(ticker));

  // the project under review and the demo policy
  const policyFile = join(dir, 'policy-demo.yaml');
  writeFileSync(policyFile, demoPolicy());
  const shippedProject = readFileSync(join(repoRoot(), 'config/project.yaml'), 'utf8');
  const projectFile = join(dir, 'project.yaml');
  // DEMO: the project period runs on past today, so the pilots view judges the demo's own data
  const periodEnd = new Date(Date.now() + 365 * 86_400_000).toISOString().slice(0, 10);
  writeFileSync(
    projectFile,
    shippedProject
      .replace(/^policy:.*$/m, `policy: ./policy-demo.yaml   # DEMO: short slots`)
      .replace(/^(\s*period: \{ from: [0-9-]+, to: )[0-9-]+( \})/m, `$1${periodEnd}$2`),
  );
  for (const f of ['erp-orders.csv', 'mes-orders.csv']) writeFileSync(join(dir, f), readFileSync(join(repoRoot(), 'config', f)));

  const api = await apiPort(opts.apiPort ?? 8080);
  const configFile = join(dir, 'gateway.yaml');
  writeFileSync(configFile, demoConfigYaml(dir, { modbus: modbusPort, opcua: opcua.port, mqttUrl, api }, process.env.INFLUX_URL, projectFile));
  const loaded = loadConfig(configFile);
  const gw = await runGateway({ config: loaded.config, configPath: loaded.path, io: opts.io, quiet: true });
  // the window to judge starts once the devices are up (an OPC UA secure session takes seconds)
  const judgeFrom = new Date(Date.now() + 20_000).toISOString().replace(/\.\d+Z$/, 'Z');

  // the consumer systems: MES reads every 15 s, the platform sends a set-point every 30 s
  let setpoint = 40;
  const consumers = setInterval(() => {
    if (!gw.url) return;
    const h = (t: string) => ({ authorization: `Bearer ${t}`, 'content-type': 'application/json' });
    void fetch(`${gw.url}/api/latest`, { headers: h(process.env.MES_TOKEN || DEMO_TOKENS.mes) }).then(
      (r) => r.arrayBuffer(),
      () => undefined,
    );
    setpoint = setpoint === 40 ? 42 : 40;
    if (Math.floor(Date.now() / 15_000) % 2 === 0) {
      void fetch(`${gw.url}/api/devices/press-01/tags/stroke_rate_set`, {
        method: 'POST',
        headers: h(process.env.OPERATOR_TOKEN || DEMO_TOKENS.platform),
        body: JSON.stringify({ value: setpoint }),
      }).then(
        (r) => r.arrayBuffer(),
        () => undefined,
      );
    }
  }, 15_000);
  stops.push(async () => clearInterval(consumers));

  const stopAll = async () => {
    await gw.stop();
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  if (!opts.quiet) {
    const rel = (f: string) => relative(process.cwd(), f) || f;
    opts.io.out(`
fgw demo — a simulated thermos-cup line (保温杯生产线), collected into the embedded store

  devices    saw-05 (Modbus, drops out now and then), press-01 (Modbus), lathe-03 (OPC UA, SignAndEncrypt),
             welder-02 (Modbus), polisher-04 (MQTT JSON${process.env.MQTT_URL ? `, ${process.env.MQTT_URL}` : ', in-process broker'})
  store      ${rel(join(dir, 'store'))}  (SQLite, WAL)${process.env.INFLUX_URL ? `\n  InfluxDB   ${process.env.INFLUX_URL}` : ''}
  config     ${rel(configFile)}
  dashboard  ${gw.url ?? '(API not started)'}/   (read token: ${process.env.DASHBOARD_TOKEN || DEMO_TOKENS.dashboard})

Look at the data:
  npx fgw query --config ${rel(configFile)} --device press-01 --tag tonnage --from=-5m
Preliminary verification of this run so far (after a few minutes):
  npx fgw verify --config ${rel(configFile)} --project ${rel(projectFile)} --from ${judgeFrom} --to now --preliminary --html ${rel(join(dir, 'report.html'))} --json ${rel(join(dir, 'report.json'))}

Ctrl-C stops the demo.`);
  }
  return {
    dir,
    simulators: { modbus },
    configFile,
    projectFile,
    policyFile,
    apiUrl: gw.url,
    stop: stopAll,
    untilStopped: async (forMs) => {
      const code = await gw.untilStopped(forMs);
      for (const s of stops.reverse()) await s().catch(() => undefined);
      return code;
    },
  };
}
