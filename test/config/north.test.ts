/**
 * The `north:` list: the entry is accepted as written and means what it says; `fgw check`
 * accepts it; bad entries name their path.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../config/errors.js';
import { parseConfigText } from '../../gateway/config.js';
import { northDevices } from '../../gateway/north.js';
import { tempDir } from '../helpers/tmp.js';

const root = new URL('../..', import.meta.url).pathname;
const fgw = join(root, 'gateway/bin/fgw.js');

const AS_WRITTEN = `
gateway: { id: line-01, site: yk }
storage: { path: ./data }
devices:
  - id: press-01
    line: line-01
    protocol: modbus
    connection: { host: 127.0.0.1, port: 5020, unitId: 1 }
    interval: 1s
    tags:
      - { name: state, role: state, area: holding, address: 0, type: uint16 }
      - { name: tonnage, role: parameter, area: holding, address: 3, type: float32, byteOrder: CDAB }
      - { name: temp, role: parameter, area: holding, address: 5, type: int16, scale: 0.1 }
north:
  - name: platform
    system: platform
    url: mqtt://platform.example:1883
    format: json
    topic: "factory/{site}/{line}/{device}"
`;

function problems(text: string): string[] {
  try {
    parseConfigText(text);
  } catch (e) {
    if (e instanceof GatewayError) return [...e.details];
    throw e;
  }
  return [];
}

/** the base config with the north entry's lines replaced */
const withNorth = (entry: string) => AS_WRITTEN.slice(0, AS_WRITTEN.indexOf('north:')) + `north:\n${entry}\n`;

describe('north: config', () => {
  it("the issue's entry is accepted as written and means: every device, every tag, JSON, QoS 1, no writes", () => {
    const cfg = parseConfigText(AS_WRITTEN);
    expect(cfg.north).toHaveLength(1);
    const t = cfg.north[0]!;
    expect(t).toMatchObject({
      name: 'platform',
      system: 'platform',
      url: 'mqtt://platform.example:1883',
      format: 'json',
      topic: 'factory/{site}/{line}/{device}',
      qos: 1,
      enabled: true,
      allowWrites: false,
      replayRate: 1000,
    });
    expect(t.devices).toBeUndefined();
    const devices = northDevices(t, cfg.devices);
    expect(devices.map((d) => [d.id, d.tags.map((x) => x.name)])).toEqual([['press-01', ['state', 'tonnage', 'temp']]]);
    // the configured types (Sparkplug datatypes): wire type where the value is the device's own
    expect(devices[0]!.tags.map((x) => x.type)).toEqual([{ kind: 'integer', wire: 'uint16' }, { kind: 'float', wire: 'float32' }, { kind: 'float' }]);
  });

  it('`fgw check` accepts it', () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, 'gateway.yaml');
      writeFileSync(file, AS_WRITTEN);
      const out = execFileSync(process.execPath, [fgw, 'check', '--config', file], { encoding: 'utf8' });
      expect(out).toMatch(/^ok: .*; north: platform \(json\)$/m);
    } finally {
      dir.cleanup();
    }
  });

  it.each([
    ['no system', '  - { name: p, url: "mqtt://h:1883" }', 'north[0].system'],
    ['an unknown key', '  - { name: p, system: s, url: "mqtt://h:1883", topc: x }', 'north[0].topc'],
    ['a bad url scheme', '  - { name: p, system: s, url: "http://h:1883" }', 'north[0].url'],
    ['an unknown topic name', '  - { name: p, system: s, url: "mqtt://h:1883", topic: "f/{plant}/{device}" }', 'north[0].topic'],
    ['a wildcard in a publish topic', '  - { name: p, system: s, url: "mqtt://h:1883", topic: "f/+/{device}" }', 'north[0].topic'],
    ['a device name in the heartbeat topic', '  - { name: p, system: s, url: "mqtt://h:1883", heartbeatTopic: "f/{device}" }', 'north[0].heartbeatTopic'],
    ['sparkplugb without a group', '  - { name: p, system: s, url: "mqtt://h:1883", format: sparkplugb }', 'north[0].sparkplug'],
    [
      'a group id with a slash',
      '  - { name: p, system: s, url: "mqtt://h:1883", format: sparkplugb, sparkplug: { groupId: "a/b" } }',
      'north[0].sparkplug.groupId',
    ],
    [
      'a json topic on a sparkplugb target',
      '  - { name: p, system: s, url: "mqtt://h:1883", format: sparkplugb, sparkplug: { groupId: g }, topic: "x/{device}" }',
      'north[0].topic',
    ],
    ['an unknown device', '  - { name: p, system: s, url: "mqtt://h:1883", devices: [lathe-09] }', 'north[0].devices[0]'],
    ['an unknown tag', '  - { name: p, system: s, url: "mqtt://h:1883", devices: [{ id: press-01, tags: [speed] }] }', 'north[0].devices[0].tags[0]'],
    ['a duplicate name', '  - { name: p, system: s, url: "mqtt://h:1883" }\n  - { name: p, system: s, url: "mqtt://g:1883" }', 'north[1].name'],
    [
      'one client id twice on one broker',
      '  - { name: p, system: s, url: "mqtt://h:1883", clientId: c }\n  - { name: q, system: s, url: "mqtt://h:1883", clientId: c }',
      'north[1].clientId',
    ],
    ['qos 3', '  - { name: p, system: s, url: "mqtt://h:1883", qos: 3 }', 'north[0].qos'],
  ])('%s → %s', (_what, entry, path) => {
    const lines = problems(withNorth(entry));
    expect(
      lines.some((l) => l.startsWith(`${path}:`)),
      `expected a line for ${path}, got:\n${lines.join('\n')}`,
    ).toBe(true);
  });

  it('a selection of devices and tags is what the target publishes', () => {
    const cfg = parseConfigText(withNorth('  - { name: p, system: s, url: "mqtt://h:1883", devices: [{ id: press-01, tags: [tonnage] }] }'));
    expect(northDevices(cfg.north[0]!, cfg.devices).map((d) => [d.id, d.tags.map((x) => x.name)])).toEqual([['press-01', ['tonnage']]]);
  });
});
