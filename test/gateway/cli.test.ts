/**
 * The command line's one help format and one exit-code policy (gateway/cli/io.ts): 0 done, 2 bad
 * usage or invalid input, 1 a runtime failure; through main() as the binary calls it, and once
 * through the shipped binary itself.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../gateway/cli/index.js';
import { startInflux } from '../helpers/influx.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';

const COMMANDS = ['run', 'check', 'hub', 'query', 'demo', 'verify', 'probe', 'browse', 'pki', 'store'];

async function fgw(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += `${s}\n`), err: (s) => (err += `${s}\n`) });
  return { code, out, err };
}

let dir: ReturnType<typeof tempDir>;
let config: string;
let closedPort: number;

beforeAll(async () => {
  dir = tempDir('fgw-cli-');
  closedPort = await freePort(); // nothing listens on it
  config = join(dir.path, 'gateway.yaml');
  writeFileSync(
    config,
    [
      'gateway: { id: line-01 }',
      'storage: { path: ./store }',
      `influx: { url: "http://127.0.0.1:${closedPort}", database: factory }`,
      'devices:',
      '  - id: press-01',
      '    protocol: modbus',
      `    connection: { host: 127.0.0.1, port: ${closedPort}, unitId: 1 }`,
      '    interval: 1s',
      '    tags: [{ name: state, area: holding, address: 0, type: uint16 }]',
      '',
    ].join('\n'),
  );
});

afterAll(() => dir.cleanup());

describe('fgw help', () => {
  it('without a command: the overview of every command on stdout, exit 2', async () => {
    const r = await fgw();
    expect(r.code).toBe(2);
    for (const c of COMMANDS) expect(r.out, c).toMatch(new RegExp(`^  fgw ${c}\\b`, 'm'));
    expect(r.out).toContain('Exit codes: 0 done; 2 bad usage or invalid input');
  });

  it("asked for: exit 0; `fgw <command> --help` and `fgw help <command>` print that command's usage block", async () => {
    expect((await fgw('help')).code).toBe(0);
    for (const c of COMMANDS) {
      const a = await fgw(c, '--help');
      expect(a.code, c).toBe(0);
      expect(a.out, c).toMatch(new RegExp(`^usage:\\n  fgw ${c}\\b`));
      expect((await fgw('help', c)).out).toBe(a.out);
    }
  });
});

describe('exit codes', () => {
  it('2 for an unknown command, an unknown option, a missing argument, each with the usage', async () => {
    const unknown = await fgw('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('unknown command "frobnicate"');
    const option = await fgw('run', '--config', config, '--bogus');
    expect(option.code).toBe(2);
    expect(option.err).toMatch(/^GW_ERR_USAGE: .*--bogus/m);
    expect(option.err).toMatch(/^usage:\n  fgw run --config/m);
    const missing = await fgw('pki', 'list');
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/^GW_ERR_USAGE: give the PKI folder/m);
    expect((await fgw('query', '--config', config)).err).toMatch(/^GW_ERR_USAGE: --config and --device are required/m);
  });

  it('2 for invalid input: a config that does not validate, a config file that is not there', async () => {
    const bad = join(dir.path, 'bad.yaml');
    writeFileSync(bad, 'gateway: { id: line-01 }\ndevices: [{ id: x, protocol: modbus }]\n');
    const r = await fgw('check', '--config', bad);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^GW_ERR_CONFIG: /m);
    expect(r.err).toMatch(/^ {2}devices\[0\]\./m);
    expect((await fgw('check', '--config', join(dir.path, 'none.yaml'))).code).toBe(2);
  });

  it('1 for a runtime failure: InfluxDB not reachable, a device not answering', async () => {
    const q = await fgw('query', '--config', config, '--device', 'press-01', '--source', 'influx');
    expect(q.code).toBe(1);
    expect(q.err).toMatch(/^GW_ERR_INFLUX: /m);
    const p = await fgw('probe', 'modbus', '--host', '127.0.0.1', '--port', String(closedPort), '--timeout', '500ms');
    expect(p.code).toBe(1);
    expect(p.err).toMatch(/cannot connect|no answer|failed/);
  });

  it('a real InfluxDB with authentication: wrong credentials are GW_ERR_INFLUX_AUTH (exit 1), the password not shown; right ones read', async () => {
    const influx = await startInflux({ admin: { username: 'admin', password: 'admin-pw' } });
    try {
      await influx.query('CREATE DATABASE factory');
      await influx.createUser('reader', 'reader-pw', [['READ', 'factory']]);
      const withCreds = (user: string, pw: string) => {
        const file = join(dir.path, `auth-${user}-${pw}.yaml`);
        writeFileSync(
          file,
          [
            'gateway: { id: line-01 }',
            'storage: { path: ./store }',
            `influx: { url: "http://${user}:${pw}@127.0.0.1:${influx.port}", database: factory }`,
            'devices: []',
            '',
          ].join('\n'),
        );
        return file;
      };
      const bad = await fgw('query', '--config', withCreds('reader', 'wrong-secret'), '--device', 'press-01', '--source', 'influx');
      expect(bad.code).toBe(1);
      expect(bad.err).toMatch(/^GW_ERR_INFLUX_AUTH: InfluxDB query failed \(http:\/\/127\.0\.0\.1:\d+, database factory\)/m);
      expect(bad.err).not.toContain('wrong-secret');
      const good = await fgw('query', '--config', withCreds('reader', 'reader-pw'), '--device', 'press-01', '--source', 'influx');
      expect(good.err, good.err).toContain('0 readings');
      expect(good.code).toBe(0);
    } finally {
      await influx.cleanup();
    }
  });

  it('0 for a valid config; the shipped binary exits with what main() returns', async () => {
    expect((await fgw('check', '--config', config)).code).toBe(0);
    // a relative time after --from/--to is a value, not an option, with or without "="
    for (const from of [['--from', '-5m'], ['--from=-5m']]) {
      const q = await fgw('query', '--config', config, '--device', 'press-01', ...from, '--to', 'now');
      expect(q.code, from.join(' ')).toBe(0);
      expect(q.err).toContain('0 readings');
    }
    const bin = join(new URL('../..', import.meta.url).pathname, 'gateway/bin/fgw.js');
    const run = (...a: string[]) => spawnSync(process.execPath, [bin, ...a], { encoding: 'utf8' });
    expect(run('check', '--config', config).status).toBe(0);
    expect(run('check', '--config', config, '--bogus').status).toBe(2);
    expect(run('query', '--config', config, '--device', 'press-01', '--source', 'influx').status).toBe(1);
  });
});
