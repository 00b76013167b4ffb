/**
 * hub.yaml and the projects folder: the sample is accepted as written, mistakes are errors
 * naming their path, `fgw check --hub` validates the hub file and every project folder.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isGatewayError } from '../../config/errors.js';
import { parseYamlConfig } from '../../config/load.js';
import { main } from '../../gateway/cli/index.js';
import { loadProjectFolder, loadProjects } from '../../gateway/hub/config.js';
import { hubSchema } from '../../gateway/hub/schema.js';
import { tempDir } from '../helpers/tmp.js';

const SAMPLE = `influx: { url: "http://127.0.0.1:8086", database: plants }
projects: ./projects
http:
  listen: 127.0.0.1:8090
  tokens:
    - { name: bureau, token: "\${BUREAU_TOKEN}", role: official }
    - { name: cupco, token: "\${CUPCO_TOKEN}", role: enterprise, projects: [YK-2026-0173] }
`;
const ENV = { BUREAU_TOKEN: 'bureau-secret-1', CUPCO_TOKEN: 'cupco-secret-1' };

function problems(text: string, env: NodeJS.ProcessEnv = ENV): string[] {
  try {
    parseYamlConfig(text, hubSchema, { env, file: 'hub.yaml' });
  } catch (e) {
    if (isGatewayError(e)) return [e.code, ...e.details];
    throw e;
  }
  return [];
}

const dir = tempDir('fgw-hub-config-');
afterAll(() => dir.cleanup());

const project = (id: string, extra = '') => `project:
  id: ${id}
  name: 保温杯生产线
  enterprise: { name: 示例杯业, uscc: 91330784MA2EXAMPLE }
  period: { from: 2026-03-01, to: 2026-10-31 }
  claim: partial
${extra}processes:
  - { id: stamping, key: true }
equipment:
  - { id: press-01, process: stamping, category: production }
`;
const gateway = (id: string, device = 'press-01') => `gateway: { id: ${id} }
storage: { path: ./data }
http:
  tokens:
    - { name: mes, system: MES, token: "\${MES_TOKEN}" }
devices:
  - { id: ${device}, protocol: modbus, connection: { host: 127.0.0.1 }, tags: [{ name: state, role: state, area: holding, address: 0 }] }
`;

describe('hub.yaml', () => {
  it("accepts the issue's sample as written, with the defaults", () => {
    const c = parseYamlConfig(SAMPLE, hubSchema, { env: ENV, file: 'hub.yaml' });
    expect(c.influx).toMatchObject({ url: 'http://127.0.0.1:8086', database: 'plants', measurement: 'equipment', username: '', password: '' });
    expect(c.http.tokens.map((t) => [t.name, t.role, t.token])).toEqual([
      ['bureau', 'official', 'bureau-secret-1'],
      ['cupco', 'enterprise', 'cupco-secret-1'],
    ]);
    expect(c.hub.id).toBe('hub');
    expect(c.audit).toEqual({ measurement: 'hub_audit' });
    expect(c.cache).toEqual({ ttl: 30_000, figures: 300_000, history: 3_600_000 });
    expect(c.alarms).toEqual({});
  });

  it.each([
    ['an unknown key, with its path', SAMPLE.replace('role: enterprise, projects', 'role: enterprise, projetcs'), 'http.tokens[1].projetcs: unknown key'],
    [
      'an enterprise token without projects',
      SAMPLE.replace(', projects: [YK-2026-0173]', ''),
      'http.tokens[1].projects: an enterprise token needs the list of its project ids',
    ],
    [
      'an official token with projects',
      SAMPLE.replace('role: official }', 'role: official, projects: [A] }'),
      'http.tokens[0].projects: an official token sees every project',
    ],
    ['a role that does not exist', SAMPLE.replace('role: official', 'role: mayor'), 'http.tokens[0].role:'],
    ['a bad alarm threshold', `${SAMPLE}alarms: { gatewaySilent: soon }\n`, 'alarms.gatewaySilent: expected a duration'],
    ['a duplicate token name', SAMPLE.replace('name: cupco', 'name: bureau'), 'http.tokens[1].name: duplicate token name "bureau"'],
  ])('refuses %s', (_what, text, line) => {
    const p = problems(text);
    expect(p[0]).toBe('GW_ERR_CONFIG');
    expect(
      p.some((x) => x.startsWith(line)),
      p.join('\n'),
    ).toBe(true);
  });

  it('names the path of an unset ${VAR}', () => {
    expect(problems(SAMPLE, { BUREAU_TOKEN: 'bureau-secret-1' })).toEqual([
      'GW_ERR_CONFIG_ENV',
      'http.tokens[1].token: environment variable CUPCO_TOKEN is not set and has no default (write ${CUPCO_TOKEN:-default} to give one)',
    ]);
  });
});

describe('the projects folder', () => {
  const root = join(dir.path, 'projects');
  mkdirSync(join(root, 'a'), { recursive: true });
  writeFileSync(join(root, 'a', 'project.yaml'), project('YK-2026-0173', 'policy: ./my-policy.yaml\n'));
  writeFileSync(join(root, 'a', 'my-policy.yaml'), 'not: a gateway config\n');
  writeFileSync(join(root, 'a', 'line-1.yaml'), gateway('gw-1'));
  writeFileSync(join(root, 'a', 'line-2.yml'), gateway('gw-2', 'press-02'));
  mkdirSync(join(root, 'b'));
  writeFileSync(join(root, 'b', 'project.yaml'), project('YK-2026-0200'));
  writeFileSync(join(root, 'b', 'gw.yaml'), gateway('gw-b').replace('role: state', 'role: stat'));
  mkdirSync(join(root, 'not-a-project'));

  it('a project folder: its gateway configs are every other *.yaml, not the files project.yaml names', () => {
    // the named policy is not valid: reading it as the policy fails, and it is never read as a gateway config
    const a = loadProjectFolder(join(root, 'a'), {});
    expect(a.ok).toBe(false);
    expect(!a.ok && a.error).toMatch(/GW_ERR_POLICY/);
    writeFileSync(join(root, 'a', 'project.yaml'), project('YK-2026-0173'));
    const ok = loadProjectFolder(join(root, 'a'), {});
    expect(ok.ok).toBe(false); // my-policy.yaml is no longer named: now it is taken for a gateway config
    writeFileSync(join(root, 'a', 'project.yaml'), project('YK-2026-0173', 'policy: ./my-policy.yaml\n'));
  });

  it('lists every project folder; a broken one carries its error and does not stop the others', () => {
    writeFileSync(join(root, 'a', 'my-policy.yaml'), 'x: 1\n');
    const list = loadProjects(root, {});
    expect(list.map((p) => [p.folder, p.id, p.ok])).toEqual([
      ['a', 'YK-2026-0173', false],
      ['b', 'YK-2026-0200', false],
    ]);
    const b = list[1]!;
    expect(!b.ok && b.details.some((d) => d.includes('devices[0].tags[0].role'))).toBe(true);
  });

  it('fgw check --hub: exit 2 naming each broken project folder and path; exit 0 once they are right', async () => {
    const hubFile = join(dir.path, 'hub.yaml');
    writeFileSync(hubFile, SAMPLE);
    Object.assign(process.env, ENV);
    let out = '';
    let err = '';
    const io = { out: (s: string) => (out += s), err: (s: string) => (err += s) };
    expect(await main(['check', '--hub', hubFile], io)).toBe(2);
    expect(err).toMatch(/GW_ERR_CONFIG: .*2 project folder\(s\) cannot be read/);
    expect(err).toContain('devices[0].tags[0].role');
    writeFileSync(
      join(root, 'a', 'my-policy.yaml'),
      (await import('node:fs')).readFileSync(new URL('../../config/policy/yongkang-2019.yaml', import.meta.url), 'utf8'),
    );
    writeFileSync(join(root, 'b', 'gw.yaml'), gateway('gw-b'));
    out = '';
    err = '';
    expect(await main(['check', '--hub', hubFile], io), err).toBe(0);
    expect(out).toMatch(/^ok: .*hub\.yaml: hub hub, 2 project\(s\) .*\(3 gateways, 3 devices\), 2 token\(s\); reading http:\/\/127\.0\.0\.1:8086 db plants/);
  });
});

describe('gateway/hub/README.md', () => {
  it('holds the current hub.yaml reference (npm run docs)', async () => {
    const { hubReference } = await import('../../gateway/hub/reference.js');
    const text = (await import('node:fs')).readFileSync(new URL('../../gateway/hub/README.md', import.meta.url), 'utf8');
    expect(text).toContain(hubReference());
  });
});
