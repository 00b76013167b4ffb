/**
 * The API over a real socket in front of the real runtime and real device servers: a write through
 * `POST /api/devices/:id/tags/:tag` to each protocol's simulator, read back through the adapter
 * (not from the simulator's memory alone), audited; and a config reload that changes one device's
 * interval while the others keep polling without a gap.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModbusSimulator } from '../../adapters/modbus/simulator.js';
import { OpcuaSimulator } from '../../adapters/opcua/simulator.js';
import { loadConfig } from '../../gateway/config.js';
import { runGateway, type RunningGateway } from '../../gateway/serve.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const OPERATOR = 'operator-token-for-tests';
const MES = 'mes-token-for-tests';
const quiet = { out: () => undefined, err: () => undefined };

function configYaml(dir: string, p: { modbus: number; opcua: string; mqtt: string; api: number }, pressInterval: string): string {
  return `
gateway: { id: api-e2e, logLevel: silent }
storage: { path: ${dir}/store }
http:
  listen: 127.0.0.1:${p.api}
  tokens:
    - { name: operator, system: platform, token: ${OPERATOR}, scopes: [read, write] }
    - { name: mes, system: MES, token: ${MES}, scopes: [read] }
devices:
  - id: press-01
    protocol: modbus
    connection: { host: 127.0.0.1, port: ${p.modbus}, unitId: 1, timeout: 500ms }
    interval: ${pressInterval}
    tags:
      - { name: state, role: state, area: holding, address: 0, type: uint16 }
      - { name: setpoint, role: parameter, area: holding, address: 10, type: float32, byteOrder: CDAB, writable: true, min: 0, max: 1000 }
  - id: saw-05
    protocol: modbus
    connection: { host: 127.0.0.1, port: ${p.modbus}, unitId: 5, timeout: 500ms }
    interval: 100ms
    tags:
      - { name: state, role: state, area: holding, address: 0, type: uint16 }
  - id: lathe-03
    protocol: opcua
    connection: { endpoint: "${p.opcua}", securityMode: None, securityPolicy: None }
    interval: 200ms
    tags:
      - { name: state, role: state, nodeId: "ns=1;s=Lathe3.State" }
      - { name: program, role: parameter, nodeId: "ns=1;s=Lathe3.Program", writable: true }
  - id: polisher-04
    protocol: mqtt
    connection: { url: "${p.mqtt}", clientId: gw-api-e2e, qos: 1 }
    interval: 1s
    tags:
      - { name: speed_set, role: parameter, topic: plant/polisher-04/telemetry, path: speedSet, type: integer, writable: true, writeTopic: plant/polisher-04/cmd/speed }
`;
}

let dir: ReturnType<typeof tempDir>;
let modbus: ModbusSimulator;
let opcua: OpcuaSimulator;
let broker: Mosquitto;
let machine: mqtt.MqttClient;
let gw: RunningGateway;
let cfgFile: string;
let ports: { modbus: number; opcua: string; mqtt: string; api: number };

async function post(path: string, body: unknown, token = OPERATOR): Promise<{ status: number; json: any }> {
  const r = await fetch(`${gw.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: r.status, json: await r.json() };
}

const stored = (device: string, tag: string) => gw.runtime.store.query({ device, tag, measurement: 'data', limit: 100_000 });

beforeAll(async () => {
  dir = tempDir('fgw-api-e2e-');
  modbus = new ModbusSimulator([1, 5]);
  modbus.set(1, 'holding', 0, 'uint16', 2);
  modbus.set(5, 'holding', 0, 'uint16', 1);
  ports = { modbus: await freePort(), opcua: '', mqtt: '', api: await freePort() };
  await modbus.startTcp(ports.modbus);
  opcua = await OpcuaSimulator.start({ pkiDir: join(dir.path, 'sim-pki') });
  ports.opcua = opcua.endpoint;
  broker = await startMosquitto();
  ports.mqtt = broker.url;
  // the polishing machine: applies a speed command and reports it back in its telemetry
  machine = await mqtt.connectAsync(broker.url, { clientId: 'polisher-04-machine' });
  await machine.subscribeAsync('plant/polisher-04/cmd/speed', { qos: 1 });
  machine.on('message', (_t, payload) => {
    void machine.publishAsync('plant/polisher-04/telemetry', JSON.stringify({ speedSet: JSON.parse(payload.toString()) }), { qos: 1 });
  });
  cfgFile = join(dir.path, 'gateway.yaml');
  writeFileSync(cfgFile, configYaml(dir.path, ports, '200ms'));
  const loaded = loadConfig(cfgFile);
  gw = await runGateway({ config: loaded.config, configPath: loaded.path, io: quiet, quiet: true });
  await waitFor('every polled device delivering', () => ['press-01', 'saw-05', 'lathe-03'].every((d) => gw.runtime.device(d)?.status.connected));
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await machine?.endAsync();
  await broker?.close();
  await opcua?.stop();
  await modbus?.stop();
  dir?.cleanup();
});

describe('writes through the API reach each protocol and come back through the adapter', () => {
  it('Modbus: a float32 CDAB set-point lands in the device registers and is read back', async () => {
    const r = await post('/api/devices/press-01/tags/setpoint', { value: 812.5 });
    expect(r.status).toBe(200);
    // the registers hold 812.5 as float32 in CDAB order: 0x444B 0x2000 → [0x2000, 0x444B]
    expect(modbus.getRegisters(1, 'holding', 10, 2)).toEqual([0x2000, 0x444b]);
    await waitFor('the written set-point polled back', () => stored('press-01', 'setpoint').some((x) => x.value === 812.5));
  });

  it('OPC UA: a Write with the variable data type, read back by the subscription', async () => {
    const r = await post('/api/devices/lathe-03/tags/program', { value: 'O2001-LID' });
    expect(r.status).toBe(200);
    expect(opcua.get('Lathe3.Program')).toBe('O2001-LID');
    await waitFor('the new program reported back', () => stored('lathe-03', 'program').some((x) => x.value === 'O2001-LID'));
  });

  it('MQTT: a publish to the command topic, acknowledged by the machine in its telemetry', async () => {
    const r = await post('/api/devices/polisher-04/tags/speed_set', { value: 1450 });
    expect(r.status).toBe(200);
    await waitFor('the machine reporting the new speed', () => stored('polisher-04', 'speed_set').some((x) => x.value === 1450 && x.kind === 'integer'));
  });

  it('refuses out-of-range and read-only writes, and audits every attempt with who asked', async () => {
    expect((await post('/api/devices/press-01/tags/setpoint', { value: 1000.5 })).status).toBe(400);
    expect((await post('/api/devices/press-01/tags/state', { value: 1 })).status).toBe(409);
    expect((await post('/api/devices/press-01/tags/setpoint', { value: 1 }, MES)).status).toBe(403);
    const writes = gw.runtime.store.audits({ action: 'write' }).map((a) => [a.actor, a.system, a.device, a.tag, a.value, a.result]);
    expect(writes).toEqual([
      ['operator', 'platform', 'press-01', 'setpoint', '812.5', 'ok'],
      ['operator', 'platform', 'lathe-03', 'program', 'O2001-LID', 'ok'],
      ['operator', 'platform', 'polisher-04', 'speed_set', '1450', 'ok'],
      ['operator', 'platform', 'press-01', 'setpoint', '1000.5', 'error'],
      ['operator', 'platform', 'press-01', 'state', '1', 'error'],
      ['mes', 'MES', 'press-01', 'setpoint', '1', 'denied'],
    ]);
    expect(modbus.getRegisters(1, 'holding', 10, 2)).toEqual([0x2000, 0x444b]);
  });
});

describe('config reload', () => {
  it('restarts only the device whose interval changed; the others keep polling without a gap', async () => {
    const before = Date.now();
    await new Promise((r) => setTimeout(r, 1000)); // a second of undisturbed polling to compare with
    const connections = modbus.connections;
    const sawGood = gw.runtime.device('saw-05')!.status.good;
    writeFileSync(cfgFile, configYaml(dir.path, ports, '300ms'));
    const r = await post('/api/reload', {});
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ added: [], removed: [], restarted: ['press-01'], unchanged: ['saw-05', 'lathe-03', 'polisher-04'] });
    await waitFor('press-01 polling again', () =>
      stored('press-01', 'state').some((x) => x.ts > Date.now() - 500 && gw.runtime.device('press-01')?.config.interval === 300),
    );
    await new Promise((r) => setTimeout(r, 1000));
    const saw = stored('saw-05', 'state')
      .filter((x) => x.ts >= before)
      .map((x) => x.ts);
    const gaps = saw.slice(1).map((t, i) => t - saw[i]!);
    expect(saw.length).toBeGreaterThan(15);
    // saw-05 polls every 100 ms on the line it shares with press-01: no gap, the same adapter (its
    // counters were not reset) and the same TCP connection (the simulator accepted no new one)
    expect(Math.max(...gaps)).toBeLessThan(1000);
    expect(gw.runtime.device('saw-05')!.status.good).toBeGreaterThan(sawGood);
    expect(modbus.connections).toBe(connections);
  });
});
