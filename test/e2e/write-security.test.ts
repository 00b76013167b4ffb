/**
 * Writes that must never reach a device, over a real socket in front of the real runtime: an MQTT
 * tag with min/max and type float (the canonical speed set-point) gets numeric text, "1e999",
 * negative and oversized values; a Modbus float32 tag without min/max gets a value beyond float32.
 * Each is refused with a 400 naming the tag, audited with its code, and nothing is published to
 * the broker (a real Mosquitto, watched by a subscriber) nor written to the registers. The valid
 * writes around them go through, so the refusals are not an accident of a broken path.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModbusSimulator } from '../../adapters/modbus/simulator.js';
import { loadConfig } from '../../gateway/config.js';
import { runGateway, type RunningGateway } from '../../gateway/serve.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const OPERATOR = 'operator-token-for-write-tests';
const quiet = { out: () => undefined, err: () => undefined };

let dir: ReturnType<typeof tempDir>;
let modbus: ModbusSimulator;
let broker: Mosquitto;
let machine: mqtt.MqttClient;
const published: string[] = [];
let gw: RunningGateway;

beforeAll(async () => {
  dir = tempDir('fgw-write-sec-');
  modbus = new ModbusSimulator([1]);
  const modbusPort = await freePort();
  await modbus.startTcp(modbusPort);
  broker = await startMosquitto();
  machine = await mqtt.connectAsync(broker.url, { clientId: 'polisher-04-machine' });
  await machine.subscribeAsync('plant/polisher-04/cmd/#', { qos: 1 });
  machine.on('message', (_t, payload) => published.push(payload.toString()));
  const cfg = join(dir.path, 'gateway.yaml');
  writeFileSync(
    cfg,
    `
gateway: { id: write-sec, logLevel: silent }
storage: { path: ${dir.path}/store }
http:
  listen: 127.0.0.1:${await freePort()}
  tokens: [{ name: operator, system: platform, token: ${OPERATOR}, scopes: [read, write] }]
devices:
  - id: press-01
    protocol: modbus
    connection: { host: 127.0.0.1, port: ${modbusPort}, unitId: 1, timeout: 500ms }
    interval: 200ms
    tags:
      - { name: gain, role: parameter, area: holding, address: 10, type: float32, writable: true }
  - id: polisher-04
    protocol: mqtt
    connection: { url: "${broker.url}", clientId: gw-write-sec, qos: 1 }
    tags:
      - { name: speed_set, role: parameter, topic: plant/polisher-04/telemetry, path: "motors[0].setpoint", type: float,
          writable: true, min: 0, max: 3000, writeTopic: plant/polisher-04/cmd/speed }
`,
  );
  const loaded = loadConfig(cfg);
  gw = await runGateway({ config: loaded.config, configPath: loaded.path, io: quiet, quiet: true });
  await waitFor('both devices connected', () => ['press-01', 'polisher-04'].every((d) => gw.runtime.device(d)?.status.connected));
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await machine?.endAsync();
  await broker?.close();
  await modbus?.stop();
  dir?.cleanup();
});

async function post(device: string, tag: string, value: unknown): Promise<{ status: number; code?: string; message?: string }> {
  const r = await fetch(`${gw.url}/api/devices/${device}/tags/${tag}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' },
    body: JSON.stringify({ value }),
  });
  const j = (await r.json()) as { code?: string; message?: string };
  return { status: r.status, code: j.code, message: j.message };
}

describe('writes are checked against the tag before anything goes out', () => {
  it.each<[string, unknown, string]>([
    ['numeric text above max', '99999', 'GW_ERR_WRITE_RANGE'],
    ['numeric text below min', '-5', 'GW_ERR_WRITE_RANGE'],
    ['a number below min', -5, 'GW_ERR_WRITE_RANGE'],
    ['a number above max', 99999, 'GW_ERR_WRITE_RANGE'],
    ['numeric text beyond float64', '1e999', 'GW_ERR_WRITE_TYPE'],
    ['text that is no number', 'fast', 'GW_ERR_WRITE_TYPE'],
    ['a boolean', true, 'GW_ERR_WRITE_TYPE'],
  ])('MQTT tag with min 0, max 3000: %s (%j) → 400 %s, nothing published', async (_name, value, code) => {
    const r = await post('polisher-04', 'speed_set', value);
    expect(r).toMatchObject({ status: 400, code });
    expect(r.message).toContain('polisher-04.speed_set');
  });

  it('valid writes go through (numeric text as its number); the broker saw only those; every attempt audited', async () => {
    expect((await post('polisher-04', 'speed_set', '1500')).status).toBe(200);
    expect((await post('polisher-04', 'speed_set', 3000)).status).toBe(200);
    await waitFor('both commands at the machine', () => published.length >= 2);
    expect(published).toEqual(['1500', '3000']);
    const audits = gw.runtime.store.audits({ action: 'write', device: 'polisher-04' }).map((a) => [a.value, a.result, a.detail]);
    expect(audits).toEqual([
      ['99999', 'error', 'GW_ERR_WRITE_RANGE'],
      ['-5', 'error', 'GW_ERR_WRITE_RANGE'],
      ['-5', 'error', 'GW_ERR_WRITE_RANGE'],
      ['99999', 'error', 'GW_ERR_WRITE_RANGE'],
      ['1e999', 'error', 'GW_ERR_WRITE_TYPE'],
      ['fast', 'error', 'GW_ERR_WRITE_TYPE'],
      ['true', 'error', 'GW_ERR_WRITE_TYPE'],
      ['1500', 'ok', undefined],
      ['3000', 'ok', undefined],
    ]);
  });

  it('Modbus float32 without min/max: 1e39 (beyond float32) is refused, no +Inf written; 3e38 fits', async () => {
    const before = modbus.getRegisters(1, 'holding', 10, 2);
    const r = await post('press-01', 'gain', 1e39);
    expect(r).toMatchObject({ status: 400, code: 'GW_ERR_WRITE_TYPE' });
    expect(r.message).toContain('float32');
    expect(modbus.getRegisters(1, 'holding', 10, 2)).toEqual(before);
    expect((await post('press-01', 'gain', -1e39)).status).toBe(400);
    expect((await post('press-01', 'gain', 3e38)).status).toBe(200);
    // 3e38 as float32 (ABCD): 0x7F61 0xB1E6 — a finite float, not +Inf (0x7F80 0x0000)
    expect(modbus.getRegisters(1, 'holding', 10, 2)).toEqual([0x7f61, 0xb1e6]);
  });
});
