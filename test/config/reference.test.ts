import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BEGIN, END, configReference } from '../../gateway/reference.js';

const root = new URL('../..', import.meta.url).pathname;

describe('the README config reference', () => {
  it('is the one generated from the schemas (run `npm run docs` after changing a schema)', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const a = readme.indexOf(BEGIN);
    const b = readme.indexOf(END);
    expect(a, 'README has the config-reference markers').toBeGreaterThan(0);
    expect(readme.slice(a, b + END.length)).toBe(configReference());
  });

  it('documents every key of the canonical example config', () => {
    const ref = configReference();
    for (const key of [
      'gateway.id',
      'gateway.site',
      'storage.path',
      'storage.maxSize',
      'storage.retention',
      'influx.url',
      'influx.database',
      'influx.measurement',
      'influx.username',
      'influx.password',
      'influx.batchSize',
      'influx.flushInterval',
      'http.listen',
      'http.tokens[].name',
      'http.tokens[].system',
      'http.tokens[].token',
      'http.tokens[].scopes',
    ]) {
      expect(ref, key).toContain(`| \`${key}\` |`);
    }
    for (const key of [
      'devices[].connection.host',
      'devices[].connection.unitId',
      'devices[].connection.serial.baudRate',
      'devices[].tags[].byteOrder',
      'devices[].connection.endpoint',
      'devices[].connection.securityMode',
      'devices[].tags[].nodeId',
      'devices[].tags[].deadband',
      'devices[].connection.clientId',
      'devices[].tags[].topic',
      'devices[].tags[].timestampPath',
    ]) {
      expect(ref, key).toContain(`| \`${key}\``);
    }
  });
});
