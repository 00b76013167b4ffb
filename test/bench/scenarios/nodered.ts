/**
 * Side by side with Node-RED (`npm run bench -- nodered [--duration 60s] [--pairs 3] [--workloads a,b,c]`):
 * the same three workloads through fgw and through the flow a plant engineer would build in
 * Node-RED 4.1 with node-red-contrib-modbus 5.23.3 and node-red-contrib-influxdb, legs alternating
 * (pair 1 fgw first, pair 2 Node-RED first, ...), same simulators, a fresh InfluxDB database per leg.
 *
 *   a. 100 Modbus TCP devices × 100 holding registers every 100 ms (100,000 values/s offered)
 *   b. the same every 1 s (10,000 values/s)
 *   c. 10,000 QoS 1 JSON messages/s of 5 fields through one Mosquitto (50,000 values/s)
 *
 * Node-RED is never a dependency of the project: it is installed on demand with npm into a scratch
 * folder outside the repository (FGW_BENCH_NODE_RED_DIR, else $XDG_CACHE_HOME/fgw-bench/node-red,
 * else ~/.cache/fgw-bench/node-red) and reused while the pinned versions are there. That folder is
 * also Node-RED's userDir (it loads the contrib nodes from its node_modules); flows and settings
 * are generated per leg (no editor auth, a free loopback port).
 *
 * Per leg: landed values/s (values in InfluxDB with a timestamp in the steady window), keep-up
 * (landed / offered), polls answered per second at the simulators (c: messages published per
 * second), CPU per value landed (utime + stime of the gateway's process tree, not InfluxDB's), mean
 * and peak RSS of that tree. The result is the median over the pairs of fgw / Node-RED per figure.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { freePort } from '../../helpers/net.js';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.js';
import { startProcess, type Proc } from '../../helpers/proc.js';
import { nodeArgs, windowMs, type BenchContext, type Scenario } from '../context.js';
import {
  BENCH_DIST,
  ROOT,
  baseConfig,
  countValues,
  createDatabase,
  dropDatabase,
  metric,
  readProc,
  round,
  simulatorReads,
  sleep,
  spawnFgw,
  waitForValues,
  writeConfig,
  type Metric,
} from '../lib.js';

const NODE_RED = '4.1';
const CONTRIB_MODBUS = '5.23.3';
const CONTRIB_INFLUXDB = '0.7.0';
const REGISTERS = 100;
const MQTT_RATE = 10_000;
const MQTT_FIELDS = 5;
const TOPIC = 'bench/line-1/press-1/telemetry';

// ------------------------------------------------------------------------------ installation

export function noderedDir(): string {
  return resolvePath(process.env.FGW_BENCH_NODE_RED_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'fgw-bench', 'node-red'));
}

function installedVersion(dir: string, pkg: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(dir, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}

function installed(dir: string): Record<string, string | undefined> {
  return {
    'node-red': installedVersion(dir, 'node-red'),
    'node-red-contrib-modbus': installedVersion(dir, 'node-red-contrib-modbus'),
    'node-red-contrib-influxdb': installedVersion(dir, 'node-red-contrib-influxdb'),
  };
}

const pinned = (v: Record<string, string | undefined>) =>
  v['node-red']?.startsWith(`${NODE_RED}.`) === true && v['node-red-contrib-modbus'] === CONTRIB_MODBUS && v['node-red-contrib-influxdb'] === CONTRIB_INFLUXDB;

/** Node-RED and the two contrib packages in the scratch folder: installed with npm unless already there. */
function ensureNodeRed(log: (m: string) => void): { dir: string; versions: Record<string, string | undefined> } {
  const dir = noderedDir();
  let v = installed(dir);
  if (pinned(v)) return { dir, versions: v };
  mkdirSync(dir, { recursive: true });
  const specs = [`node-red@${NODE_RED}`, `node-red-contrib-modbus@${CONTRIB_MODBUS}`, `node-red-contrib-influxdb@${CONTRIB_INFLUXDB}`];
  log(`nodered: npm install --prefix ${dir} ${specs.join(' ')}`);
  try {
    execFileSync('npm', ['install', '--prefix', dir, '--save-exact', '--no-audit', '--no-fund', ...specs], {
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
      timeout: 600_000,
    });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`nodered: npm install of ${specs.join(' ')} into ${dir} failed: ${(err.stderr || err.stdout || err.message).slice(-2000)}`);
  }
  v = installed(dir);
  if (!pinned(v))
    throw new Error(
      `nodered: after npm install ${dir} holds ${JSON.stringify(v)}, expected node-red ${NODE_RED}.x, node-red-contrib-modbus ${CONTRIB_MODBUS}, node-red-contrib-influxdb ${CONTRIB_INFLUXDB}`,
    );
  return { dir, versions: v };
}

// ------------------------------------------------------------------------------ process tree

interface TreeSample {
  at: number;
  cpuS: number;
  rssMB: number;
}

/** The process and its descendants (children files where the kernel has them, else a /proc scan). */
function tree(root: number): number[] {
  const out = [root];
  const parents = new Map<number, number[]>();
  let scanned = false;
  for (let i = 0; i < out.length; i++) {
    const pid = out[i]!;
    let kids: number[] | undefined;
    try {
      kids = readdirSync(`/proc/${pid}/task`).flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
    } catch {
      if (!scanned) {
        scanned = true;
        for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
          try {
            const st = readFileSync(`/proc/${p}/stat`, 'utf8');
            const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
            parents.set(ppid, [...(parents.get(ppid) ?? []), Number(p)]);
          } catch {
            /* gone */
          }
        }
      }
      kids = parents.get(pid) ?? [];
    }
    out.push(...kids.filter((k) => !out.includes(k)));
  }
  return out;
}

/** Samples CPU seconds and RSS of a process tree every 250 ms. */
class TreeSampler {
  readonly samples: TreeSample[] = [];
  private readonly marks = new Map<string, TreeSample>();
  private readonly timer: NodeJS.Timeout;
  constructor(readonly pid: number) {
    this.timer = setInterval(() => this.take(), 250);
    this.take();
  }
  private take(): TreeSample | undefined {
    let cpuS = 0;
    let rssMB = 0;
    let any = false;
    for (const p of tree(this.pid)) {
      const s = readProc(p);
      if (!s) continue;
      any = true;
      cpuS += s.cpuS;
      rssMB += s.rssMB;
    }
    if (!any) return undefined;
    const s = { at: Date.now(), cpuS, rssMB };
    this.samples.push(s);
    return s;
  }
  mark(name: string): TreeSample {
    const s = this.take();
    if (!s) throw new Error(`bench: process ${this.pid} is gone`);
    this.marks.set(name, s);
    return s;
  }
  window(from: string, to: string): { cpuS: number; wallS: number; peakRssMB: number; meanRssMB: number } {
    const a = this.marks.get(from)!;
    const b = this.marks.get(to)!;
    const inside = this.samples.filter((s) => s.at >= a.at && s.at <= b.at);
    return {
      cpuS: b.cpuS - a.cpuS,
      wallS: (b.at - a.at) / 1000,
      peakRssMB: Math.max(...inside.map((s) => s.rssMB)),
      meanRssMB: inside.reduce((x, s) => x + s.rssMB, 0) / Math.max(1, inside.length),
    };
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

// ------------------------------------------------------------------------------ simulators

interface Servers {
  proc: Proc;
  hosts: string[];
  port: number;
  reads(): Promise<number>;
  stop(): Promise<void>;
}

/** Device i on 127.0.0.(i+1), unit id i+1, all on one port; several tries in case the port is taken on one address. */
async function startServers(count: number): Promise<Servers> {
  const hosts = Array.from({ length: count }, (_, i) => `127.0.0.${i + 1}`);
  const units = hosts.map((_, i) => i + 1);
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const proc = startProcess(
      process.execPath,
      [
        join(BENCH_DIST, 'modbus-servers.js'),
        '--ports',
        String(port),
        '--hosts',
        hosts.join(','),
        '--units',
        units.join(','),
        '--registers',
        String(REGISTERS),
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] },
    );
    try {
      await proc.waitForOutput(/BENCH_READY/, 60_000);
    } catch (e) {
      lastError = e;
      await proc.kill('SIGKILL');
      continue;
    }
    return {
      proc,
      hosts,
      port,
      reads: simulatorReads(proc),
      stop: () => proc.kill('SIGTERM'),
    };
  }
  throw new Error(`nodered: the Modbus simulators did not start: ${String((lastError as Error)?.message ?? lastError)}`);
}

// ------------------------------------------------------------------------------ the two gateways

interface Gateway {
  sampler: TreeSampler;
  /** stops it; Node-RED: the number of [error] lines it logged (fgw: null) */
  stop(): Promise<number | null>;
}

type Workload = 'a' | 'b' | 'c';
const WORKLOADS: Record<Workload, { title: string; intervalMs?: number }> = {
  a: { title: 'a (100 × 100 registers every 100 ms)', intervalMs: 100 },
  b: { title: 'b (100 × 100 registers every 1 s)', intervalMs: 1000 },
  c: { title: `c (${MQTT_RATE.toLocaleString('en-US')} QoS 1 JSON messages/s × ${MQTT_FIELDS} fields)` },
};

interface LegSetup {
  ctx: BenchContext;
  db: string;
  workload: Workload;
  servers?: Servers;
  broker?: Mosquitto;
  devices: number;
  forMs: number;
}

const fgwClientId = (s: LegSetup) => `bench-gw-${s.db}`;

function fgwDevices(s: LegSetup): unknown[] {
  if (s.workload === 'c') {
    return [
      {
        id: 'press-1',
        protocol: 'mqtt',
        // a clientId per leg: fgw's session is persistent (clean: false), and under one id the broker
        // would queue the other legs' messages for it and hand them to the next fgw leg
        connection: { url: s.broker!.url, clientId: fgwClientId(s), qos: 1 },
        tags: Array.from({ length: MQTT_FIELDS }, (_, k) => ({ name: `f${k}`, role: 'parameter', topic: TOPIC, path: `f${k}`, type: 'float' })),
      },
    ];
  }
  return s.servers!.hosts.map((host, i) => ({
    id: `plc-${i}`,
    line: 'bench-line',
    process: 'bench',
    protocol: 'modbus',
    connection: { host, port: s.servers!.port, unitId: i + 1, timeout: '1s' },
    interval: `${WORKLOADS[s.workload].intervalMs}ms`,
    tags: Array.from({ length: REGISTERS }, (_, r) => ({ name: `r${r}`, role: 'parameter', area: 'holding', address: r, type: 'uint16' })),
  }));
}

/** fgw with its documented defaults (batchSize 5000, flushInterval 1s): `fgw run`. */
async function startFgw(s: LegSetup): Promise<Gateway> {
  const dir = join(s.ctx.dir, s.db);
  mkdirSync(dir, { recursive: true });
  const cfg = writeConfig(s.ctx.dir, s.db, baseConfig({ dir, influxUrl: s.ctx.influx.url, database: s.db, devices: fgwDevices(s) }));
  const gw = spawnFgw(cfg, s.forMs + 120_000, nodeArgs(s.ctx, s.db));
  gw.sampler.stop(); // the tree sampler below measures
  const sampler = new TreeSampler(gw.pid);
  if (s.workload === 'c') await waitBroker(s.broker!, fgwClientId(s), gw.proc);
  return {
    sampler,
    stop: async () => {
      sampler.stop();
      await gw.stop();
      return null;
    },
  };
}

async function waitBroker(broker: Mosquitto, clientId: string, proc: Proc): Promise<void> {
  const t = Date.now();
  while (!new RegExp(`as ${clientId}`).test(broker.output())) {
    if (proc.child.exitCode !== null) throw new Error(`nodered: the gateway exited before connecting to Mosquitto:\n${proc.output().slice(-3000)}`);
    if (Date.now() - t > 60_000) throw new Error(`nodered: ${clientId} did not connect to Mosquitto within 60 s:\n${proc.output().slice(-3000)}`);
    await sleep(50);
  }
  await sleep(1000); // the subscription follows the CONNACK
}

/** The flow a plant engineer would build: modbus-read per device → function → influxdb batch; mqtt in → json → influxdb out. */
function flows(s: LegSetup): unknown[] {
  const url = new URL(s.ctx.influx.url);
  const nodes: unknown[] = [
    { id: 'tab', type: 'tab', label: 'bench', disabled: false },
    {
      id: 'influx',
      type: 'influxdb',
      hostname: url.hostname,
      port: Number(url.port),
      protocol: 'http',
      database: s.db,
      name: 'bench',
      usetls: false,
      influxdbVersion: '1.x',
      timeout: 10,
      rejectUnauthorized: false,
    },
  ];
  if (s.workload === 'c') {
    nodes.push(
      {
        id: 'broker',
        type: 'mqtt-broker',
        name: 'mosquitto',
        broker: '127.0.0.1',
        port: String(s.broker!.port),
        clientid: 'bench-nodered',
        autoConnect: true,
        usetls: false,
        protocolVersion: '4',
        keepalive: '60',
        cleansession: true,
        autoUnsubscribe: true,
        birthTopic: '',
        closeTopic: '',
        willTopic: '',
      },
      {
        id: 'mqttin',
        type: 'mqtt in',
        z: 'tab',
        name: '',
        topic: TOPIC,
        qos: '1',
        datatype: 'utf8',
        broker: 'broker',
        nl: false,
        rap: true,
        rh: 0,
        inputs: 0,
        x: 100,
        y: 100,
        wires: [['json']],
      },
      { id: 'json', type: 'json', z: 'tab', name: '', property: 'payload', action: 'obj', pretty: false, x: 300, y: 100, wires: [['out']] },
      {
        id: 'out',
        type: 'influxdb out',
        z: 'tab',
        influxdb: 'influx',
        name: '',
        measurement: 'equipment',
        precision: 'ms',
        retentionPolicy: '',
        database: s.db,
        x: 500,
        y: 100,
        wires: [],
      },
    );
    return nodes;
  }
  const map = [
    'const v = msg.payload;',
    'const fields = {};',
    "for (let r = 0; r < v.length; r++) fields['r' + r] = v[r];",
    "msg.payload = [{ measurement: 'equipment', tags: { device: msg.topic }, fields, timestamp: new Date() }];",
    'return msg;',
  ].join('\n');
  nodes.push(
    {
      id: 'map',
      type: 'function',
      z: 'tab',
      name: 'registers → fields',
      func: map,
      outputs: 1,
      timeout: 0,
      noerr: 0,
      initialize: '',
      finalize: '',
      libs: [],
      x: 400,
      y: 100,
      wires: [['batch']],
    },
    {
      id: 'batch',
      type: 'influxdb batch',
      z: 'tab',
      influxdb: 'influx',
      precision: 'ms',
      retentionPolicy: '',
      name: '',
      database: s.db,
      x: 600,
      y: 100,
      wires: [],
    },
  );
  s.servers!.hosts.forEach((host, i) => {
    nodes.push(
      {
        id: `client-${i}`,
        type: 'modbus-client',
        name: `plc-${i}`,
        clienttype: 'tcp',
        bufferCommands: true,
        stateLogEnabled: false,
        queueLogEnabled: false,
        failureLogEnabled: true,
        tcpHost: host,
        tcpPort: String(s.servers!.port),
        tcpType: 'DEFAULT',
        serialPort: '/dev/ttyUSB',
        serialType: 'RTU-BUFFERD',
        serialBaudrate: '9600',
        serialDatabits: '8',
        serialStopbits: '1',
        serialParity: 'none',
        serialConnectionDelay: '100',
        serialAsciiResponseStartDelimiter: '0x3A',
        unit_id: String(i + 1),
        commandDelay: '1',
        clientTimeout: '1000',
        reconnectOnTimeout: true,
        reconnectTimeout: '2000',
        parallelUnitIdsAllowed: true,
      },
      {
        id: `read-${i}`,
        type: 'modbus-read',
        z: 'tab',
        name: `plc-${i}`,
        topic: `plc-${i}`,
        showStatusActivities: false,
        logIOActivities: false,
        showErrors: false,
        unitid: String(i + 1),
        dataType: 'HoldingRegister',
        adr: '0',
        quantity: String(REGISTERS),
        rate: String(WORKLOADS[s.workload].intervalMs),
        rateUnit: 'ms',
        delayOnStart: false,
        startDelayTime: '',
        server: `client-${i}`,
        useIOFile: false,
        ioFile: '',
        useIOForPayload: false,
        emptyMsgOnFail: false,
        x: 150,
        y: 100 + i * 40,
        wires: [['map'], []],
      },
    );
  });
  return nodes;
}

async function startNodeRed(s: LegSetup, nrDir: string): Promise<Gateway> {
  const port = await freePort();
  const flowFile = `flows-bench-${s.db}.json`;
  writeFileSync(join(nrDir, flowFile), JSON.stringify(flows(s)));
  const settings = join(nrDir, `settings-bench-${s.db}.js`);
  writeFileSync(
    settings,
    `module.exports = ${JSON.stringify(
      {
        uiHost: '127.0.0.1',
        uiPort: port,
        userDir: nrDir,
        flowFile,
        flowFilePretty: false,
        credentialSecret: false,
        logging: { console: { level: 'info', metrics: false, audit: false } },
        diagnostics: { enabled: false, ui: false },
        runtimeState: { enabled: false, ui: false },
        telemetry: { enabled: false },
        externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
        functionExternalModules: false,
      },
      null,
      2,
    )};\n`,
  );
  const proc = startProcess(process.execPath, [join(nrDir, 'node_modules', 'node-red', 'red.js'), '--settings', settings, '--userDir', nrDir], { cwd: nrDir });
  await proc.waitForOutput(/Started flows/, 120_000);
  const sampler = new TreeSampler(proc.child.pid!);
  if (s.workload === 'c') await waitBroker(s.broker!, 'bench-nodered', proc);
  return {
    sampler,
    stop: async () => {
      sampler.stop();
      const killer = setTimeout(() => proc.child.kill('SIGKILL'), 30_000);
      await proc.kill('SIGTERM');
      clearTimeout(killer);
      const problems = proc
        .output()
        .split('\n')
        .filter((l) => /\[error\]/.test(l));
      if (problems.length) s.ctx.log(`nodered: Node-RED logged ${problems.length} errors, e.g. ${problems.slice(0, 3).join(' | ').slice(0, 600)}`);
      return problems.length;
    },
  };
}

// ------------------------------------------------------------------------------ one leg

interface Leg {
  workload: Workload;
  pair: number;
  gateway: 'fgw' | 'Node-RED';
  offered: number;
  landed: number;
  keepUp: number;
  /** a, b: polls answered by the simulators per second; c: messages published per second */
  served: number;
  cpuUsPerValue: number;
  cores: number;
  meanRssMB: number;
  peakRssMB: number;
  windowS: number;
  /** c: values published that were not in InfluxDB once it stopped growing (null for a, b) */
  unlanded: number | null;
  /** Node-RED: [error] lines logged during the leg (e.g. failed InfluxDB writes); fgw: null */
  errorsLogged: number | null;
}

/** Values in the database once the count stopped growing for 3 s (at most 60 s). */
async function settledCount(url: string, db: string): Promise<number> {
  let n = -1;
  let since = Date.now();
  const until = Date.now() + 60_000;
  for (;;) {
    const m = await countValues(url, db, 'equipment');
    if (m !== n) since = Date.now();
    n = m;
    if (Date.now() - since >= 3000 || Date.now() > until) return n;
    await sleep(500);
  }
}

function publisher(broker: Mosquitto, count: number): Proc {
  return startProcess(
    process.execPath,
    [
      join(BENCH_DIST, 'mqtt-publisher.js'),
      '--url',
      broker.url,
      '--topic',
      TOPIC,
      '--count',
      String(count),
      '--qos',
      '1',
      '--rate',
      String(MQTT_RATE),
      '--fields',
      String(MQTT_FIELDS),
    ],
    { cwd: ROOT },
  );
}

async function runLeg(s: LegSetup, which: 'fgw' | 'Node-RED', pair: number, nrDir: string, warmMs: number, ms: number): Promise<Leg> {
  const url = s.ctx.influx.url;
  await dropDatabase(url, s.db);
  await createDatabase(url, s.db);
  s.ctx.log(`nodered: ${WORKLOADS[s.workload].title}, pair ${pair}, ${which}, ${ms} ms`);
  const gw = which === 'fgw' ? await startFgw(s) : await startNodeRed(s, nrDir);
  let pub: Proc | undefined;
  let leg: Omit<Leg, 'errorsLogged'> | undefined;
  let errorsLogged: number | null = null;
  try {
    const t0 = Date.now();
    if (s.workload === 'c') pub = publisher(s.broker!, Math.ceil(((warmMs + ms + 3000) * MQTT_RATE) / 1000));
    else await waitForValues(url, s.db, 'equipment');
    await sleep(Math.max(0, warmMs - (Date.now() - t0)));
    const r0 = s.servers ? await s.servers.reads() : 0;
    const a = gw.sampler.mark('a');
    await sleep(ms);
    const r1 = s.servers ? await s.servers.reads() : 0;
    const b = gw.sampler.mark('b');
    const w = gw.sampler.window('a', 'b');
    let served: number;
    let unlanded: number | null = null;
    if (pub) {
      const done = JSON.parse((await pub.waitForOutput(/BENCH_DONE (\{.*\})/, 120_000))[1]!) as { published: number; ms: number };
      served = done.published / (done.ms / 1000);
      unlanded = done.published * MQTT_FIELDS - (await settledCount(url, s.db));
    } else {
      served = (r1 - r0) / w.wallS;
      // let the gateway write what it polled in the window (fgw flushes every second)
      await sleep(3000);
    }
    const landedValues = await countValues(url, s.db, 'equipment', `time >= ${a.at}ms AND time < ${b.at}ms`);
    const offered = s.workload === 'c' ? MQTT_RATE * MQTT_FIELDS : (s.devices * REGISTERS * 1000) / WORKLOADS[s.workload].intervalMs!;
    const landed = landedValues / w.wallS;
    leg = {
      pair,
      workload: s.workload,
      gateway: which,
      offered,
      landed: round(landed),
      keepUp: round(landed / offered, 3),
      served: round(served),
      cpuUsPerValue: round(landedValues > 0 ? (w.cpuS / landedValues) * 1e6 : NaN),
      cores: round(w.cpuS / w.wallS),
      meanRssMB: round(w.meanRssMB),
      peakRssMB: round(w.peakRssMB),
      windowS: round(w.wallS, 1),
      unlanded,
    };
  } finally {
    if (pub) await pub.kill('SIGTERM');
    errorsLogged = await gw.stop();
    await dropDatabase(url, s.db);
  }
  return { ...leg, errorsLogged };
}

// ------------------------------------------------------------------------------ the scenario

const median = (xs: number[]): number | null => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((p, q) => p - q);
  if (!v.length) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
};

const FIGURES: Array<{
  key: keyof Leg;
  name: (w: Workload) => string;
  unit: string;
  target?: (w: Workload) => { text: string; met: (r: number) => boolean } | undefined;
}> = [
  { key: 'landed', name: () => 'landed in InfluxDB', unit: 'values/s' },
  {
    key: 'keepUp',
    name: () => 'keep-up (landed / offered)',
    unit: '',
    target: (w) => (w === 'a' ? { text: 'fgw keep-up 1.00 at 100 ms', met: (r) => r >= 0.995 } : undefined),
  },
  { key: 'served', name: (w) => (w === 'c' ? 'messages published' : 'polls answered by the simulators'), unit: 'per s' },
  { key: 'cpuUsPerValue', name: () => 'gateway CPU per value landed', unit: 'µs', target: () => ({ text: '≤ 0.33 of Node-RED', met: (r) => r <= 0.33 }) },
  { key: 'cores', name: () => 'gateway CPU', unit: 'cores' },
  { key: 'meanRssMB', name: () => 'gateway mean RSS', unit: 'MB', target: () => ({ text: '≤ 0.8 of Node-RED', met: (r) => r <= 0.8 }) },
  { key: 'peakRssMB', name: () => 'gateway peak RSS', unit: 'MB' },
];

export const noderedScenario: Scenario = {
  name: 'nodered',
  title: 'Side by side with Node-RED 4.1 (node-red-contrib-modbus 5.23.3, node-red-contrib-influxdb): the same workloads, alternating',
  default: false,
  async run(ctx) {
    const { dir: nrDir, versions } = ensureNodeRed((m) => ctx.log(m));
    const chosen = (ctx.workloads ?? 'a,b,c')
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
    const bad = chosen.filter((w) => !(w in WORKLOADS));
    if (bad.length || !chosen.length) throw new Error(`--workloads ${ctx.workloads}: expected a comma list of a, b, c`);
    const workloads = chosen as Workload[];
    const pairs = ctx.pairs ?? (ctx.quick ? 1 : 3);
    const ms = windowMs(ctx, 60_000, 3000);
    const warmMs = ctx.quick ? 2000 : 5000;
    const devices = ctx.quick ? 10 : 100;
    const legs: Leg[] = [];
    for (const workload of workloads) {
      const servers = workload === 'c' ? undefined : await startServers(devices);
      const broker = workload === 'c' ? await startMosquitto() : undefined;
      try {
        for (let pair = 1; pair <= pairs; pair++) {
          const order: Array<'fgw' | 'Node-RED'> = pair % 2 ? ['fgw', 'Node-RED'] : ['Node-RED', 'fgw'];
          for (const which of order) {
            const setup: LegSetup = {
              ctx,
              db: `nodered_${workload}_${pair}_${which === 'fgw' ? 'fgw' : 'nr'}`,
              workload,
              devices,
              forMs: warmMs + ms + 30_000,
            };
            if (servers) setup.servers = servers;
            if (broker) setup.broker = broker;
            legs.push(await runLeg(setup, which, pair, nrDir, warmMs, ms));
          }
        }
      } finally {
        await servers?.stop();
        await broker?.close();
      }
    }
    const metrics: Metric[] = [];
    for (const w of workloads) {
      const mine = legs.filter((l) => l.workload === w);
      metrics.push(metric(`${w}: offered`, mine[0]!.offered, 'values/s'));
      metrics.push(
        metric(
          `${w}: Node-RED [error] lines logged (worst leg; failed InfluxDB writes among them)`,
          Math.max(...mine.map((l) => l.errorsLogged ?? 0)),
          'lines',
        ),
      );
      if (w === 'c') {
        for (const g of ['fgw', 'Node-RED'] as const) {
          const u = mine.filter((l) => l.gateway === g).map((l) => l.unlanded ?? NaN);
          metrics.push(
            metric(
              `c: values published but never in InfluxDB, ${g} (worst leg)`,
              Math.max(...u),
              'values',
              g === 'fgw' ? { target: '0', met: Math.max(...u) === 0 } : {},
            ),
          );
        }
      }
      for (const f of FIGURES) {
        const fgw = mine.filter((l) => l.gateway === 'fgw');
        const nr = mine.filter((l) => l.gateway === 'Node-RED');
        const ratios = fgw.map((l) => (l[f.key] as number) / (nr.find((x) => x.pair === l.pair)![f.key] as number));
        const r = median(ratios);
        const t = f.target?.(w);
        metrics.push(
          metric(`${w}: ${f.name(w)}, fgw`, median(fgw.map((l) => l[f.key] as number)), f.unit),
          metric(`${w}: ${f.name(w)}, Node-RED`, median(nr.map((l) => l[f.key] as number)), f.unit),
        );
        if (f.key === 'keepUp') {
          const k = median(fgw.map((l) => l.keepUp));
          metrics.push(metric(`${w}: ${f.name(w)}, fgw / Node-RED (median of pair ratios)`, r, '×', t && k !== null ? { target: t.text, met: t.met(k) } : {}));
        } else
          metrics.push(metric(`${w}: ${f.name(w)}, fgw / Node-RED (median of pair ratios)`, r, '×', t && r !== null ? { target: t.text, met: t.met(r) } : {}));
      }
    }
    return {
      name: 'nodered',
      title: this.title,
      windowS: round(
        legs.reduce((x, l) => x + l.windowS, 0),
        1,
      ),
      params: {
        workloads: workloads.map((w) => WORKLOADS[w].title),
        pairs,
        windowPerLeg: `${ms / 1000} s after ${warmMs / 1000} s warm-up`,
        devices: `${devices} on 127.0.0.1–127.0.0.${devices}, unit ids 1–${devices}, ${REGISTERS} holding registers, one TCP connection each`,
        fgw: 'fgw run, batchSize 5000, flushInterval 1s',
        nodeRed: `node-red ${versions['node-red']}, node-red-contrib-modbus ${versions['node-red-contrib-modbus']}, node-red-contrib-influxdb ${versions['node-red-contrib-influxdb']} in ${nrDir}`,
      },
      metrics,
      notes: [
        'legs alternate (odd pairs fgw first, even pairs Node-RED first); each leg has its own fresh InfluxDB database in the run’s influxd',
        'Node-RED flows: modbus-read per device (FC3, 100 registers) → one function node (registers → fields r0..r99, timestamp now) → influxdb batch (one write per poll); mqtt in (QoS 1) → json → influxdb out (one write per message)',
        'landed = values in InfluxDB with a timestamp in the window / window; CPU = utime + stime of the gateway process tree (InfluxDB, simulators, Mosquitto excluded) / values landed; RSS sampled every 250 ms',
        'Node-RED keeps nothing on disk: readings polled while InfluxDB is away are lost; fgw commits each reading to its store before forwarding',
      ],
      series: { legs },
    };
  },
};
