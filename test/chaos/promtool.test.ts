/**
 * `/metrics` of a real gateway process (Modbus devices, one of them unreachable, forwarding to a
 * real influxd) passes Prometheus' own linter, `promtool check metrics` (Debian `prometheus`):
 * names, HELP/TYPE lines, counter suffixes, label syntax. Scraped twice, after devices connected
 * and after points were forwarded, so every family has its values.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInflux, type TestInflux } from '../helpers/influx.js';
import { serveRegisters, type TestModbusServer } from '../helpers/modbus-server.js';
import { freePort } from '../helpers/net.js';
import { startProcess, type Proc } from '../helpers/proc.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const fgw = join(new URL('../..', import.meta.url).pathname, 'gateway/bin/fgw.js');

let influx: TestInflux;
let modbus: TestModbusServer;
let gw: Proc;
let url: string;
const dir = tempDir('fgw-promtool-');

beforeAll(async () => {
  influx = await startInflux();
  const mbPort = await freePort();
  modbus = await serveRegisters(mbPort, [1, 0, 42]);
  const apiPort = await freePort();
  url = `http://127.0.0.1:${apiPort}`;
  const cfg = join(dir.path, 'gateway.yaml');
  writeFileSync(
    cfg,
    `
gateway: { id: prom-gw, site: "site 1", statusInterval: 1s, logLevel: warn }
storage: { path: ${dir.path}/data }
influx: { url: ${influx.url}, database: factory, flushInterval: 200ms }
http: { listen: 127.0.0.1:${apiPort} }
devices:
  - id: press-01
    protocol: modbus
    connection: { host: 127.0.0.1, port: ${mbPort}, unitId: 1, timeout: 300ms }
    interval: 100ms
    tags:
      - { name: state, area: holding, address: 0 }
      - { name: count, area: holding, address: 1, type: uint32 }
  - id: saw-05
    protocol: modbus
    connection: { host: 127.0.0.1, port: ${await freePort()}, unitId: 1, timeout: 300ms }
    interval: 200ms
    tags:
      - { name: state, area: holding, address: 0 }
`,
  );
  gw = startProcess(process.execPath, [fgw, 'run', '--config', cfg]);
  await waitFor('points forwarded', async () => {
    const s = (await (await fetch(`${url}/api/status`)).json()) as { forwarder?: { written: number } };
    return (s.forwarder?.written ?? 0) > 10;
  });
});

afterAll(async () => {
  await gw?.kill('SIGTERM');
  await modbus?.close();
  await influx?.cleanup();
  dir.cleanup();
});

describe('promtool check metrics', () => {
  it('finds no problem in /metrics of a running gateway', async () => {
    for (let scrape = 0; scrape < 2; scrape++) {
      const text = await (await fetch(`${url}/metrics`)).text();
      expect(text).toMatch(/^fgw_forwarder_written_total /m);
      expect(text).toMatch(/^fgw_device_connected\{device="saw-05",protocol="modbus"\} 0$/m);
      const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
      expect({ status: r.status, out: `${r.stdout}${r.stderr}` }).toEqual({ status: 0, out: '' });
    }
    // and the linter is awake: a counter without _total is a problem to it
    const bad = spawnSync('promtool', ['check', 'metrics'], { input: '# HELP fgw_x a counter\n# TYPE fgw_x counter\nfgw_x 1\n', encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
  });
});
