/**
 * verify/run.ts pieces a hub relies on, without a backend: the report number and the input checks
 * across several gateway configs (the command as recorded: test/config/redact.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { reportNumber, runVerification, type GatewayConfigLike } from '../../verify/run.js';

const cfg = (id: string, devices: string[], influx?: { url: string; database: string }): GatewayConfigLike => ({
  gateway: { id },
  storage: { path: `/nonexistent/${id}` },
  ...(influx ? { influx } : {}),
  devices: devices.map((d) => ({ id: d, interval: 1000, tags: [{ name: 'state', role: 'state' }] })),
});
const project = new URL('../../config/project.yaml', import.meta.url).pathname;

describe('run.ts', () => {
  it('numbers a report by project, local dates of the window and 12 hex digits of inputs and facts', () => {
    const from = Date.parse('2026-09-21T00:00:00+08:00');
    const to = Date.parse('2026-10-21T00:00:00+08:00');
    const inputs = [{ role: 'project' as const, path: '/p.yaml', sha256: 'a'.repeat(64) }];
    const n = reportNumber('YK-2026-0173', from, to, 8 * 3_600_000, inputs, 'b'.repeat(64));
    expect(n).toMatch(/^YK-2026-0173-20260921-20261021-[0-9a-f]{12}$/);
    // the same inputs and facts give the same number; another facts digest another one
    expect(reportNumber('YK-2026-0173', from, to, 8 * 3_600_000, inputs, 'b'.repeat(64))).toBe(n);
    expect(reportNumber('YK-2026-0173', from, to, 8 * 3_600_000, inputs, 'c'.repeat(64))).not.toBe(n);
  });

  it('a device id in two loaded configs is an error naming both', async () => {
    const run = runVerification({
      gateways: [{ config: cfg('gw-a', ['m-1', 'm-2']), path: '/etc/fgw/a.yaml' }, { config: cfg('gw-b', ['m-3', 'm-2']) }],
      project,
      from: '2026-10-01',
      to: '2026-10-02',
      source: { kind: 'store' },
    });
    await expect(run).rejects.toMatchObject({
      code: 'GW_ERR_VERIFY_INPUT',
      message: expect.stringContaining('device id "m-2" is in both /etc/fgw/a.yaml: devices[1] (m-2) and (config of gateway gw-b): devices[1] (m-2)'),
    });
  });

  it('--source influx needs one database for every gateway', async () => {
    const run = runVerification({
      gateways: [
        { config: cfg('gw-a', ['m-1'], { url: 'http://u:p@127.0.0.1:8086', database: 'factory' }) },
        { config: cfg('gw-b', ['m-2'], { url: 'http://127.0.0.1:8086', database: 'plant2' }) },
      ],
      project,
      from: '2026-10-01',
      to: '2026-10-02',
      source: { kind: 'influx' },
    });
    await expect(run).rejects.toMatchObject({
      code: 'GW_ERR_VERIFY_INPUT',
      message: expect.stringContaining('reads http://127.0.0.1:8086 database factory but (config of gateway gw-b) reads http://127.0.0.1:8086 database plant2'),
    });
  });

  it('no gateway at all is a usage error', async () => {
    await expect(runVerification({ gateways: [], project, from: '2026-10-01', to: '2026-10-02', source: { kind: 'store' } })).rejects.toMatchObject({
      code: 'GW_ERR_USAGE',
    });
  });
});
