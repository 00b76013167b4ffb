/**
 * Commands back from the platform over a real Mosquitto: a JSON write request (Neuron-style
 * request/response topics) and a Sparkplug B DCMD each reach a Modbus device (the adapter's
 * ModbusSimulator) and an OPC UA device (adapters/opcua/simulator.ts), are read back through the
 * adapters, and are audited with the target's system; a target without allowWrites is refused and
 * audited as denied, as is a write to a tag outside the target's devices selection; a write the
 * tag's range refuses is audited as an error. Then `fgw verify` on
 * the gateway's store counts the allowed ones as platform execution by a registered system.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModbusSimulator } from '../../adapters/modbus/simulator.js';
import { decodeSparkplug, encodeSparkplug } from '../../adapters/mqtt/sparkplug.js';
import { OpcuaSimulator } from '../../adapters/opcua/simulator.js';
import { loadConfig } from '../../gateway/config.js';
import { GatewayRuntime } from '../../gateway/runtime.js';
import { main } from '../../gateway/cli/index.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const cfgDir = fileURLToPath(new URL('../../config/', import.meta.url));

function configYaml(dir: string, modbusPort: number, opcua: string, broker: string): string {
  return `
gateway: { id: line-01, site: yk, statusInterval: 1s, logLevel: silent }
storage: { path: ${dir}/data }
devices:
  - id: press-01
    process: stamping
    protocol: modbus
    connection: { host: 127.0.0.1, port: ${modbusPort}, unitId: 1, timeout: 500ms }
    interval: 100ms
    tags:
      - { name: state, role: state, area: holding, address: 0, type: uint16 }
      - { name: setpoint, role: parameter, area: holding, address: 10, type: float32, byteOrder: CDAB, writable: true, min: 0, max: 1000 }
  - id: lathe-03
    process: machining
    protocol: opcua
    connection: { endpoint: "${opcua}", securityMode: None, securityPolicy: None }
    interval: 200ms
    tags:
      - { name: state, role: state, nodeId: "ns=1;s=Lathe3.State" }
      - { name: program, role: parameter, nodeId: "ns=1;s=Lathe3.Program", writable: true }
north:
  - name: platform
    system: platform
    url: ${broker}
    allowWrites: true
  - name: spb
    system: platform
    url: ${broker}
    format: sparkplugb
    sparkplug: { groupId: yk-plant }
    allowWrites: true
  - name: viewer
    system: dashboard-cloud
    url: ${broker}
    topic: "viewer/{device}"
    writeRequestTopic: "viewer/{gateway}/write/req"
    writeResponseTopic: "viewer/{gateway}/write/resp"
  - name: partial
    system: platform
    url: ${broker}
    allowWrites: true
    devices: [{ id: press-01, tags: [state] }]
    topic: "partial/{device}"
    writeRequestTopic: "partial/{gateway}/write/req"
    writeResponseTopic: "partial/{gateway}/write/resp"
`;
}

let dir: ReturnType<typeof tempDir>;
let modbus: ModbusSimulator;
let opcua: OpcuaSimulator;
let broker: Mosquitto;
let platform: MqttClient;
let rt: GatewayRuntime;
let cfgFile: string;
const responses: Array<Record<string, unknown>> = [];

const stored = (device: string, tag: string) => rt.store.query({ device, tag, measurement: 'data', limit: 100_000 });

function request(topic: string, body: unknown): Promise<Record<string, unknown>> {
  const uuid = (body as { uuid: string }).uuid;
  platform.publish(topic, JSON.stringify(body), { qos: 1 });
  return waitFor(`the response to ${uuid}`, () => responses.find((r) => r.uuid === uuid));
}

function dcmd(device: string, metrics: Array<{ name?: string; alias?: number; type: string; value: unknown }>): void {
  platform.publish(`spBv1.0/yk-plant/DCMD/line-01/${device}`, Buffer.from(encodeSparkplug({ timestamp: Date.now(), metrics })), { qos: 1 });
}

beforeAll(async () => {
  dir = tempDir('fgw-north-cmd-');
  modbus = new ModbusSimulator([1]);
  modbus.set(1, 'holding', 0, 'uint16', 2);
  const modbusPort = await freePort();
  await modbus.startTcp(modbusPort);
  opcua = await OpcuaSimulator.start({ pkiDir: join(dir.path, 'sim-pki') });
  broker = await startMosquitto();
  platform = await mqtt.connectAsync(broker.url, { clientId: 'the-platform' });
  await platform.subscribeAsync(['fgw/line-01/write/resp', 'viewer/line-01/write/resp', 'partial/line-01/write/resp'], { qos: 1 });
  platform.on('message', (_t, p) => responses.push(JSON.parse(p.toString())));
  cfgFile = join(dir.path, 'gateway.yaml');
  writeFileSync(cfgFile, configYaml(dir.path, modbusPort, opcua.endpoint, broker.url));
  rt = await GatewayRuntime.start({ config: loadConfig(cfgFile).config, configPath: cfgFile, log: pino({ level: 'silent' }) });
  await waitFor(
    'both devices delivering and every target connected',
    () => ['press-01', 'lathe-03'].every((d) => rt.device(d)?.status.connected) && rt.north().every((t) => t.connected),
  );
}, 60_000);

afterAll(async () => {
  await rt?.stop();
  await platform?.endAsync();
  await broker?.close();
  await opcua?.stop();
  await modbus?.stop();
  dir?.cleanup();
});

describe('north: commands back through the one write path', () => {
  it('JSON write requests reach Modbus and OPC UA, are read back and answered', async () => {
    expect(await request('fgw/line-01/write/req', { uuid: 'w1', device: 'press-01', tag: 'setpoint', value: 812.5 })).toEqual({ uuid: 'w1', error: 0 });
    expect(modbus.getRegisters(1, 'holding', 10, 2)).toEqual([0x2000, 0x444b]); // 812.5 float32 CDAB
    await waitFor('the set-point polled back', () => stored('press-01', 'setpoint').some((x) => x.value === 812.5));
    expect(await request('fgw/line-01/write/req', { uuid: 'w2', device: 'lathe-03', tag: 'program', value: 'O2001-LID' })).toEqual({ uuid: 'w2', error: 0 });
    expect(opcua.get('Lathe3.Program')).toBe('O2001-LID');
    await waitFor('the program read back', () => stored('lathe-03', 'program').some((x) => x.value === 'O2001-LID'));
  });

  it('Sparkplug DCMD by name and by alias reaches Modbus and OPC UA, read back', async () => {
    // the aliases the DBIRTH declared: what a host application uses
    const births = new Map<string, Map<string, number>>();
    const host = await mqtt.connectAsync(broker.url, { clientId: 'spb-host' });
    host.on('message', (t, p) => {
      const dev = t.split('/')[4];
      if (t.includes('/DBIRTH/') && dev) births.set(dev, new Map(decodeSparkplug(p).metrics!.map((m) => [m.name!, Number(m.alias)])));
    });
    await host.subscribeAsync('spBv1.0/yk-plant/#', { qos: 1 });
    platform.publish(
      'spBv1.0/yk-plant/NCMD/line-01',
      Buffer.from(encodeSparkplug({ timestamp: Date.now(), metrics: [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }] })),
      { qos: 1 },
    );
    await waitFor('the rebirth with both DBIRTHs', () => births.has('press-01') && births.has('lathe-03'));
    await host.endAsync();

    dcmd('press-01', [{ alias: births.get('press-01')!.get('setpoint')!, type: 'Float', value: 640.25 }]);
    await waitFor('the DCMD set-point in the registers', () => modbus.getRegisters(1, 'holding', 10, 2)[1] === 0x4420); // 640.25 = 0x44201000
    await waitFor('the DCMD set-point polled back', () => stored('press-01', 'setpoint').some((x) => x.value === 640.25));
    dcmd('lathe-03', [{ name: 'program', type: 'String', value: 'O3003' }]);
    await waitFor('the DCMD program on the server', () => opcua.get('Lathe3.Program') === 'O3003');
    await waitFor('the DCMD program read back', () => stored('lathe-03', 'program').some((x) => x.value === 'O3003'));
  });

  it('refuses a target that may not write, a tag the target does not publish and a value out of range; every command audited with its system', async () => {
    const denied = await request('viewer/line-01/write/req', { uuid: 'd1', device: 'press-01', tag: 'setpoint', value: 1 });
    expect(denied).toMatchObject({ uuid: 'd1', error: 'GW_ERR_COMMAND_DENIED' });
    // a target may write only what it publishes (its devices selection)
    const unpublished = await request('partial/line-01/write/req', { uuid: 'p1', device: 'press-01', tag: 'setpoint', value: 2 });
    expect(unpublished).toMatchObject({ uuid: 'p1', error: 'GW_ERR_COMMAND_DENIED' });
    const range = await request('fgw/line-01/write/req', { uuid: 'r1', device: 'press-01', tag: 'setpoint', value: 1000.5 });
    expect(range).toMatchObject({ uuid: 'r1', error: 'GW_ERR_WRITE_RANGE' });
    const bad = await request('fgw/line-01/write/req', { uuid: 'b1', device: 'press-01' });
    expect(bad).toMatchObject({ uuid: 'b1', error: 'GW_ERR_COMMAND' });
    expect(modbus.getRegisters(1, 'holding', 10, 2)).toEqual([0x1000, 0x4420]); // still 640.25
    const writes = rt.store.audits({ action: 'write' }).map((a) => [a.actor, a.system, a.route, a.device, a.tag, a.value, a.result, a.detail]);
    expect(writes).toEqual([
      ['platform', 'platform', 'MQTT write request', 'press-01', 'setpoint', '812.5', 'ok', undefined],
      ['platform', 'platform', 'MQTT write request', 'lathe-03', 'program', 'O2001-LID', 'ok', undefined],
      ['spb', 'platform', 'MQTT DCMD', 'press-01', 'setpoint', '640.25', 'ok', undefined],
      ['spb', 'platform', 'MQTT DCMD', 'lathe-03', 'program', 'O3003', 'ok', undefined],
      ['viewer', 'dashboard-cloud', 'MQTT write request', 'press-01', 'setpoint', '1', 'denied', 'GW_ERR_COMMAND_DENIED'],
      ['partial', 'platform', 'MQTT write request', 'press-01', 'setpoint', '2', 'denied', 'GW_ERR_COMMAND_DENIED'],
      ['platform', 'platform', 'MQTT write request', 'press-01', 'setpoint', '1000.5', 'error', 'GW_ERR_WRITE_RANGE'],
      ['platform', 'platform', 'MQTT write request', 'press-01', undefined, undefined, 'error', 'GW_ERR_COMMAND: expected "tag": a tag name'],
    ]);
    expect(rt.north().find((t) => t.name === 'viewer')!.commands).toEqual({ ok: 0, denied: 1, error: 0 });
    expect(rt.north().find((t) => t.name === 'platform')!.commands).toEqual({ ok: 2, denied: 0, error: 2 });
  });

  it('fgw verify counts the allowed commands as platform execution by the registered system', async () => {
    await rt.stop();
    for (const f of ['project.yaml', 'erp-orders.csv', 'mes-orders.csv']) copyFileSync(join(cfgDir, f), join(dir.path, f));
    const json = join(dir.path, 'result.json');
    let err = '';
    const code = await main(
      [
        'verify',
        '--config',
        cfgFile,
        '--project',
        join(dir.path, 'project.yaml'),
        '--from',
        '-30m',
        '--to',
        'now',
        '--preliminary',
        '--source',
        'store',
        '--json',
        json,
      ],
      { out: () => undefined, err: (s) => (err += s) },
    );
    expect(err).toBe('');
    expect(code).toBe(0);
    const res = JSON.parse(readFileSync(json, 'utf8'));
    expect(res.dataUse.registeredSystems).toEqual(['platform', 'dashboard-cloud']);
    const steps = Object.fromEntries(res.processes.map((p: { id: string; commandsPerWeek: number[] }) => [p.id, p.commandsPerWeek.reduce((a, b) => a + b, 0)]));
    // two allowed commands each (JSON + DCMD); the denied and the failed ones do not count
    expect(steps.stamping).toBe(2);
    expect(steps.machining).toBe(2);
    expect(res.commands.filter((c: { system: string; result: string }) => c.system === 'platform' && c.result === 'ok')).toHaveLength(4);
  }, 60_000);
});
