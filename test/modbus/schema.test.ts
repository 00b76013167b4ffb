/**
 * The Modbus device schema accepts every modbus device of the canonical config and the README
 * sample as written, and rejects bad input with the path of the offending field.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import modbus, { warnings } from '../../adapters/modbus/index.js';
import { deviceSchema } from '../../adapters/modbus/schema.js';

const root = new URL('../../', import.meta.url);
// ${VAR:-default} resolved to its default (the loader's interpolation is not under test here)
const gatewayText = readFileSync(new URL('config/gateway.yaml', root), 'utf8').replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');
const gatewayYaml = parse(gatewayText) as { devices: Array<{ protocol: string }> };
const modbusDevices = gatewayYaml.devices.filter((d) => d.protocol === 'modbus');

/** the ```yaml blocks of the README that hold a `devices:` list */
function readmeSamples(): unknown[] {
  const md = readFileSync(new URL('adapters/modbus/README.md', root), 'utf8');
  const out: unknown[] = [];
  for (const m of md.matchAll(/```yaml\n([\s\S]*?)```/g)) {
    const doc = parse(m[1]!) as { devices?: unknown[] } | null;
    if (doc && Array.isArray(doc.devices)) out.push(...doc.devices);
  }
  return out;
}

const base = { id: 'd1', protocol: 'modbus', connection: { host: '127.0.0.1', port: 5020 }, tags: [{ name: 'a', area: 'holding', address: 0 }] };
const withTag = (tag: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  ...base,
  ...extra,
  tags: [
    { name: 'ok', area: 'holding', address: 0 },
    { name: 'x', area: 'holding', address: 1, ...tag },
  ],
});

function issues(input: unknown): string[] {
  const r = deviceSchema.safeParse(input);
  if (r.success) return [];
  return r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('modbus device schema', () => {
  it('is the registered module for protocol modbus', () => {
    expect(modbus.protocol).toBe('modbus');
    expect(modbus.deviceSchema).toBe(deviceSchema);
  });

  it('accepts both modbus devices of config/gateway.yaml as written', () => {
    expect(modbusDevices).toHaveLength(2);
    for (const d of modbusDevices) expect(issues(d)).toEqual([]);
    const [press, welder] = modbusDevices.map((d) => deviceSchema.parse(d));
    expect(press!.connection).toMatchObject({ host: '127.0.0.1', port: 5020, unitId: 1, timeout: 1000, framing: 'tcp' });
    expect(press!.tags[5]).toMatchObject({ name: 'lube_ok', area: 'holding', address: 5, type: 'bool', bit: 3 });
    expect(welder!.connection.serial).toEqual({ path: '/dev/ttyUSB0', baudRate: 19200, parity: 'even', dataBits: 8, stopBits: 1 });
    expect(welder!.connection.timeout).toBe(500);
    expect(welder!.interval).toBe(2000);
  });

  it('accepts the README samples', () => {
    const samples = readmeSamples();
    expect(samples.length).toBeGreaterThanOrEqual(2);
    for (const d of samples) expect(issues(d)).toEqual([]);
  });

  it('fills documented defaults', () => {
    const d = deviceSchema.parse(base);
    expect(d).toMatchObject({
      maxGap: 10,
      maxRegistersPerRequest: 125,
      maxBitsPerRequest: 2000,
      interRequestDelay: 0,
      delayAfterConnect: 0,
      closeAfterPoll: false,
      retries: 0,
      interval: 1000,
    });
    expect(d.tags[0]).toMatchObject({ byteOrder: 'ABCD', scale: 1, offset: 0, encoding: 'utf8', writable: false });
  });

  it.each<[string, unknown, string]>([
    ['unknown device key', { ...base, pollRate: 5 }, ''],
    ['unknown connection key', { ...base, connection: { host: 'h', baud: 1 } }, 'connection'],
    ['bad byte order', withTag({ type: 'float32', byteOrder: 'ADCB' }), 'tags.1.byteOrder'],
    ['unknown area', withTag({ area: 'holdings' }), 'tags.1.area'],
    ['unknown tag key', withTag({ adress: 3 }), 'tags.1'],
    ['no host nor serial', { ...base, connection: { port: 502 } }, 'connection'],
    ['both host and serial', { ...base, connection: { host: 'h', serial: { path: '/dev/x' } } }, 'connection'],
    ['framing on serial', { ...base, connection: { serial: { path: '/dev/x' }, framing: 'rtu-over-tcp' } }, 'connection.framing'],
    ['bad parity', { ...base, connection: { serial: { path: '/dev/x', parity: 'evn' } } }, 'connection.serial.parity'],
    ['bad timeout', { ...base, connection: { host: 'h', timeout: 'soon' } }, 'connection.timeout'],
    ['bit on a coil', withTag({ area: 'coil', bit: 1 }), 'tags.1.bit'],
    ['bit on float32', withTag({ type: 'float32', bit: 1 }), 'tags.1.bit'],
    ['bit out of range', withTag({ type: 'bool', bit: 16 }), 'tags.1.bit'],
    ['bool in holding without bit', withTag({ type: 'bool' }), 'tags.1.type'],
    ['uint16 in a coil', withTag({ area: 'coil', type: 'uint16' }), 'tags.1.type'],
    ['string without length', withTag({ type: 'string' }), 'tags.1.length'],
    ['length on uint16', withTag({ type: 'uint16', length: 2 }), 'tags.1.length'],
    ['scale 0', withTag({ type: 'int16', scale: 0 }), 'tags.1.scale'],
    ['scale on a bit', withTag({ type: 'bool', bit: 1, scale: 2 }), 'tags.1.scale'],
    ['writeFunction 6 for float32', withTag({ type: 'float32', writeFunction: 6 }), 'tags.1.writeFunction'],
    ['writeFunction 5 for holding', withTag({ writeFunction: 5 }), 'tags.1.writeFunction'],
    ['writable input register', withTag({ area: 'input', writable: true }), 'tags.1.writable'],
    ['string longer than the device limit', withTag({ type: 'string', length: 20 }, { maxRegistersPerRequest: 10 }), 'tags.1.length'],
    ['address past 65535', withTag({ address: 65535, type: 'uint32' }), 'tags.1.address'],
    [
      'duplicate tag names',
      {
        ...base,
        tags: [
          { name: 'a', area: 'holding', address: 0 },
          { name: 'a', area: 'holding', address: 1 },
        ],
      },
      'tags.1.name',
    ],
    ['maxRegistersPerRequest above 125', { ...base, maxRegistersPerRequest: 126 }, 'maxRegistersPerRequest'],
    ['wrong protocol', { ...base, protocol: 'opcua' }, 'protocol'],
    ['interval 0', { ...base, interval: 0 }, 'interval'],
  ])('rejects %s at path "%s"', (_name, input, path) => {
    const found = issues(input);
    expect(found.length).toBeGreaterThan(0);
    expect(found.map((f) => f.slice(0, f.indexOf(':')))).toContain(path);
  });

  it.each([
    ['holding', 40001, 'devices[0].tags[1].address: 40001 looks like a 1-based 4xxxx register number'],
    ['holding', 40100, 'devices[0].tags[1].address: 40100 looks like a 1-based 4xxxx register number'],
    ['input', 30001, 'devices[0].tags[1].address: 30001 looks like a 1-based 3xxxx register number'],
    ['discrete', 10005, 'devices[0].tags[1].address: 10005 looks like a 1-based 1xxxx register number'],
  ])('warns on a %s address %i that looks 1-based', (area, address, text) => {
    const d = deviceSchema.parse(withTag({ area, address }));
    const w = warnings(d, 'devices[0]');
    expect(w).toHaveLength(1);
    expect(w[0]).toContain(text);
  });

  it.each([
    ['holding', 100],
    ['holding', 39999],
    ['input', 40001],
    ['coil', 40001],
  ])('does not warn on %s address %i', (area, address) => {
    expect(warnings(deviceSchema.parse(withTag({ area, address })), 'devices[0]')).toEqual([]);
  });
});
