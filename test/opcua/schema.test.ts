/**
 * The OPC UA device schema: accepts exactly what config/gateway.yaml writes for lathe-03 (through
 * the real loader, ${ENV:-default} and all), fills documented defaults, and refuses bad input with
 * the path of the field.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import opcua from '../../adapters/opcua/index.js';
import { parse as parseYaml } from 'yaml';
import { parseConfigText } from '../../gateway/config.js';

const base = { id: 'm1', protocol: 'opcua', connection: { endpoint: 'opc.tcp://127.0.0.1:4840' }, tags: [{ name: 'a', nodeId: 'ns=1;s=A' }] };

describe('opcua schema', () => {
  it('accepts the canonical gateway.yaml lathe-03 as written', () => {
    const cfg = parseConfigText(readFileSync(new URL('../../config/gateway.yaml', import.meta.url), 'utf8'), { env: {} });
    const lathe = cfg.devices.find((d) => d.id === 'lathe-03') as unknown as ReturnType<typeof opcua.deviceSchema.parse>;
    expect(lathe.interval).toBe(500);
    expect(lathe.connection).toMatchObject({
      endpoint: 'opc.tcp://127.0.0.1:4840',
      securityMode: 'SignAndEncrypt',
      securityPolicy: 'Basic256Sha256',
      auth: { type: 'username', username: 'gateway', password: 'secret' },
      trustUnknownServers: false,
      requestTimeout: 10_000,
    });
    expect(lathe.tags.map((t) => [t.name, t.nodeId, t.mode])).toEqual([
      ['state', 'ns=1;s=Lathe3.State', 'subscribe'],
      ['parts', 'ns=1;s=Lathe3.PartCount', 'subscribe'],
      ['spindle_speed', 'ns=1;s=Lathe3.SpindleSpeed', 'subscribe'],
      ['program', 'ns=1;s=Lathe3.Program', 'poll'],
    ]);
    expect(lathe.tags[2]!.deadband).toEqual({ type: 'absolute', value: 5 });
  });

  it('accepts the README sample (samples cannot drift)', () => {
    const readme = readFileSync(new URL('../../adapters/opcua/README.md', import.meta.url), 'utf8');
    const block = /## Sample\s+```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const doc = parseYaml(block!.replace(/\$\{(\w+):-([^}]*)\}/g, '$2')) as { devices: unknown[] };
    const d = opcua.deviceSchema.parse(doc.devices[0]);
    expect(d.connection.securityPolicy).toBe('Basic256Sha256');
    expect(d.tags).toHaveLength(4);
  });

  it('fills the documented defaults', () => {
    const d = opcua.deviceSchema.parse(base);
    expect(d.connection).toEqual({
      endpoint: 'opc.tcp://127.0.0.1:4840',
      securityMode: 'None',
      securityPolicy: 'None',
      auth: { type: 'anonymous' },
      trustUnknownServers: false,
      requestTimeout: 10_000,
      sessionTimeout: 60_000,
      reconnectDelay: 1000,
      reconnectMaxDelay: 30_000,
    });
    expect(d.tags[0]).toMatchObject({ mode: 'subscribe', queueSize: 10, role: 'other', writable: false });
    expect(d).toMatchObject({ interval: 1000, enabled: true, republishInterval: 30_000 });
    expect(opcua.deviceSchema.parse({ ...base, connection: { ...base.connection, securityMode: 'Sign' } }).connection.securityPolicy).toBe('Basic256Sha256');
  });

  it.each([
    [{ connection: { endpoint: 'http://x:1' } }, 'connection.endpoint'],
    [{ connection: { ...base.connection, securityMode: 'Encrypt' } }, 'connection.securityMode'],
    [{ connection: { ...base.connection, securityPolicy: 'Basic256Sha256' } }, 'connection.securityPolicy'],
    [{ connection: { ...base.connection, securityMode: 'SignAndEncrypt', securityPolicy: 'None' } }, 'connection.securityPolicy'],
    [{ connection: { ...base.connection, auth: { type: 'username', username: 'u' } } }, 'connection.auth.password'],
    [{ connection: { ...base.connection, auth: { type: 'kerberos' } } }, 'connection.auth.type'],
    [{ connection: { ...base.connection, extra: 1 } }, 'connection'],
    [{ tags: [{ name: 'a', nodeId: 'Lathe3.State' }] }, 'tags.0.nodeId'],
    [{ tags: [{ name: 'a', nodeId: 'ns=1;s=A', mode: 'stream' }] }, 'tags.0.mode'],
    [{ tags: [{ name: 'a', nodeId: 'ns=1;s=A', deadband: { type: 'relative', value: 1 } }] }, 'tags.0.deadband.type'],
    [{ tags: [{ name: 'a', nodeId: 'ns=1;s=A', samplingInterval: 'soon' }] }, 'tags.0.samplingInterval'],
    [{ tags: [{ name: 'a', nodeId: 'ns=1;s=A', address: 3 }] }, 'tags.0'],
    [
      {
        tags: [
          { name: 'a', nodeId: 'ns=1;s=A' },
          { name: 'a', nodeId: 'ns=1;s=B' },
        ],
      },
      'tags.1.name',
    ],
  ])('refuses %j at %s', (patch, path) => {
    const r = opcua.deviceSchema.safeParse({ ...base, ...patch });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path.join('.'))).toContain(path);
  });

  it('warns about risky but valid settings', () => {
    const d = opcua.deviceSchema.parse({
      ...base,
      connection: { ...base.connection, securityMode: 'SignAndEncrypt', trustUnknownServers: true },
      tags: [{ name: 'a', nodeId: 'ns=1;s=A', mode: 'poll', deadband: { type: 'absolute', value: 1 } }],
    });
    const w = opcua.warnings!(d, 'devices[0]');
    expect(w).toHaveLength(2);
    expect(w[0]).toMatch(/^devices\[0\]\.connection\.trustUnknownServers/);
    expect(w[1]).toMatch(/^devices\[0\]\.tags\[0\]/);
  });
});
