import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDuration, parseSize } from '../../config/common.js';
import { ErrorCodes, GatewayError } from '../../config/errors.js';
import { interpolateEnv } from '../../config/load.js';
import { loadConfig, parseConfigText } from '../../gateway/config.js';
import { tempDir } from '../helpers/tmp.js';

const root = new URL('../..', import.meta.url).pathname;
const shipped = join(root, 'config/gateway.yaml');
const fgw = join(root, 'gateway/bin/fgw.js');

/** A small valid config; each bad case below changes one thing in it. */
const base = () => ({
  gateway: { id: 'line-01', site: 'yk' },
  storage: { path: './data', maxSize: '1GB', retention: '7d' },
  devices: [
    {
      id: 'press-01',
      protocol: 'modbus',
      connection: { host: '127.0.0.1', port: 5020, unitId: 1, timeout: '1s' },
      interval: '1s',
      tags: [
        { name: 'state', role: 'state', area: 'holding', address: 0, type: 'uint16' },
        { name: 'tonnage', role: 'parameter', area: 'holding', address: 3, type: 'float32', byteOrder: 'CDAB' },
      ],
    },
  ],
});

function problems(cfg: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfigText(JSON.stringify(cfg), { env });
  } catch (e) {
    if (e instanceof GatewayError) return [...e.details];
    throw e;
  }
  return [];
}

describe('the shipped example config (a copy of the canonical gateway.yaml)', () => {
  it('is accepted as written, every device and tag kept', () => {
    const { config } = loadConfig(shipped, {});
    expect(config.gateway).toMatchObject({ id: 'line-01', site: 'yk-cup-plant' });
    expect(config.devices.map((d) => [d.id, d.protocol, d.tags.length])).toEqual([
      ['press-01', 'modbus', 6],
      ['welder-02', 'modbus', 3],
      ['lathe-03', 'opcua', 4],
      ['polisher-04', 'mqtt', 3],
    ]);
    expect(config.storage.maxSize).toBe(2 * 1024 ** 3);
    expect(config.storage.retention).toBe(14 * 86_400_000);
    expect(config.influx).toMatchObject({ url: 'http://127.0.0.1:8086', database: 'factory', measurement: 'equipment', batchSize: 5000, flushInterval: 1000 });
    expect(config.http.tokens.map((t) => [t.name, t.system, t.token, t.scopes])).toEqual([
      ['mes', 'MES', 'mes-dev-token', ['read']],
      ['operator', 'platform', 'operator-dev-token', ['read', 'write']],
    ]);
    expect(config.devices[2]!.interval).toBe(500);
    expect(Object.isFrozen(config.devices[0]!.tags[0])).toBe(true);
  });

  it('takes secrets from the environment when set', () => {
    const { config } = loadConfig(shipped, { MES_TOKEN: 'from-env-123456', INFLUX_USER: 'u', INFLUX_PASSWORD: 'p' });
    expect(config.http.tokens[0]!.token).toBe('from-env-123456');
    expect(config.influx).toMatchObject({ username: 'u', password: 'p' });
  });

  it('`fgw check` exits 0 on it', () => {
    const out = execFileSync(process.execPath, [fgw, 'check', '--config', shipped], { encoding: 'utf8', env: { ...process.env, MES_TOKEN: '' } });
    expect(out).toMatch(/^ok: .*4 devices \(2 modbus, 1 opcua, 1 mqtt\), 16 tags/);
  });
});

describe('bad configs name the path of the problem', () => {
  const cases: Array<[string, (c: ReturnType<typeof base>) => unknown, string]> = [
    ['unknown top-level key', (c) => ({ ...c, devics: [] }), 'devics'],
    ['missing gateway id', (c) => ({ ...c, gateway: { site: 'x' } }), 'gateway.id'],
    ['gateway id with a space', (c) => ({ ...c, gateway: { id: 'line 01' } }), 'gateway.id'],
    ['bad duration', (c) => ({ ...c, storage: { ...c.storage, retention: '14 days' } }), 'storage.retention'],
    ['bad size', (c) => ({ ...c, storage: { ...c.storage, maxSize: 'lots' } }), 'storage.maxSize'],
    ['unknown protocol', (c) => ({ ...c, devices: [{ ...c.devices[0]!, protocol: 'profinet' }] }), 'devices[0].protocol'],
    ['typo in a device key', (c) => ({ ...c, devices: [{ ...c.devices[0]!, intervall: '1s' }] }), 'devices[0].intervall'],
    [
      'bad byte order',
      (c) => ({ ...c, devices: [{ ...c.devices[0]!, tags: [c.devices[0]!.tags[0]!, { ...c.devices[0]!.tags[1]!, byteOrder: 'DCAB' }] }] }),
      'devices[0].tags[1].byteOrder',
    ],
    ['bad tag role', (c) => ({ ...c, devices: [{ ...c.devices[0]!, tags: [{ ...c.devices[0]!.tags[0]!, role: 'status' }] }] }), 'devices[0].tags[0].role'],
    [
      'a tag called time (InfluxDB refuses it)',
      (c) => ({ ...c, devices: [{ ...c.devices[0]!, tags: [{ ...c.devices[0]!.tags[0]!, name: 'time' }] }] }),
      'devices[0].tags[0].name',
    ],
    [
      'duplicate tag name',
      (c) => ({ ...c, devices: [{ ...c.devices[0]!, tags: [c.devices[0]!.tags[0]!, { ...c.devices[0]!.tags[1]!, name: 'state' }] }] }),
      'devices[0].tags[1].name',
    ],
    ['duplicate device id', (c) => ({ ...c, devices: [c.devices[0]!, c.devices[0]!] }), 'devices[1].id'],
    ['influx without url', (c) => ({ ...c, influx: { database: 'factory' } }), 'influx.url'],
    ['token too short', (c) => ({ ...c, http: { tokens: [{ name: 'mes', system: 'MES', token: 'x', scopes: ['read'] }] } }), 'http.tokens[0].token'],
    [
      'bad token scope',
      (c) => ({ ...c, http: { tokens: [{ name: 'mes', system: 'MES', token: 'long-enough-token', scopes: ['admin'] }] } }),
      'http.tokens[0].scopes[0]',
    ],
    ['bad listen address', (c) => ({ ...c, http: { listen: '8080' } }), 'http.listen'],
  ];
  it.each(cases)('%s → %s', (_name, mutate, path) => {
    const lines = problems(mutate(base()));
    expect(lines.length).toBeGreaterThan(0);
    expect(
      lines.some((l) => l.startsWith(`${path}:`)),
      `expected a line for ${path}, got:\n${lines.join('\n')}`,
    ).toBe(true);
  });

  it('the valid base config has no problems', () => {
    expect(problems(base())).toEqual([]);
  });

  it('a missing ${VAR} without default is an error naming the variable and the path', () => {
    const c = base() as Record<string, unknown>;
    c.influx = { url: 'http://127.0.0.1:8086', database: 'f', password: '${INFLUX_SECRET}' };
    try {
      parseConfigText(JSON.stringify(c), { env: {} });
      expect.unreachable();
    } catch (e) {
      expect((e as GatewayError).code).toBe(ErrorCodes.CONFIG_ENV);
      expect((e as GatewayError).details).toEqual([expect.stringMatching(/^influx\.password: .*INFLUX_SECRET/)]);
    }
  });

  it('`fgw check` exits 2 with one line per problem, naming each path', () => {
    const dir = tempDir();
    try {
      const c = base();
      const bad = { ...c, devices: [{ ...c.devices[0]!, tags: [{ ...c.devices[0]!.tags[0]!, byteOrder: 'XYZW' }], intervall: 1 }] };
      const file = join(dir.path, 'bad.yaml');
      writeFileSync(file, JSON.stringify(bad));
      let code = 0;
      let err = '';
      try {
        execFileSync(process.execPath, [fgw, 'check', '--config', file], { encoding: 'utf8', stdio: 'pipe' });
      } catch (e) {
        code = (e as { status: number }).status;
        err = (e as { stderr: string }).stderr;
      }
      expect(code).toBe(2);
      expect(err).toMatch(/GW_ERR_CONFIG/);
      expect(err).toMatch(/^ {2}devices\[0\]\.tags\[0\]\.byteOrder: /m);
      expect(err).toMatch(/^ {2}devices\[0\]\.intervall: unknown key/m);
    } finally {
      dir.cleanup();
    }
  });
});

describe('interpolation and units', () => {
  it.each([
    ['${A}', { A: 'x' }, 'x'],
    ['${A:-d}', {}, 'd'],
    ['${A:-}', {}, ''],
    ['pre-${A}-${B:-b}', { A: '1' }, 'pre-1-b'],
    ['no refs $A {A}', {}, 'no refs $A {A}'],
  ])('%s → %s', (text, env, want) => {
    expect(interpolateEnv(text, env, [])).toBe(want);
  });

  it('a reference inside a YAML flow mapping parses (the canonical `{ password: ${LATHE_PASSWORD:-secret} }`)', () => {
    const cfg = `gateway: { id: g, site: \${SITE:-yk} }\nstorage: { path: ./d, retention: \${RET:-7d} }\nhttp: { listen: "127.0.0.1:\${PORT:-8081}", bodyLimit: \${LIMIT:-1000} }\n`;
    const parsed = parseConfigText(cfg, { env: { LIMIT: '2048' } });
    expect(parsed.gateway.site).toBe('yk');
    expect(parsed.storage.retention).toBe(7 * 86_400_000);
    expect(parsed.http.listen).toBe('127.0.0.1:8081');
    expect(parsed.http.bodyLimit).toBe(2048);
  });

  it('a value from the environment cannot inject YAML structure', () => {
    const cfg = base() as Record<string, unknown>;
    (cfg.gateway as Record<string, unknown>).site = '${SITE}';
    const parsed = parseConfigText(JSON.stringify(cfg), { env: { SITE: 'a\nstorage: {path: /etc}' } });
    expect(parsed.gateway.site).toBe('a\nstorage: {path: /etc}');
    expect(parsed.storage.path).toBe('./data');
  });

  it.each([
    ['500ms', 500],
    ['1s', 1000],
    ['1.5s', 1500],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['14d', 1_209_600_000],
    ['1 s', 1000],
    ['1x', undefined],
    ['', undefined],
  ])('duration %s → %s', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each([
    ['2GB', 2147483648],
    ['512MB', 536870912],
    ['1GiB', 1073741824],
    ['10kb', 10240],
    ['2 GB', 2147483648],
    ['2G', undefined],
  ])('size %s → %s', (text, bytes) => expect(parseSize(text)).toBe(bytes));
});
