/**
 * Prometheus metrics of one gateway: per-device link state, reads, errors and cycle time; store
 * size, backlog, the store-full and store-damaged alarms, readings lost per device, dropped and
 * dead-lettered counts; forwarder state, lag and write latency.
 *
 * Nothing is counted on the hot path: every series is filled at scrape time by collect() callbacks
 * that read the runtime's views (device status counters, store stats, forwarder stats), from one
 * snapshot per scrape. Each call builds its own Registry (never prom-client's global one), so
 * several servers can live in one process (tests).
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { StoreStats } from '../ingest/types.js';
import type { NorthView } from './north.js';
import type { DeviceView, ForwarderView, Runtime } from './types.js';

export interface GatewayMetrics {
  registry: Registry;
  contentType: string;
  /** the exposition text of one scrape */
  scrape(): Promise<string>;
}

interface Snapshot {
  now: number;
  devices: DeviceView[];
  store?: StoreStats;
  forwarder?: ForwarderView;
  north: NorthView[];
}

const FORWARDER_STATES: ForwarderView['state'][] = ['idle', 'ok', 'retrying', 'auth-hold', 'stopped'];

export function createMetrics(runtime: Runtime, prefix = 'fgw_'): GatewayMetrics {
  const registry = new Registry();
  let snap: Snapshot | undefined;
  const take = (): Snapshot => {
    let store: StoreStats | undefined;
    try {
      store = runtime.store.stats();
    } catch {
      store = undefined; // a failing store shows as missing store series and in /health/ready
    }
    return { now: runtime.clock.now(), devices: runtime.devices(), store, forwarder: runtime.forwarder(), north: runtime.north?.() ?? [] };
  };
  // collect() callbacks run inside registry.metrics(); scrape() takes the snapshot they share
  const s = (): Snapshot => (snap ??= take());
  const n = (name: string) => `${prefix}${name}`;
  const labels = (v: DeviceView) => ({ device: v.config.id, protocol: v.config.protocol });
  const registers = [registry];

  /** the samples of a per-device series: `pick` returns the device's value, or undefined for none */
  const eachDevice = (pick: (v: DeviceView, now: number) => number | undefined, emit: (l: ReturnType<typeof labels>, x: number) => void) => {
    const { now, devices } = s();
    for (const v of devices) {
      const x = pick(v, now);
      if (x !== undefined) emit(labels(v), x);
    }
  };
  const deviceSeries = (name: string, help: string) => ({ name: n(name), help, labelNames: ['device', 'protocol'], registers });
  /** one gauge series per device */
  const deviceGauge = (name: string, help: string, pick: (v: DeviceView, now: number) => number | undefined) =>
    new Gauge({
      ...deviceSeries(name, help),
      collect() {
        this.reset();
        eachDevice(pick, (l, x) => this.set(l, x));
      },
    });
  const enabled = (v: DeviceView, x: number) => (v.config.enabled ? x : undefined);
  deviceGauge('device_connected', 'Link state of the device: 1 connected, 0 not', (v) => enabled(v, v.status.connected ? 1 : 0));
  new Counter({
    name: n('device_reads_total'),
    help: 'Readings of the device since start, by quality (good includes uncertain)',
    labelNames: ['device', 'protocol', 'quality'],
    registers,
    collect() {
      this.reset();
      for (const v of s().devices) {
        if (!v.config.enabled) continue;
        this.inc({ ...labels(v), quality: 'good' }, v.status.good);
        this.inc({ ...labels(v), quality: 'bad' }, v.status.bad);
      }
    },
  });
  deviceGauge('device_last_error_timestamp_seconds', 'When the device last reported an error (unix seconds); absent when it never did', (v) =>
    v.status.lastErrorAt === undefined ? undefined : v.status.lastErrorAt / 1000,
  );
  deviceGauge('device_error', '1 while the device reports a last error and is not connected, else 0', (v) =>
    enabled(v, v.status.lastError !== undefined && !v.status.connected ? 1 : 0),
  );
  deviceGauge('device_last_reading_age_seconds', 'Seconds since the last good reading of the device; absent when there was none', (v, now) =>
    v.status.lastReadingAt === undefined ? undefined : Math.max(0, now - v.status.lastReadingAt) / 1000,
  );
  deviceGauge('device_cycle_seconds', 'Duration of the last complete poll cycle (pollers only)', (v) =>
    v.status.cycleMs === undefined ? undefined : v.status.cycleMs / 1000,
  );
  /** a per-device running total of the device status, exposed as a counter (enabled devices only) */
  const deviceCounter = (name: string, help: string, pick: (v: DeviceView) => number | undefined) =>
    new Counter({
      ...deviceSeries(name, help),
      collect() {
        this.reset();
        eachDevice(
          (v) => (v.config.enabled ? pick(v) : undefined),
          (l, x) => this.inc(l, x),
        );
      },
    });
  deviceCounter(
    'device_polls_late_total',
    'Poll ticks whose poll started more than half an interval after the tick, since start (pollers only)',
    (v) => v.status.pollsLate,
  );
  deviceCounter(
    'device_polls_skipped_total',
    'Poll ticks without a poll (the previous poll of the device was still running, or a newer tick was already due), since start (pollers only)',
    (v) => v.status.pollsSkipped,
  );
  deviceGauge('device_demoted', '1 while the device is demoted for repeated timeouts', (v) => enabled(v, v.status.demoted ? 1 : 0));

  /** one unlabelled series read from the scrape's snapshot; absent when `pick` gives undefined */
  const scalar = (Kind: typeof Gauge | typeof Counter, name: string, help: string, pick: (snap: Snapshot) => number | undefined) =>
    new (Kind as typeof Gauge)({
      name: n(name),
      help,
      registers,
      collect(this: Gauge | Counter) {
        this.reset();
        const v = pick(s());
        if (v === undefined) return;
        // a counter's value is the runtime's own running total: reset, then add it once
        if (this instanceof Counter) this.inc(v);
        else this.set(v);
      },
    });
  const store = (Kind: typeof Gauge | typeof Counter, name: string, help: string, pick: (st: StoreStats) => number) =>
    scalar(Kind, name, help, (snap) => (snap.store ? pick(snap.store) : undefined));
  store(Gauge, 'store_size_bytes', 'Embedded store size on disk (database, WAL, wal-index, reserve)', (st) => st.sizeBytes);
  store(Gauge, 'store_max_bytes', 'storage.maxSize: the most the store puts on disk', (st) => st.maxSizeBytes);
  store(Gauge, 'store_readings', 'Readings held in the embedded store', (st) => st.readings);
  store(Gauge, 'store_backlog', 'Readings not yet acknowledged by InfluxDB', (st) => st.backlog);
  store(Gauge, 'store_full', '1 while the store cannot take readings without losing some (the store-full alarm), else 0', (st) => (st.full ? 1 : 0));
  store(
    Gauge,
    'store_damaged_files',
    'Damaged store files moved aside and not yet salvaged (the store-damaged alarm)',
    (st) => st.damaged.filter((d) => !d.salvaged).length,
  );
  store(Gauge, 'store_dead_letters', 'Dead letters kept in the store', (st) => st.deadLetters);
  store(Counter, 'store_dead_letters_received_total', 'Dead letters received since the store was created (kept + dropped)', (st) => st.deadLettersReceived);
  store(
    Counter,
    'store_dead_letters_dropped_total',
    'Dead letters dropped: by their share of the store, by retention, or refused while full',
    (st) => st.deadLettersDropped,
  );
  store(
    Counter,
    'store_audit_dropped_total',
    'Audit records dropped: by their share of the store, by retention, or refused while full',
    (st) => st.auditDropped,
  );
  store(Counter, 'store_dropped_total', 'Readings dropped by retention or maxSize since the store was created', (st) => st.dropped);
  store(Counter, 'store_dropped_unforwarded_total', 'Of the dropped readings, those InfluxDB never got', (st) => st.droppedUnforwarded);
  new Counter({
    name: n('store_lost_total'),
    help: 'Readings lost per device since the store was created: never stored (store-full, store-error) or dropped before InfluxDB had them (maxSize, retention)',
    labelNames: ['device', 'reason'],
    registers,
    collect() {
      this.reset();
      for (const l of s().store?.losses ?? []) this.inc({ device: l.device, reason: l.reason }, l.count);
    },
  });

  // the forwarder exists or not for the runtime's life (influx changes need a restart): without
  // one, its series are absent rather than a misleading 0
  if (runtime.forwarder() !== undefined) {
    const fwd = (Kind: typeof Gauge | typeof Counter, name: string, help: string, pick: (f: ForwarderView) => number | undefined) =>
      scalar(Kind, name, help, (snap) => (snap.forwarder ? pick(snap.forwarder) : undefined));
    fwd(Gauge, 'forwarder_lag_seconds', 'Age of the oldest reading not yet in InfluxDB', (f) => f.lagMs / 1000);
    fwd(Gauge, 'forwarder_backlog', 'Readings waiting for InfluxDB', (f) => f.backlog);
    fwd(Gauge, 'forwarder_write_latency_seconds', 'Latency of the last successful InfluxDB write', (f) =>
      f.lastWriteMs === undefined ? undefined : f.lastWriteMs / 1000,
    );
    fwd(Counter, 'forwarder_written_total', 'Points InfluxDB acknowledged', (f) => f.written);
    fwd(Counter, 'forwarder_dead_lettered_total', 'Lines InfluxDB rejected (kept as dead letters)', (f) => f.deadLettered);
    fwd(Counter, 'forwarder_batches_total', 'Batches written to InfluxDB', (f) => f.batches);
    fwd(Counter, 'forwarder_failures_total', 'Write requests to InfluxDB that failed (any reason)', (f) => f.failures);
    new Gauge({
      name: n('forwarder_state'),
      help: 'Forwarder state: 1 for the current state',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        const f = s().forwarder;
        if (f) for (const st of FORWARDER_STATES) this.set({ state: st }, f.state === st ? 1 : 0);
      },
    });
  }

  /** one series per northbound target (north:), labelled by target name and format */
  const northSeries = (Kind: typeof Gauge | typeof Counter, name: string, help: string, pick: (t: NorthView) => number) =>
    new (Kind as typeof Gauge)({
      name: n(name),
      help,
      labelNames: ['target', 'format'],
      registers,
      collect(this: Gauge | Counter) {
        this.reset();
        for (const t of s().north) {
          const l = { target: t.name, format: t.format };
          if (this instanceof Counter) this.inc(l, pick(t));
          else this.set(l, pick(t));
        }
      },
    });
  northSeries(Gauge, 'north_connected', 'Northbound target link: 1 connected (births/status out, data flowing), 0 not', (t) => (t.connected ? 1 : 0));
  northSeries(Gauge, 'north_backlog', "Rows after the target's cursor not yet acknowledged by its broker", (t) => t.backlog);
  northSeries(Gauge, 'north_lag_seconds', "Age of the oldest reading the target's broker has not acknowledged", (t) => t.lagMs / 1000);
  northSeries(Gauge, 'north_publish_rate', 'Acknowledged messages per second over the last 10 s', (t) => t.publishRate);
  northSeries(Gauge, 'north_replaying', '1 while the target replays a backlog', (t) => (t.replaying ? 1 : 0));
  northSeries(Counter, 'north_published_total', "Messages the target's broker acknowledged", (t) => t.published);
  northSeries(Counter, 'north_published_readings_total', 'Readings in the acknowledged messages', (t) => t.publishedReadings);
  northSeries(Counter, 'north_resent_total', 'Messages sent again after they were not acknowledged', (t) => t.resent);
  northSeries(
    Counter,
    'north_dropped_unpublished_total',
    'Readings retention or maxSize dropped before the target had published them',
    (t) => t.droppedUnpublished,
  );
  new Counter({
    name: n('north_commands_total'),
    help: 'Commands the target sent (JSON write requests, Sparkplug DCMD), by result',
    labelNames: ['target', 'format', 'result'],
    registers,
    collect() {
      this.reset();
      for (const t of s().north)
        for (const result of ['ok', 'denied', 'error'] as const) this.inc({ target: t.name, format: t.format, result }, t.commands[result]);
    },
  });

  new Gauge({
    name: n('start_time_seconds'),
    help: 'When the gateway runtime started (unix seconds)',
    registers,
    collect() {
      this.set(runtime.startedAt / 1000);
    },
  });
  new Gauge({
    name: n('resident_memory_bytes'),
    help: 'Resident set size of the gateway process',
    registers,
    collect() {
      this.set(process.memoryUsage().rss);
    },
  });

  let inFlight: Promise<string> | undefined;
  return {
    registry,
    contentType: registry.contentType,
    scrape() {
      // concurrent scrapes share one snapshot and one rendering
      inFlight ??= (async () => {
        snap = take();
        try {
          return await registry.metrics();
        } finally {
          snap = undefined;
          inFlight = undefined;
        }
      })();
      return inFlight;
    },
  };
}
