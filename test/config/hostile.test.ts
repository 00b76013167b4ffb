/**
 * Config input that is wrong but must never be survivable only by luck: placeholders written
 * literally, nested defaults, alias bombs and other YAML the parser accepts, a device file or a FIFO
 * given as the config, an impossible port, durations beyond Node's timer. Each ends in a coded config
 * error naming the path or the line (exit 2 from `fgw check`), or is handled as documented.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { longTimeout, systemClock } from '../../config/clock.js';
import { TIMER_MAX_MS } from '../../config/common.js';
import { parseConfigText } from '../../gateway/config.js';
import { tempDir } from '../helpers/tmp.js';

const root = new URL('../..', import.meta.url).pathname;
const fgw = join(root, 'gateway/bin/fgw.js');
const dir = tempDir('fgw-hostile-cfg-');
afterAll(() => dir.cleanup());

const HEAD = 'gateway: { id: g1 }\nstorage: { path: ./data }\n';

/** The coded error of parsing `text` (undefined when it parses). */
function errorOf(text: string, env: NodeJS.ProcessEnv = {}): { code: string; message: string; details: readonly string[] } | undefined {
  try {
    parseConfigText(text, { env, file: 'cfg.yaml' });
    return undefined;
  } catch (e) {
    const g = e as { code: string; message: string; details?: readonly string[] };
    return { code: g.code, message: g.message, details: g.details ?? [] };
  }
}

/** `fgw check` on a file: exit code and stderr (bounded: a config that hangs the loader fails the test). */
function check(file: string): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [fgw, 'check', '--config', file], { encoding: 'utf8', timeout: 15_000 });
  return { status: r.status, stderr: r.stderr };
}

function file(name: string, text: string): string {
  const p = join(dir.path, name);
  writeFileSync(p, text);
  return p;
}

describe('environment references', () => {
  it('a literal __fgwenv0__ stays literal and never takes a ${VAR} value (the password in every site tag)', () => {
    const cfg = parseConfigText(
      `gateway: { id: g1, site: "__fgwenv0__" }\nstorage: { path: ./data }\ninflux: { url: "http://127.0.0.1:8086", database: f, password: "\${INFLUX_PASSWORD}" }\n`,
      {
        env: { INFLUX_PASSWORD: 'hunter2' },
      },
    );
    expect(cfg.gateway.site).toBe('__fgwenv0__');
    expect(cfg.influx?.password).toBe('hunter2');
  });

  it('a placeholder-looking text with no reference at all does not crash the loader', () => {
    expect(parseConfigText(`gateway: { id: g1, site: "__fgwenv5__ and __fgwenv_abc_0__" }\nstorage: { path: ./data }\n`, { env: {} }).gateway.site).toBe(
      '__fgwenv5__ and __fgwenv_abc_0__',
    );
  });

  it.each<[string, NodeJS.ProcessEnv, string]>([
    ['${A:-${B}}', { B: 'from-b' }, 'from-b'],
    ['${A:-${B}}', { A: 'from-a', B: 'from-b' }, 'from-a'],
    ['${A:-${B:-x}}', {}, 'x'],
    ['${A:-pre-${B:-x}-post}', {}, 'pre-x-post'],
    ['${A:-}}', {}, '}'],
    ['${A:-{x}}', {}, '{x}'],
    ['$${A:-y}', {}, '$y'],
  ])('nested default %s with %j → %j', (ref, env, want) => {
    expect(
      parseConfigText(
        HEAD.replace('id: g1', () => `id: g1, site: "${ref}"`),
        { env },
      ).gateway.site,
    ).toBe(want);
  });

  it('a nested default whose inner variable is missing names it', () => {
    expect(errorOf(HEAD.replace('id: g1', 'id: g1, site: "${A:-${B}}"'))).toMatchObject({
      code: 'GW_ERR_CONFIG_ENV',
      details: [expect.stringMatching(/^gateway\.site: environment variable B is not set/)],
    });
  });

  it('a reference in a key is resolved like one in a value', () => {
    const cfg = parseConfigText(`gateway: { id: g1, \${KEY:-site}: yk }\nstorage: { path: ./data }\n`, { env: {} });
    expect(cfg.gateway.site).toBe('yk');
  });
});

describe('YAML the parser accepts but a config must not be: exit 2 naming the line', () => {
  const bomb = `${HEAD}a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n`;
  it.each<[string, string, RegExp]>([
    ['an undefined alias', `${HEAD}devices: *nope\n`, /line 3: alias \*nope has no anchor/],
    ['a recursive alias', `${HEAD}x: &x [1, *x]\n`, /line 3: alias \*x is inside the node it refers to/],
    ['an alias bomb (9^7 values from 300 bytes)', bomb, /line 9: the aliases expand to more than 1,000,000 values/],
    ['5,000-deep flow nesting', `${HEAD}x: ${'['.repeat(5000)}${']'.repeat(5000)}\n`, /line 3/],
    ['5,000-deep block nesting', `${HEAD}${Array.from({ length: 5000 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n')} 1\n`, /line \d+/],
    ['80-deep nesting the parser handles', `${HEAD}x: ${'['.repeat(80)}${']'.repeat(80)}\n`, /line 3: nested deeper than 64 levels/],
  ])('%s', (_name, text, detail) => {
    const e = errorOf(text);
    expect(e?.code).toBe('GW_ERR_CONFIG_READ');
    expect(e!.details.join('\n')).toMatch(detail);
    const r = check(file('shape.yaml', text));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(detail);
  });

  it('an anchor shared by 200 devices is fine (yaml refuses more than 100 aliases of one anchor by default)', () => {
    const conn = (i: number) => (i === 0 ? '&c { host: 127.0.0.1, port: 502, unitId: 1 }' : '*c');
    const devices = Array.from(
      { length: 200 },
      (_, i) => `  - { id: d${i}, protocol: modbus, connection: ${conn(i)}, tags: [{ name: t, area: holding, address: 0 }] }`,
    ).join('\n');
    const cfg = parseConfigText(`${HEAD}devices:\n${devices}\n`, { env: {} });
    expect(cfg.devices).toHaveLength(200);
  });
});

describe('what a config file may be', () => {
  it('/dev/zero is refused at once as not a regular file (it used to grow to 3 GB)', () => {
    const r = check('/dev/zero');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/GW_ERR_CONFIG_READ: config file \/dev\/zero is not a regular file \(a device\)/);
  });

  it('a FIFO is refused at once, not waited on forever', () => {
    const fifo = join(dir.path, 'fifo.yaml');
    execFileSync('mkfifo', [fifo]);
    const r = check(fifo);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/is not a regular file \(a FIFO\)/);
  });

  it('a directory, and a file over 16 MB, are refused', () => {
    expect(check(dir.path).stderr).toMatch(/not a regular file \(a directory\)/);
    const big = file('big.yaml', HEAD);
    truncateSync(big, 17 * 1024 * 1024);
    const r = check(big);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/larger than 16 MB/);
  });

  it('listen: 127.0.0.1:99999 fails the check naming http.listen', () => {
    expect(errorOf(`${HEAD}http: { listen: "127.0.0.1:99999" }\n`)).toMatchObject({
      code: 'GW_ERR_CONFIG',
      details: ['http.listen: the port must be 0..65535'],
    });
    expect(errorOf(`${HEAD}http: { listen: "127.0.0.1:65535" }\n`)).toBeUndefined();
  });
});

describe('durations beyond Node timers (2^31-1 ms, 24d 20h)', () => {
  const modbus = (interval: string) =>
    `${HEAD}devices:\n  - { id: m1, protocol: modbus, interval: ${interval}, connection: { host: 127.0.0.1, port: 502, unitId: 1 }, tags: [{ name: t, area: holding, address: 0 }] }\n`;
  it.each<[string, string, string]>([
    ['a poll interval of 30d', modbus('30d'), 'devices[0].interval: expected at most 24d 20h 31m, the longest timer Node can run, got "30d"'],
    ['the same in ms', modbus('3000000000'), 'devices[0].interval: expected at most 24d 20h 31m, the longest timer Node can run, got 3000000000'],
    [
      'statusInterval 30d',
      'gateway: { id: g1, statusInterval: 30d }\nstorage: { path: ./data }\n',
      'gateway.statusInterval: expected at most 24d 20h 31m, the longest timer Node can run, got "30d"',
    ],
    [
      'an MQTT keepalive of 1d',
      `${HEAD}devices:\n  - { id: q1, protocol: mqtt, connection: { url: "mqtt://127.0.0.1:1883", keepalive: 1d }, tags: [{ name: t, topic: a/b }] }\n`,
      'devices[0].connection.keepalive: expected at most 65535s (the MQTT keepalive field), got "1d"',
    ],
  ])('%s is refused naming the key', (_name, text, detail) => {
    expect(errorOf(text)).toMatchObject({ code: 'GW_ERR_CONFIG', details: [detail] });
  });

  it('24d and a retention of 400d are accepted (retention drives no timer)', () => {
    expect(parseConfigText(modbus('24d'), { env: {} }).devices[0]!.interval).toBe(24 * 86_400_000);
    expect(parseConfigText('gateway: { id: g1 }\nstorage: { path: ./data, retention: 400d }\n', { env: {} }).storage.retention).toBe(400 * 86_400_000);
  });

  it('the system clock chains a delay beyond 2^31-1 ms instead of firing it after 1 ms', async () => {
    let fired = false;
    const long = systemClock.setTimeout(() => (fired = true), 30 * 86_400_000);
    const direct = longTimeout(() => (fired = true), TIMER_MAX_MS + 1);
    const ac = new AbortController();
    const slept = systemClock.sleep(30 * 86_400_000, ac.signal).then(() => 'woken');
    // a 50 ms timer fires first: the overflowing ones would have fired after 1 ms
    await new Promise((r) => setTimeout(r, 50));
    expect(fired).toBe(false);
    ac.abort();
    expect(await slept).toBe('woken');
    systemClock.clearTimeout(long);
    clearTimeout(direct.__timer);
  });
});
