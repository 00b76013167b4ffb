/**
 * /metrics: the Prometheus text is parsed and each expected series checked against values set in
 * the test runtime beforehand (device status counters, store contents, forwarder view).
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../gateway/api/server.js';
import { parseProm } from '../helpers/prom.js';
import { T0, TOKENS, TestRuntime, stubDevices } from './test-runtime.js';

describe('/metrics', () => {
  let rt: TestRuntime;
  let app: FastifyInstance;
  beforeAll(async () => {
    rt = new TestRuntime({ tokens: [TOKENS.mes] });
    app = await buildServer(rt);
    await rt.store.write([
      { device: 'press-01', tag: 'tonnage', ts: T0 - 3000, kind: 'float', value: 1.5, quality: 'good' },
      { device: 'press-01', tag: 'tonnage', ts: T0 - 2000, kind: 'float', value: 2.5, quality: 'good' },
      { device: 'press-01', tag: 'tonnage', ts: T0 - 1000, kind: 'float', value: null, quality: 'bad', error: 'TIMEOUT' },
      { device: 'lathe-03', tag: 'parts', ts: T0 - 1000, kind: 'integer', value: 7, quality: 'good' },
    ]);
    rt.store.deadLetter({ ts: T0, source: 'mqtt', reason: 'NOT_JSON', payload: '{' });
  });
  afterAll(async () => {
    await app.close();
    await rt.close();
  });
  const scrape = async () => {
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    return parseProm(res.body);
  };

  it('per device: link state, reads good/bad, error, reading age, cycle time, demotion', async () => {
    const m = await scrape();
    const l = (device: string, protocol: string, extra = '') => `{device="${device}",protocol="${protocol}"${extra}}`;
    const expected: Array<[string, number]> = [
      [`fgw_device_connected${l('press-01', 'modbus')}`, 1],
      [`fgw_device_connected${l('lathe-03', 'opcua')}`, 1],
      [`fgw_device_connected${l('polisher-04', 'mqtt')}`, 0],
      [`fgw_device_reads_total${l('press-01', 'modbus', ',quality="good"')}`, 120],
      [`fgw_device_reads_total${l('press-01', 'modbus', ',quality="bad"')}`, 3],
      [`fgw_device_reads_total${l('polisher-04', 'mqtt', ',quality="good"')}`, 50],
      [`fgw_device_reads_total${l('polisher-04', 'mqtt', ',quality="bad"')}`, 7],
      [`fgw_device_error${l('press-01', 'modbus')}`, 0],
      [`fgw_device_error${l('polisher-04', 'mqtt')}`, 1],
      [`fgw_device_last_error_timestamp_seconds${l('polisher-04', 'mqtt')}`, (T0 - 60_000) / 1000],
      [`fgw_device_last_reading_age_seconds${l('press-01', 'modbus')}`, 1],
      [`fgw_device_last_reading_age_seconds${l('polisher-04', 'mqtt')}`, 1200],
      [`fgw_device_cycle_seconds${l('press-01', 'modbus')}`, 0.042],
      [`fgw_device_demoted${l('press-01', 'modbus')}`, 0],
    ];
    for (const [k, v] of expected) expect(m.get(k), k).toBe(v);
    // a device without a cycle time (subscription) has no cycle series
    expect(m.has(`fgw_device_cycle_seconds${l('lathe-03', 'opcua')}`)).toBe(false);
  });

  it('store: readings, dead letters, dropped, size; no forwarder series without a forwarder', async () => {
    const m = await scrape();
    expect(m.get('fgw_store_readings')).toBe(4);
    expect(m.get('fgw_store_dead_letters')).toBe(1);
    expect(m.get('fgw_store_dead_letters_received_total')).toBe(1);
    expect(m.get('fgw_store_dead_letters_dropped_total')).toBe(0);
    expect(m.get('fgw_store_dropped_total')).toBe(0);
    expect(m.get('fgw_store_full')).toBe(0);
    expect(m.get('fgw_store_damaged_files')).toBe(0);
    expect([...m.keys()].filter((k) => k.startsWith('fgw_store_lost_total'))).toEqual([]);
    expect(m.get('fgw_store_size_bytes')).toBeGreaterThan(0);
    expect(m.has('fgw_store_backlog')).toBe(true);
    expect([...m.keys()].filter((k) => k.startsWith('fgw_forwarder_'))).toEqual([]);
    expect(m.get('fgw_start_time_seconds')).toBe((T0 - 3_600_000) / 1000);
  });

  it('forwarder: lag, write latency, counters and state', async () => {
    const rtf = new TestRuntime();
    rtf.fwd = {
      state: 'retrying',
      backlog: 4,
      lagMs: 2500,
      lastWriteMs: 15,
      written: 100,
      deadLettered: 2,
      batches: 3,
      auditsWritten: 0,
      failures: 6,
      lastError: 'ECONNREFUSED',
    };
    const appf = await buildServer(rtf);
    try {
      const m = parseProm((await appf.inject({ method: 'GET', url: '/metrics' })).body);
      expect(m.get('fgw_forwarder_lag_seconds')).toBe(2.5);
      expect(m.get('fgw_forwarder_write_latency_seconds')).toBe(0.015);
      expect(m.get('fgw_forwarder_backlog')).toBe(4);
      expect(m.get('fgw_forwarder_written_total')).toBe(100);
      expect(m.get('fgw_forwarder_dead_lettered_total')).toBe(2);
      expect(m.get('fgw_forwarder_batches_total')).toBe(3);
      expect(m.get('fgw_forwarder_failures_total')).toBe(6);
      expect(m.get('fgw_forwarder_state{state="retrying"}')).toBe(1);
      expect(m.get('fgw_forwarder_state{state="ok"}')).toBe(0);
      expect(m.get('fgw_forwarder_state{state="auth-hold"}')).toBe(0);
      // the view is read at each scrape
      rtf.fwd = { ...rtf.fwd!, state: 'ok', lagMs: 100 };
      const m2 = parseProm((await appf.inject({ method: 'GET', url: '/metrics' })).body);
      expect(m2.get('fgw_forwarder_lag_seconds')).toBe(0.1);
      expect(m2.get('fgw_forwarder_state{state="ok"}')).toBe(1);
    } finally {
      await appf.close();
      await rtf.close();
    }
  });

  it('reads the runtime at scrape time: a device that drops shows 0 at the next scrape', async () => {
    const press = rt.stubs.get('press-01')!;
    press.status = { ...press.status, connected: false, good: 130 };
    try {
      const m = await scrape();
      expect(m.get('fgw_device_connected{device="press-01",protocol="modbus"}')).toBe(0);
      expect(m.get('fgw_device_reads_total{device="press-01",protocol="modbus",quality="good"}')).toBe(130);
    } finally {
      press.status = { ...press.status, connected: true, good: 120 };
    }
  });

  it('per poller: late and skipped poll ticks as counters, in /metrics and /api/devices; none for a device without them', async () => {
    const press = rt.stubs.get('press-01')!;
    const before = press.status;
    press.status = { ...press.status, pollsLate: 4, pollsSkipped: 17 };
    try {
      const m = await scrape();
      expect(m.get('fgw_device_polls_late_total{device="press-01",protocol="modbus"}')).toBe(4);
      expect(m.get('fgw_device_polls_skipped_total{device="press-01",protocol="modbus"}')).toBe(17);
      // the MQTT device polls nothing: no series
      expect(m.has('fgw_device_polls_skipped_total{device="polisher-04",protocol="mqtt"}')).toBe(false);
      const res = await app.inject({ method: 'GET', url: '/api/devices', headers: { authorization: `Bearer ${TOKENS.mes.token}` } });
      expect(res.statusCode).toBe(200);
      const list = (res.json() as { devices: Array<{ id: string; status: { pollsLate?: number; pollsSkipped?: number } }> }).devices;
      expect(list.find((d) => d.id === 'press-01')!.status).toMatchObject({ pollsLate: 4, pollsSkipped: 17 });
    } finally {
      press.status = before;
    }
  });

  it('each server has its own registry: two servers in one process report their own devices', async () => {
    const only = stubDevices().filter((d) => d.config.id === 'lathe-03');
    const rt2 = new TestRuntime({ devices: only });
    const app2 = await buildServer(rt2);
    try {
      const m2 = parseProm((await app2.inject({ method: 'GET', url: '/metrics' })).body);
      const m1 = await scrape();
      expect([...m2.keys()].filter((k) => k.startsWith('fgw_device_connected'))).toEqual(['fgw_device_connected{device="lathe-03",protocol="opcua"}']);
      expect([...m1.keys()].filter((k) => k.startsWith('fgw_device_connected'))).toHaveLength(3);
    } finally {
      await app2.close();
      await rt2.close();
    }
  });
});
