/**
 * The OPC UA I/O shell: one supervisor loop per device owns the connection. It creates one client
 * and one session at a time, builds the subscription and the poll plan, waits until the
 * connection is lost, tears everything down and tries again after a capped, jittered backoff
 * (config/backoff.ts). node-opcua's own reconnection is switched off (connectionStrategy.maxRetry
 * = 0: a lost channel ends the client), so exactly one mechanism reconnects and at most one session
 * per device is ever being created (leaked sessions on reconnect are a known failure of OPC UA clients).
 */
import {
  AttributeIds,
  ClientMonitoredItemGroup,
  DataChangeFilter,
  DataChangeTrigger,
  DataType,
  DeadbandType,
  type OPCUAClient,
  TimestampsToReturn,
  Variant,
  VariantArrayType,
  findBasicDataType,
  resolveNodeId,
  setErrorLogger,
  setWarningLogger,
  type ClientSession,
  type ClientSubscription,
  type DataValue,
  type MonitoringParametersOptions,
  type NodeId,
} from 'node-opcua';
import type { Logger } from 'pino';
import { Backoff } from '../../config/backoff.js';
import { PollSchedule } from '../schedule.js';
import { ErrorCodes, GatewayError, errorText, isGatewayError, type ErrorCode } from '../../config/errors.js';
import type { Adapter, AdapterContext, DeviceStatus, FieldKind, Reading, Value } from '../types.js';
import { builtInName, builtInOfNs0DataType, chunk, decodeDataValue, kindOfBuiltIn, toWriteValue, type RawDataValue } from './convert.js';
import { asConnectError, checkServer, createClient, openSession, withTimeout, type Target } from './connect.js';
import { acquirePki, resolvePkiDir, type PkiHandle } from './pki.js';
import type { OpcuaDevice, OpcuaTag } from './schema.js';

/** our own cap when a server states no limit (0) */
const DEFAULT_CHUNK = 1000;

interface TagType {
  kind: FieldKind;
  builtIn: number;
}

interface Live {
  client: OPCUAClient;
  session: ClientSession;
  subscription?: ClientSubscription;
  limits: { maxNodesPerRead: number; maxMonitoredItemsPerCall: number };
  pollTimer?: ReturnType<AdapterContext['clock']['setTimeout']>;
  republishTimer?: ReturnType<AdapterContext['clock']['setTimeout']>;
  polling?: Promise<void>;
  lost: Promise<string>;
  markLost: (reason: string) => void;
}

let libLoggerInstalled = false;
/** node-opcua logs through console; route it to a pino logger at debug level (our own lines say what matters). */
function installLibLogger(log: Logger): void {
  if (libLoggerInstalled) return;
  libLoggerInstalled = true;
  const lib = log.child({ lib: 'node-opcua' });
  const fmt = (args: unknown[]) =>
    args
      .map((a) => (typeof a === 'string' ? a : a instanceof Error ? a.message : String(a)))
      .join(' ')
      .slice(0, 2000);
  setWarningLogger((...args: unknown[]) => lib.debug(fmt(args)));
  setErrorLogger((...args: unknown[]) => lib.debug(fmt(args)));
}

function rawOf(dv: DataValue): RawDataValue {
  return {
    statusCode: dv.statusCode.value,
    statusName: dv.statusCode.name,
    variantType: dv.value?.dataType ?? 0,
    value: dv.value?.value,
    sourceTimestamp: dv.sourceTimestamp,
    serverTimestamp: dv.serverTimestamp,
  };
}

export class OpcuaAdapter implements Adapter {
  readonly deviceId: string;
  private readonly log: Logger;
  private readonly st: DeviceStatus = { connected: false, good: 0, bad: 0 };
  /** the poll schedule of the current session (polled tags only) and the counts of earlier ones */
  private schedule: PollSchedule | undefined;
  private lateBefore = 0;
  private skippedBefore = 0;
  private readonly types = new Map<string, TagType>();
  private readonly badAtConnect = new Map<string, string>();
  private readonly logged = new Set<string>();
  /** last reading of each subscribed tag and when it was reported (for republishInterval) */
  private readonly lastSubscribed = new Map<string, { reading: Reading; at: number }>();
  private readonly abort = new AbortController();
  private readonly nodeIds: Map<string, NodeId>;
  private readonly tagsByName: Map<string, OpcuaTag>;
  private loop?: Promise<void>;
  private live?: Live;
  private pki?: PkiHandle;
  private pending: Reading[] = [];
  private flushScheduled = false;
  private closed = false;
  private lastErrorText?: string;
  private sinkFailed = false;
  /** connection attempts made by the supervisor, and CreateSession requests sent (tests, metrics) */
  connectAttempts = 0;
  sessionAttempts = 0;
  /** clock time at which the last connection attempt started */
  lastConnectAttemptAt?: number;

  constructor(
    private readonly device: OpcuaDevice,
    private readonly ctx: AdapterContext,
  ) {
    this.deviceId = device.id;
    this.log = ctx.log;
    this.nodeIds = new Map(device.tags.map((t) => [t.name, resolveNodeId(t.nodeId)]));
    this.tagsByName = new Map(device.tags.map((t) => [t.name, t]));
    installLibLogger(ctx.log);
  }

  async start(): Promise<void> {
    if (this.loop || this.closed) return;
    this.loop = this.supervise().catch((e) => this.log.error({ err: errorText(e) }, 'opcua supervisor stopped unexpectedly'));
  }

  async stop(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    this.live?.markLost('stopped');
    await this.loop;
    this.flush();
    this.pending = [];
    await this.pki?.release();
    this.pki = undefined;
  }

  status(): DeviceStatus {
    if (!this.schedule) return { ...this.st };
    // counted across sessions: a reconnect starts a new grid, the counts go on
    return { ...this.st, pollsLate: this.lateBefore + this.schedule.late, pollsSkipped: this.skippedBefore + this.schedule.skipped };
  }

  // ---------------------------------------------------------------- supervision

  private async supervise(): Promise<void> {
    const c = this.device.connection;
    const backoff = new Backoff({ baseMs: c.reconnectDelay, capMs: c.reconnectMaxDelay });
    while (!this.closed) {
      let connectedAt: number | undefined;
      try {
        this.live = await this.connect();
        if (this.closed) break; // stop() came while connecting: the finally below closes the session
        connectedAt = this.ctx.clock.now();
        this.st.connected = true;
        if (this.lastErrorText !== undefined) this.log.info('opcua connection restored');
        else this.log.info({ endpoint: c.endpoint }, 'opcua connected');
        this.lastErrorText = undefined;
        const reason = await this.live.lost;
        if (this.closed) break;
        this.fail(new GatewayError(ErrorCodes.NOT_CONNECTED, `connection lost: ${reason}`));
      } catch (e) {
        if (this.closed) break;
        this.fail(e);
      } finally {
        this.st.connected = false;
        await this.teardown();
      }
      if (this.closed) break;
      // a connection that stayed up for a full backoff cap was healthy: start the ladder again
      if (connectedAt !== undefined && this.ctx.clock.now() - connectedAt >= c.reconnectMaxDelay) backoff.reset();
      await this.ctx.clock.sleep(backoff.next(), this.abort.signal);
    }
  }

  /** Records an error in status(); logs it once per distinct text (one line per outage, not per retry). */
  private fail(e: unknown): void {
    const code: ErrorCode = isGatewayError(e) ? e.code : ErrorCodes.NOT_CONNECTED;
    const text = isGatewayError(e) ? e.message : errorText(e);
    this.st.lastError = `${code}: ${text}`;
    this.st.lastErrorAt = this.ctx.clock.now();
    if (text !== this.lastErrorText) {
      this.lastErrorText = text;
      this.log.warn({ code, endpoint: this.device.connection.endpoint }, `opcua: ${text}`);
    }
  }

  private async connect(): Promise<Live> {
    this.connectAttempts++;
    this.lastConnectAttemptAt = this.ctx.clock.now();
    const c = this.device.connection;
    if (!this.pki) this.pki = await acquirePki(resolvePkiDir(this.ctx.dataDir, c.pkiDir));
    const identity = await this.pki.identity(this.ctx.gateway.id);
    const target: Target = { connection: c, pki: this.pki, identity, clientName: this.deviceId, log: this.log };
    const serverCertificate = await checkServer(target);
    if (this.closed) throw new Error('stopped');
    const client = createClient(target, serverCertificate);
    let markLost!: (reason: string) => void;
    const lost = new Promise<string>((resolve) => {
      let done = false;
      markLost = (r) => {
        if (!done) {
          done = true;
          resolve(r);
        }
      };
    });
    client.on('connection_lost', () => markLost('connection to the server lost'));
    client.on('close', () => markLost('connection closed'));
    try {
      const session = await openSession(target, client, () => this.sessionAttempts++);
      session.on('session_closed', () => markLost('session closed by the server'));
      session.on('keepalive_failure', () => markLost('session keep-alive failed'));
      const live: Live = { client, session, limits: { maxNodesPerRead: 0, maxMonitoredItemsPerCall: 0 }, lost, markLost };
      this.live = live;
      live.limits = await this.readLimits(session);
      await this.resolveTypes(live);
      await this.subscribe(live);
      this.startPolling(live);
      this.startRepublish(live);
      return live;
    } catch (e) {
      await client.disconnect().catch(() => undefined);
      this.live = undefined;
      throw asConnectError(e, c.endpoint, target);
    }
  }

  /** OperationLimits read once per connect; 0 = the server states no limit. */
  private async readLimits(session: ClientSession): Promise<Live['limits']> {
    const ids = ['i=11705', 'i=11714']; // Server_ServerCapabilities_OperationLimits_MaxNodesPerRead, _MaxMonitoredItemsPerCall
    const limits = { maxNodesPerRead: 0, maxMonitoredItemsPerCall: 0 };
    try {
      const dvs = await session.read(ids.map((nodeId) => ({ nodeId, attributeId: AttributeIds.Value })));
      const num = (dv: DataValue | undefined) =>
        dv && dv.statusCode.isGood() && typeof dv.value.value === 'number' && dv.value.value > 0 ? dv.value.value : 0;
      limits.maxNodesPerRead = num(dvs[0]);
      limits.maxMonitoredItemsPerCall = num(dvs[1]);
    } catch (e) {
      this.log.debug({ err: errorText(e) }, 'opcua: OperationLimits not readable; using defaults');
    }
    this.log.debug(limits, 'opcua operation limits');
    return limits;
  }

  /** Reads DataType and ValueRank of every tag (chunked) and fixes each tag's FieldKind. */
  private async resolveTypes(live: Live): Promise<void> {
    this.badAtConnect.clear();
    const tags = this.device.tags;
    const perRead = Math.max(2, live.limits.maxNodesPerRead > 0 ? live.limits.maxNodesPerRead : DEFAULT_CHUNK);
    const results: Array<{ dataType?: DataValue; valueRank?: DataValue }> = [];
    for (const part of chunk(tags, Math.floor(perRead / 2))) {
      const dvs = await live.session.read(
        part.flatMap((t) => [
          { nodeId: this.nodeIds.get(t.name)!, attributeId: AttributeIds.DataType },
          { nodeId: this.nodeIds.get(t.name)!, attributeId: AttributeIds.ValueRank },
        ]),
      );
      for (let i = 0; i < part.length; i++) results.push({ dataType: dvs[2 * i], valueRank: dvs[2 * i + 1] });
    }
    const basic = new Map<string, number | undefined>();
    for (let i = 0; i < tags.length; i++) {
      const t = tags[i]!;
      const r = results[i]!;
      const dt = r.dataType;
      if (!dt || !dt.statusCode.isGood()) {
        this.markBad(t, dt?.statusCode.name ?? 'BadNodeIdUnknown', `node ${t.nodeId} cannot be read as a variable (${dt?.statusCode.name ?? 'no answer'})`);
        continue;
      }
      const rank = r.valueRank?.statusCode.isGood() ? (r.valueRank.value.value as number) : -1;
      if (rank >= 0) {
        this.markBad(t, 'BadTypeMismatch', `node ${t.nodeId} is an array (ValueRank ${rank}); only scalar variables are collected`);
        continue;
      }
      const dtId = dt.value.value as NodeId;
      const key = dtId.toString();
      let builtIn = basic.get(key);
      if (!basic.has(key)) {
        builtIn = dtId.namespace === 0 && typeof dtId.value === 'number' ? builtInOfNs0DataType(dtId.value) : undefined;
        if (builtIn === undefined)
          builtIn = await findBasicDataType(live.session, dtId).then(
            (d) => d as number,
            () => undefined,
          );
        basic.set(key, builtIn);
      }
      const kind = builtIn === undefined ? undefined : kindOfBuiltIn(builtIn);
      if (builtIn === undefined || !kind) {
        this.markBad(
          t,
          'BadTypeMismatch',
          `node ${t.nodeId} has DataType ${key}${builtIn === undefined ? '' : ` (${builtInName(builtIn)})`}, which has no field kind`,
        );
        continue;
      }
      const prev = this.types.get(t.name);
      if (prev && prev.kind !== kind) {
        this.markBad(
          t,
          'BadTypeMismatch',
          `node ${t.nodeId} changed DataType from ${builtInName(prev.builtIn)} to ${builtInName(builtIn)}; the field kind stays ${prev.kind} until the gateway restarts`,
        );
        continue;
      }
      this.types.set(t.name, { kind, builtIn });
    }
    const now = this.ctx.clock.now();
    for (const [name, code] of this.badAtConnect) {
      this.emit({ device: this.deviceId, tag: name, ts: now, kind: this.types.get(name)?.kind ?? 'float', value: null, quality: 'bad', error: code });
    }
  }

  /** A tag that cannot be collected: bad quality with `code`, logged once per tag and code. */
  private markBad(t: OpcuaTag, code: string, message: string): void {
    this.badAtConnect.set(t.name, code);
    const key = `${t.name}\u0000${code}`;
    if (!this.logged.has(key)) {
      this.logged.add(key);
      this.log.warn({ tag: t.name, nodeId: t.nodeId, code }, `opcua: ${message}`);
    }
  }

  private usable(t: OpcuaTag): boolean {
    return !this.badAtConnect.has(t.name) && this.types.has(t.name);
  }

  private async subscribe(live: Live): Promise<void> {
    const tags = this.device.tags.filter((t) => t.mode === 'subscribe' && this.usable(t));
    if (tags.length === 0) return;
    const interval = this.device.interval;
    const keepAliveCount = Math.max(1, Math.min(10, Math.ceil(10_000 / Math.max(1, interval))));
    const sub = await live.session.createSubscription2({
      requestedPublishingInterval: interval,
      // a keep-alive at least every 10 s (or every publishing interval when longer); lifetime 6 keep-alives
      requestedLifetimeCount: 6 * keepAliveCount,
      requestedMaxKeepAliveCount: keepAliveCount,
      maxNotificationsPerPublish: 0,
      publishingEnabled: true,
      priority: 1,
    });
    live.subscription = sub;
    sub.on('terminated', () => live.markLost('subscription terminated'));
    // one CreateMonitoredItems call per group of equal parameters, chunked by MaxMonitoredItemsPerCall
    const groups = new Map<string, { params: MonitoringParametersOptions; tags: OpcuaTag[] }>();
    for (const t of tags) {
      const params: MonitoringParametersOptions = { samplingInterval: t.samplingInterval ?? interval, queueSize: t.queueSize, discardOldest: true };
      if (t.deadband) {
        params.filter = new DataChangeFilter({
          trigger: DataChangeTrigger.StatusValue,
          deadbandType: t.deadband.type === 'absolute' ? DeadbandType.Absolute : DeadbandType.Percent,
          deadbandValue: t.deadband.value,
        });
      }
      const key = JSON.stringify([params.samplingInterval, params.queueSize, t.deadband ?? null]);
      const g = groups.get(key) ?? { params, tags: [] };
      g.tags.push(t);
      groups.set(key, g);
    }
    const retryWithoutFilter: OpcuaTag[] = [];
    for (const g of groups.values()) {
      for (const part of chunk(g.tags, live.limits.maxMonitoredItemsPerCall, DEFAULT_CHUNK)) {
        const failed = await this.monitor(sub, part, g.params);
        for (const [t, code] of failed) {
          if (t.deadband && /Filter|Deadband/i.test(code)) retryWithoutFilter.push(t);
          else this.markBadNow(t, code, `node ${t.nodeId} cannot be monitored (${code})`);
        }
      }
    }
    for (const t of retryWithoutFilter) {
      const key = `${t.name}\u0000deadband`;
      if (!this.logged.has(key)) {
        this.logged.add(key);
        this.log.warn({ tag: t.name, nodeId: t.nodeId }, 'opcua: the server refused the deadband of this tag; monitoring it without deadband');
      }
    }
    for (const part of chunk(retryWithoutFilter, live.limits.maxMonitoredItemsPerCall, DEFAULT_CHUNK)) {
      const failed = await this.monitor(sub, part, {
        samplingInterval: part[0]!.samplingInterval ?? interval,
        queueSize: part[0]!.queueSize,
        discardOldest: true,
      });
      for (const [t, code] of failed) this.markBadNow(t, code, `node ${t.nodeId} cannot be monitored (${code})`);
    }
  }

  private markBadNow(t: OpcuaTag, code: string, message: string): void {
    this.markBad(t, code, message);
    this.emit({
      device: this.deviceId,
      tag: t.name,
      ts: this.ctx.clock.now(),
      kind: this.types.get(t.name)?.kind ?? 'float',
      value: null,
      quality: 'bad',
      error: code,
    });
  }

  /** Creates monitored items for `tags` in one call; returns the tags the server refused, with the status name. */
  private async monitor(sub: ClientSubscription, tags: OpcuaTag[], params: MonitoringParametersOptions): Promise<Array<[OpcuaTag, string]>> {
    const group: ClientMonitoredItemGroup = await sub.monitorItems(
      tags.map((t) => ({ nodeId: this.nodeIds.get(t.name)!, attributeId: AttributeIds.Value })),
      params,
      TimestampsToReturn.Both,
    );
    group.on('changed', (_item, dv, index) => {
      const t = tags[index];
      if (t) this.onValue(t, dv);
    });
    const failed: Array<[OpcuaTag, string]> = [];
    group.monitoredItems.forEach((mi, i) => {
      const sc = mi.statusCode;
      if (sc && !sc.isGood()) failed.push([tags[i]!, sc.name]);
    });
    return failed;
  }

  private onValue(t: OpcuaTag, dv: DataValue): void {
    const type = this.types.get(t.name);
    if (!type) return;
    const d = decodeDataValue(type.kind, rawOf(dv), this.ctx.clock.now());
    const r: Reading = { device: this.deviceId, tag: t.name, ts: d.ts, kind: type.kind, value: d.value, quality: d.quality };
    if (d.error) r.error = d.error;
    if (t.mode === 'subscribe') this.lastSubscribed.set(t.name, { reading: r, at: this.ctx.clock.now() });
    this.emit(r);
  }

  /**
   * A subscription reports changes only, so a quiet machine would leave reporting slots empty. While
   * the subscription is alive (its keep-alives say nothing changed), the last value of a subscribed
   * tag that has not been reported for `republishInterval` is reported again with ts = now.
   */
  private startRepublish(live: Live): void {
    const every = this.device.republishInterval;
    if (every <= 0 || !live.subscription) return;
    const sweepMs = Math.max(100, Math.floor(every / 4));
    const sweep = () => {
      if (this.live !== live || this.closed) return;
      const now = this.ctx.clock.now();
      for (const [tag, last] of this.lastSubscribed) {
        if (now - last.at < every) continue;
        const r: Reading = { ...last.reading, ts: now };
        this.lastSubscribed.set(tag, { reading: r, at: now });
        this.emit(r);
      }
      live.republishTimer = this.ctx.clock.setTimeout(sweep, sweepMs);
    };
    live.republishTimer = this.ctx.clock.setTimeout(sweep, sweepMs);
  }

  // ---------------------------------------------------------------- polling

  private startPolling(live: Live): void {
    const tags = this.device.tags.filter((t) => t.mode === 'poll' && this.usable(t));
    if (tags.length === 0) return;
    const clock = this.ctx.clock;
    // ticks anchored to the start of polling on this session (no drift); late and skipped counted
    const sched = new PollSchedule(this.device.interval, clock.now());
    if (this.schedule) {
      this.lateBefore += this.schedule.late;
      this.skippedBefore += this.schedule.skipped;
    }
    this.schedule = sched;
    const tick = () => {
      if (this.live !== live || this.closed) return;
      const started = clock.now();
      sched.started(started);
      live.polling = this.pollOnce(live, tags).finally(() => {
        const now = clock.now();
        this.st.cycleMs = now - started;
        if (this.live !== live || this.closed) return;
        sched.finished(now);
        live.pollTimer = clock.setTimeout(tick, Math.max(0, sched.next() - now));
      });
    };
    tick();
  }

  /** One Read of every polled tag, chunked by MaxNodesPerRead. Never throws. */
  private async pollOnce(live: Live, tags: OpcuaTag[]): Promise<void> {
    for (const part of chunk(tags, live.limits.maxNodesPerRead, DEFAULT_CHUNK)) {
      let dvs: DataValue[];
      try {
        dvs = await live.session.read(
          part.map((t) => ({ nodeId: this.nodeIds.get(t.name)!, attributeId: AttributeIds.Value })),
          0,
        );
      } catch (e) {
        const text = errorText(e);
        if (/timeout|timed out|closed|disconnect|BadSession|BadSecureChannel|BadConnection/i.test(text)) live.markLost(`read failed: ${text}`);
        else this.fail(new GatewayError(ErrorCodes.NOT_CONNECTED, `read failed: ${text}`, { cause: e }));
        return;
      }
      part.forEach((t, i) => {
        const dv = dvs[i];
        if (dv) this.onValue(t, dv);
      });
    }
  }

  // ---------------------------------------------------------------- output

  private emit(r: Reading): void {
    if (this.closed) return;
    if (r.quality === 'bad') this.st.bad++;
    else {
      this.st.good++;
      this.st.lastReadingAt = this.ctx.clock.now();
    }
    this.pending.push(r);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.ctx.sink.write(batch).then(
      () => {
        if (this.sinkFailed) this.log.info('opcua: sink accepts readings again');
        this.sinkFailed = false;
      },
      (e) => {
        if (!this.sinkFailed) this.log.error({ err: errorText(e) }, 'opcua: the sink refused readings');
        this.sinkFailed = true;
      },
    );
  }

  private async teardown(): Promise<void> {
    const live = this.live;
    this.live = undefined;
    if (!live) return;
    this.ctx.clock.clearTimeout(live.pollTimer);
    this.ctx.clock.clearTimeout(live.republishTimer);
    this.lastSubscribed.clear();
    await live.polling?.catch(() => undefined);
    const t = this.device.connection.requestTimeout;
    // close the session (and its subscription) if the server can still hear us, then the channel
    await withTimeout(live.session.close(true), t, 'closing the session').catch(() => undefined);
    await withTimeout(live.client.disconnect(), t, 'disconnecting').catch(() => undefined);
  }

  // ---------------------------------------------------------------- writes

  async write(tagName: string, value: Value): Promise<void> {
    const tag = this.tagsByName.get(tagName);
    if (!tag) throw new GatewayError(ErrorCodes.TAG_UNKNOWN, `device ${this.deviceId} has no tag "${tagName}"`);
    const live = this.live;
    if (!live || !this.st.connected) throw new GatewayError(ErrorCodes.NOT_CONNECTED, `device ${this.deviceId} is not connected`);
    const type = this.types.get(tagName);
    if (!type || this.badAtConnect.has(tagName)) {
      throw new GatewayError(
        ErrorCodes.WRITE_UNSUPPORTED,
        `tag ${tagName} (${tag.nodeId}) is not a collectable variable (${this.badAtConnect.get(tagName) ?? 'type unknown'})`,
      );
    }
    const wv = toWriteValue(type.builtIn, value);
    if (!wv.ok) throw new GatewayError(ErrorCodes.WRITE_TYPE, `tag ${tagName}: ${wv.reason}`);
    let sc;
    try {
      sc = await live.session.write({
        nodeId: this.nodeIds.get(tagName)!,
        attributeId: AttributeIds.Value,
        value: { value: new Variant({ dataType: type.builtIn as DataType, arrayType: VariantArrayType.Scalar, value: wv.value }) },
      });
    } catch (e) {
      throw new GatewayError(ErrorCodes.WRITE_FAILED, `writing ${tagName} failed: ${errorText(e)}`, { cause: e });
    }
    if (!sc.isGood()) throw new GatewayError(ErrorCodes.WRITE_FAILED, `the server refused the write of ${tagName}: ${sc.name}`);
  }
}
