/**
 * The hub's server against a real influxd with authentication on: no access without its audit
 * record (a hub user that may not write the audit database gets 503 for everything but the
 * public pages), the exports (CSV with BOM, a real .xlsx workbook), roles on /metrics.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseYamlConfig } from '../../config/load.js';
import { hubSchema } from '../../gateway/hub/schema.js';
import { buildHubServer, type Hub } from '../../gateway/hub/server.js';
import { startInflux, type TestInflux } from '../helpers/influx.js';
import { tempDir } from '../helpers/tmp.js';

let influx: TestInflux;
const dir = tempDir('fgw-hub-server-');
const hubs: Hub[] = [];
const BUREAU = 'bureau-token-srv-01';
const CUPCO = 'cupco-token-srv-01';

async function hub(user: string, password: string): Promise<Hub> {
  const text = `hub: { id: hub-t, logLevel: silent }
influx: { url: "${influx.url}", database: plants, username: ${user}, password: ${password} }
projects: ./projects
http:
  tokens:
    - { name: bureau, token: ${BUREAU}, role: official }
    - { name: cupco, token: ${CUPCO}, role: enterprise, projects: [YK-S-1] }
audit: { database: hub_audit }
`;
  const config = parseYamlConfig(text, hubSchema, { env: {}, file: 'hub.yaml' });
  const h = await buildHubServer({ config, path: join(dir.path, 'hub.yaml'), projectsDir: join(dir.path, 'projects') }, { log: pino({ level: 'silent' }) });
  hubs.push(h);
  return h;
}

beforeAll(async () => {
  influx = await startInflux({ admin: { username: 'admin', password: 'admin-pw' } });
  await influx.query('CREATE DATABASE plants');
  await influx.query('CREATE DATABASE hub_audit');
  await influx.createUser('hub', 'hub-pw', [
    ['READ', 'plants'],
    ['WRITE', 'hub_audit'],
  ]);
  await influx.createUser('hubro', 'hubro-pw', [
    ['READ', 'plants'],
    ['READ', 'hub_audit'],
  ]);
  const p = join(dir.path, 'projects', 'one');
  mkdirSync(p, { recursive: true });
  writeFileSync(
    join(p, 'project.yaml'),
    `project:
  id: YK-S-1
  name: "测试线, 一号"
  enterprise: { name: 示例杯业, uscc: 91330784MA2EXAMPLE, town: 西城街道 }
  period: { from: 2026-03-01, to: 2026-10-31 }
  claim: partial
processes:
  - { id: stamping, key: true }
equipment:
  - { id: press-01, process: stamping, category: production }
`,
  );
  writeFileSync(
    join(p, 'gw.yaml'),
    `gateway: { id: gw-s }\nstorage: { path: ./data }\ndevices:\n  - { id: press-01, protocol: modbus, connection: { host: 127.0.0.1 }, tags: [{ name: state, role: state, area: holding, address: 0 }] }\n`,
  );
}, 60_000);

afterAll(async () => {
  for (const h of hubs) await h.app.close();
  await influx?.cleanup();
  dir.cleanup();
});

const get = (h: Hub, url: string, token?: string) => h.app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });

describe('the hub server', () => {
  it('answers nothing it cannot audit: 503 when the audit cannot be written, public pages still served', async () => {
    const h = await hub('hubro', 'hubro-pw');
    const r = await get(h, '/api/projects', BUREAU);
    expect(r.statusCode).toBe(503);
    expect(r.json()).toMatchObject({ code: 'GW_ERR_HUB_AUDIT' });
    expect(r.body).not.toContain('YK-S-1');
    expect((await get(h, '/api/export?format=csv', BUREAU)).statusCode).toBe(503);
    expect(h.audit.failed).toBeGreaterThanOrEqual(2);
    expect((await get(h, '/')).statusCode).toBe(200);
    expect((await get(h, '/health/live')).statusCode).toBe(200);
  });

  it('exports the table as CSV (BOM, quoted cells) and as a real .xlsx workbook; only what the token may see', async () => {
    const h = await hub('hub', 'hub-pw');
    const csv = await get(h, '/api/export?format=csv&lang=zh', BUREAU);
    expect(csv.statusCode, csv.body).toBe(200);
    expect(csv.headers['content-type']).toMatch(/text\/csv/);
    expect(csv.body.startsWith('\uFEFF项目编号,项目名称,企业,乡镇/街道')).toBe(true);
    expect(csv.body).toContain('YK-S-1,"测试线, 一号",示例杯业,西城街道');
    const x = await get(h, '/api/export?format=xlsx&lang=en', BUREAU);
    expect(x.statusCode).toBe(200);
    expect(x.headers['content-disposition']).toMatch(/attachment; filename="fgw-hub-.*\.xlsx"/);
    const file = join(dir.path, 'out.xlsx');
    writeFileSync(file, x.rawPayload);
    const sheet = execFileSync(
      '/usr/bin/python3',
      [
        '-c',
        'import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); print(z.read("xl/sharedStrings.xml").decode() if "xl/sharedStrings.xml" in z.namelist() else ""); print(z.read("xl/worksheets/sheet1.xml").decode())',
        file,
      ],
      { encoding: 'utf8' },
    );
    expect(sheet).toContain('YK-S-1');
    expect(sheet).toContain('Networking rate now');
    const none = await get(h, '/api/export?format=csv&ids=OTHER', CUPCO);
    expect(none.body.split('\r\n').filter(Boolean)).toHaveLength(1); // the header only
  });

  it('roles: /metrics is for officials; an enterprise token sees only its projects', async () => {
    const h = await hub('hub', 'hub-pw');
    expect((await get(h, '/metrics', CUPCO)).statusCode).toBe(403);
    const m = await get(h, '/metrics', BUREAU);
    expect(m.statusCode).toBe(200);
    expect(m.body).toContain('fgw_hub_projects{state="ok"} 1');
    expect((await get(h, '/api/projects/YK-S-1', CUPCO)).statusCode).toBe(200);
    expect((await get(h, '/api/projects/YK-S-2', CUPCO)).statusCode).toBe(403);
    expect((await get(h, '/api/projects/YK-S-2', BUREAU)).statusCode).toBe(404);
    const bad = await get(h, '/api/projects/YK-S-1/report?from=yesterday&to=now', BUREAU);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toContain('querystring.from');
    expect((await get(h, '/api/projects/YK-S-1/report?from=-1h&to=now&bogus=1', BUREAU)).json().message).toContain('querystring.bogus');
  });
});
