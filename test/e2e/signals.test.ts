/**
 * The gateway process and its signals: SIGHUP re-reads the config and restarts only the device
 * whose config changed (checked through the API of the running process); a config made invalid
 * is refused and the running config kept; SIGTERM stops it cleanly with exit code 0.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ModbusSimulator } from '../../adapters/modbus/simulator.js';
import { freePort } from '../helpers/net.js';
import { startProcess, type Proc } from '../helpers/proc.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const root = new URL('../..', import.meta.url).pathname;
const fgw = join(root, 'gateway/bin/fgw.js');

let sim: ModbusSimulator;
let dir: ReturnType<typeof tempDir>;
let gw: Proc;
let cfg: string;
let api = 0;
let port = 0;

const yaml = (pressInterval: string, extra = '') => `
gateway: { id: sig, logLevel: info }
storage: { path: ${dir.path}/store }
http: { listen: 127.0.0.1:${api} }
devices:
  - id: press-01
    protocol: modbus
    connection: { host: 127.0.0.1, port: ${port}, unitId: 1, timeout: 500ms }
    interval: ${pressInterval}
    tags: [{ name: state, role: state, area: holding, address: 0, type: uint16 }]
  - id: saw-05
    protocol: modbus
    connection: { host: 127.0.0.1, port: ${port}, unitId: 5, timeout: 500ms }
    interval: 200ms
    tags: [{ name: state, role: state, area: holding, address: 0, type: uint16${extra} }]
`;

async function devices(): Promise<Record<string, { interval: number; connected: boolean }>> {
  const r = await fetch(`http://127.0.0.1:${api}/api/devices`);
  const body = (await r.json()) as
    | { devices?: Array<{ id: string; interval: number; status: { connected: boolean } }> }
    | Array<{ id: string; interval: number; status: { connected: boolean } }>;
  const list = Array.isArray(body) ? body : (body.devices ?? []);
  return Object.fromEntries(list.map((d) => [d.id, { interval: d.interval, connected: d.status.connected }]));
}

beforeAll(async () => {
  dir = tempDir('fgw-signals-');
  sim = new ModbusSimulator([1, 5]);
  port = await freePort();
  api = await freePort();
  await sim.startTcp(port);
  cfg = join(dir.path, 'gateway.yaml');
  writeFileSync(cfg, yaml('200ms'));
  gw = startProcess(process.execPath, [fgw, 'run', '--config', cfg]);
  await waitFor('both devices connected through the API', async () => {
    const d = await devices();
    return d['press-01']?.connected && d['saw-05']?.connected;
  });
});

afterAll(async () => {
  await gw?.kill('SIGKILL');
  await sim?.stop();
  dir?.cleanup();
});

it('SIGHUP reloads the config file: the changed device gets its new interval', async () => {
  expect((await devices())['press-01']!.interval).toBe(200);
  writeFileSync(cfg, yaml('700ms'));
  gw.child.kill('SIGHUP');
  await waitFor('press-01 at its new interval', async () => (await devices())['press-01']?.interval === 700);
  await gw.waitForOutput(/"restarted":\["press-01"\],"unchanged":\["saw-05"\]/);
  expect((await devices())['saw-05']!.interval).toBe(200);
});

it('SIGHUP with an invalid config keeps the running one and says why', async () => {
  writeFileSync(cfg, yaml('700ms', ', byteOrder: XYZW'));
  gw.child.kill('SIGHUP');
  await gw.waitForOutput(/reload failed; keeping the running config/);
  expect(gw.output()).toMatch(/devices\[1\]\.tags\[0\]\.byteOrder/);
  const d = await devices();
  expect(d['press-01']!.interval).toBe(700);
  expect(d['saw-05']!.connected).toBe(true);
});

it('SIGTERM stops it cleanly (exit code 0)', async () => {
  gw.child.kill('SIGTERM');
  const { code } = await gw.exited;
  expect(code).toBe(0);
  expect(gw.output()).toMatch(/"msg":"gateway stopped"/);
});
