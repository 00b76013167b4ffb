/**
 * The Modbus adapter: compiles the device's tags and read plan once at start (frozen, logged once),
 * then polls on its interval through a shared, serialized line, on ticks anchored to the start
 * (adapters/schedule.ts). Polls never overlap: a slow cycle skips ticks, a poll started late is
 * counted late. A Modbus exception marks only that request's tags bad; a timeout ends the cycle (the
 * rest of the tags are marked bad too, so a dead unit costs one timeout per poll) and a device that
 * keeps timing out is demoted (polled with backoff) so it cannot stall the other units on its line.
 */
import type { Adapter, AdapterContext, AdapterModule, DeviceStatus, Reading, TagType, Value } from '../types.js';
import { Backoff } from '../../config/backoff.js';
import { PollSchedule } from '../schedule.js';
import { NOT_FINITE } from '../values.js';
import { ErrorCodes, GatewayError, errorText } from '../../config/errors.js';
import { type CompiledTag, compileTag, fieldKind, decodeBit, decodeRegisters, encodeBool, encodeRegisters, hexRegisters } from './codec.js';
import { IO, ModbusIoError, checkResponse, readPdu, writeCoilPdu, writeCoilsPdu, writeRegisterPdu, writeRegistersPdu } from './frames.js';
import { type Line, acquireLine, releaseLine } from './line.js';
import { type ReadRequest, describePlan, planRequests } from './plan.js';
import { type ModbusDevice, deviceSchema, isBitArea, tagType } from './schema.js';
import type { Endpoint } from './transport.js';

export function endpointOf(d: ModbusDevice): Endpoint {
  const c = d.connection;
  if (c.serial) return { kind: 'serial', ...c.serial };
  return { kind: 'tcp', host: c.host ?? '127.0.0.1', port: c.port, framing: c.framing === 'rtu-over-tcp' ? 'rtu' : 'tcp' };
}

const codeOf = (e: unknown): string => (e instanceof ModbusIoError ? e.code : 'IO_ERROR');

export class ModbusAdapter implements Adapter {
  readonly deviceId: string;
  readonly tags: readonly CompiledTag[];
  readonly plan: readonly ReadRequest[];
  /** the read request PDU of each plan entry, built once */
  private readonly requestPdus: readonly Buffer[];
  private readonly byName = new Map<string, CompiledTag>();
  private line: Line | undefined;
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  /** the last sink write handed off (stop() awaits it) */
  private writing: Promise<void> = Promise.resolve();
  private abort = new AbortController();
  private readonly st: DeviceStatus = { connected: false, good: 0, bad: 0 };
  private timedOutPolls = 0;
  private readonly demoteBackoff: Backoff;
  private wasDown = false;
  private sinkFailing = false;
  /** completed poll cycles */
  polls = 0;
  private schedule: PollSchedule | undefined;
  /** ticks without a poll (a cycle overran its interval, or the timer fired past the next tick) */
  get skippedTicks(): number {
    return this.schedule?.skipped ?? 0;
  }
  /** ticks whose poll started more than half an interval late */
  get lateTicks(): number {
    return this.schedule?.late ?? 0;
  }
  /** garbled answers (dead-lettered) since start */
  malformed = 0;

  constructor(
    readonly device: ModbusDevice,
    private readonly ctx: AdapterContext,
  ) {
    this.deviceId = device.id;
    this.tags = Object.freeze(device.tags.map((t, i) => compileTag(t, i)));
    for (const t of this.tags) this.byName.set(t.name, t);
    this.plan = planRequests(this.tags, device);
    this.requestPdus = this.plan.map((r) => readPdu(r.fc, r.start, r.count));
    this.demoteBackoff = new Backoff({ baseMs: Math.max(device.interval * 2, 100), capMs: Math.max(device.demotedMaxInterval, device.interval) });
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    const d = this.device;
    this.line = acquireLine(this.ctx.shared, endpointOf(d), this.ctx.clock, this.ctx.log, d.connection.timeout);
    this.ctx.log.info(
      { unitId: d.connection.unitId, interval: d.interval, requests: describePlan(this.plan) },
      `modbus read plan: ${this.plan.length} request(s) per poll`,
    );
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.abort.abort();
    await this.loopDone;
    await this.writing;
    if (this.line) releaseLine(this.ctx.shared, this.line);
    this.line = undefined;
    this.st.connected = false;
  }

  status(): DeviceStatus {
    return { ...this.st, pollsLate: this.lateTicks, pollsSkipped: this.skippedTicks };
  }

  private async loop(): Promise<void> {
    const { clock } = this.ctx;
    const interval = this.device.interval;
    // ticks on a grid anchored to the start (no drift); late and skipped ticks are counted
    const sched = (this.schedule = new PollSchedule(interval, clock.now()));
    while (this.running) {
      const wait = sched.next() - clock.now();
      if (wait > 0) await clock.sleep(wait, this.abort.signal);
      if (!this.running) break;
      const t0 = clock.now();
      sched.started(t0);
      try {
        await this.pollOnce();
      } catch (e) {
        // pollOnce catches its own errors; this is the last line of defence
        this.ctx.log.error({ err: errorText(e) }, 'modbus poll failed unexpectedly');
      }
      this.polls++;
      if (!this.running) break;
      if (this.device.closeAfterPoll) await this.line?.closeWhenIdle();
      const now = clock.now();
      this.st.cycleMs = now - t0;
      sched.finished(now);
      if (this.st.demoted) {
        // polled with backoff, deliberately off the grid: the ticks meanwhile are not counted
        await clock.sleep(Math.max(this.demoteBackoff.next(), interval), this.abort.signal);
        sched.restart(clock.now());
      }
    }
  }

  /** One poll cycle: every request of the plan, in order, on the shared line. Never throws. */
  async pollOnce(): Promise<void> {
    const line = this.line;
    if (!line) return;
    const d = this.device;
    const unit = d.connection.unitId;
    const readings: Reading[] = [];
    // one timestamp for the whole poll (its start), so a poll's tags form one point downstream
    const ts = this.ctx.clock.now();
    let stop: string | undefined;
    let answered = false;
    let timedOut = false;
    let notConnected = false;
    for (let r = 0; r < this.plan.length; r++) {
      const req = this.plan[r]!;
      const request = this.requestPdus[r]!;
      if (stop !== undefined) {
        this.pushBad(readings, req, stop, ts);
        continue;
      }
      let pdu: Buffer | undefined;
      let code: string | null = null;
      for (let attempt = 0; ; attempt++) {
        try {
          pdu = await line.exclusive(() => line.transact(unit, request, d.connection.timeout, d));
          code = checkResponse(pdu, req.fc, req.count);
          if (code === IO.MALFORMED) this.deadLetter(req, 'answer does not fit the request', pdu);
        } catch (e) {
          pdu = undefined;
          code = codeOf(e);
          if (code === IO.MALFORMED) this.deadLetter(req, errorText(e), (e as ModbusIoError).raw);
        }
        const retryable = code === IO.TIMEOUT || code === IO.MALFORMED;
        if (!retryable || attempt >= d.retries || !this.running) break;
      }
      if (code === null && pdu) {
        answered = true;
        this.decodeInto(readings, req, pdu, ts);
      } else {
        const err = code ?? IO.MALFORMED;
        if (err.startsWith('MODBUS_EXC_') || err === IO.MALFORMED) answered = true;
        this.pushBad(readings, req, err, ts);
        this.st.lastError = err;
        this.st.lastErrorAt = this.ctx.clock.now();
        if (err === IO.TIMEOUT) timedOut = true;
        if (err === IO.TIMEOUT || err === IO.NOT_CONNECTED || err === IO.CLOSED || err === 'IO_ERROR') {
          stop = err;
          notConnected = err !== IO.TIMEOUT;
        }
      }
    }
    this.st.connected = line.isOpen && answered;
    this.updateDemotion(timedOut && !answered, answered);
    // while the line stays down, one batch of bad readings marks the outage, not one per poll
    const suppress = notConnected && !answered && this.wasDown;
    this.wasDown = notConnected && !answered;
    if (suppress)
      this.st.bad -= readings.length; // not written, not counted
    else if (readings.length) this.emit(readings);
  }

  private decodeInto(out: Reading[], req: ReadRequest, pdu: Buffer, ts: number): void {
    const bits = isBitArea(req.area);
    for (let i = 0; i < req.tags.length; i++) {
      const t = req.tags[i]!;
      const off = req.offsets[i]!;
      const value: Value = bits ? decodeBit(pdu, 2, off) : decodeRegisters(t, pdu, 2 + off * 2);
      // a float register holding NaN or ±Infinity (a sensor fault code, or garbage) is no value
      if (typeof value === 'number' && !Number.isFinite(value)) {
        out.push({ device: this.deviceId, tag: t.name, ts, kind: t.kind, value: null, quality: 'bad', error: NOT_FINITE });
        this.st.bad++;
        continue;
      }
      out.push({ device: this.deviceId, tag: t.name, ts, kind: t.kind, value, quality: 'good' });
      this.st.good++;
    }
    this.st.lastReadingAt = ts;
    if (this.ctx.log.isLevelEnabled('debug')) {
      const values: Record<string, Value> = {};
      for (let i = out.length - req.tags.length; i < out.length; i++) values[out[i]!.tag] = out[i]!.value!;
      const raw = bits ? pdu.subarray(2).toString('hex') : hexRegisters(pdu, 2, req.count);
      this.ctx.log.debug({ fc: req.fc, start: req.start, count: req.count, raw, values }, 'modbus read');
    }
  }

  /** A garbled answer: counted and kept in the dead-letter table, never thrown. */
  private deadLetter(req: ReadRequest, detail: string, raw: Uint8Array | undefined): void {
    this.malformed++;
    this.ctx.sink.deadLetter({
      ts: this.ctx.clock.now(),
      source: 'modbus',
      device: this.deviceId,
      topic: `unit ${this.device.connection.unitId} FC${req.fc} ${req.start}+${req.count}`,
      reason: IO.MALFORMED,
      detail,
      ...(raw ? { payload: Buffer.from(raw).toString('base64') } : {}),
    });
  }

  private pushBad(out: Reading[], req: ReadRequest, error: string, ts: number): void {
    for (const t of req.tags) out.push({ device: this.deviceId, tag: t.name, ts, kind: t.kind, value: null, quality: 'bad', error });
    this.st.bad += req.tags.length;
  }

  private updateDemotion(allTimedOut: boolean, answered: boolean): void {
    if (answered) {
      if (this.st.demoted) this.ctx.log.info({ timedOutPolls: this.timedOutPolls }, 'modbus device answers again; no longer demoted');
      this.timedOutPolls = 0;
      this.st.demoted = false;
      this.demoteBackoff.reset();
    } else if (allTimedOut) {
      this.timedOutPolls++;
      if (!this.st.demoted && this.timedOutPolls >= this.device.demoteAfter) {
        this.st.demoted = true;
        this.ctx.log.warn({ timedOutPolls: this.timedOutPolls }, 'modbus device keeps timing out; demoted (polled with backoff)');
      }
    }
  }

  /**
   * Hands a poll's readings to the sink without waiting for their commit: the next tick must not
   * wait on the store (the sink commits in call order; stop() awaits the last write).
   */
  private emit(readings: Reading[]): void {
    const w = this.ctx.sink.write(readings).then(
      () => {
        if (this.sinkFailing) this.ctx.log.info('sink accepts readings again');
        this.sinkFailing = false;
      },
      (e: unknown) => {
        if (!this.sinkFailing) this.ctx.log.error({ err: errorText(e) }, 'sink rejected readings');
        this.sinkFailing = true;
      },
    );
    this.writing = w;
  }

  async write(tagName: string, value: Value): Promise<void> {
    const t = this.byName.get(tagName);
    if (!t) throw new GatewayError(ErrorCodes.TAG_UNKNOWN, `device ${this.deviceId} has no tag ${tagName}`);
    if (t.area === 'input' || t.area === 'discrete') throw new GatewayError(ErrorCodes.WRITE_UNSUPPORTED, `tag ${tagName}: area ${t.area} is read-only`);
    const line = this.line;
    if (!line) throw new GatewayError(ErrorCodes.NOT_CONNECTED, `device ${this.deviceId} is not started`);
    const d = this.device;
    const unit = d.connection.unitId;
    const timeout = d.connection.timeout;
    const call = async (pdu: Buffer, fc: number, count: number): Promise<Buffer> => {
      const res = await line.transact(unit, pdu, timeout, d);
      const code = checkResponse(res, fc, count);
      if (code) throw new ModbusIoError(code);
      return res;
    };
    try {
      if (t.area === 'coil') {
        const on = encodeBool(t, value);
        await line.exclusive(() => (t.writeFunction === 15 ? call(writeCoilsPdu(t.address, [on]), 15, 1) : call(writeCoilPdu(t.address, on), 5, 1)));
      } else if (t.bit !== undefined) {
        const on = encodeBool(t, value);
        const bit = t.bit;
        // read-modify-write of one register, with the line held so no other request comes between
        await line.exclusive(async () => {
          const cur = await call(readPdu(3, t.address, 1), 3, 1);
          const old = cur.readUInt16BE(2);
          const next = on ? old | (1 << bit) : old & ~(1 << bit) & 0xffff;
          await (t.writeFunction === 16 ? call(writeRegistersPdu(t.address, [next]), 16, 1) : call(writeRegisterPdu(t.address, next), 6, 1));
        });
      } else {
        const regs = encodeRegisters(t, value);
        const fc = t.writeFunction ?? (regs.length === 1 ? 6 : 16);
        await line.exclusive(() => (fc === 6 ? call(writeRegisterPdu(t.address, regs[0]!), 6, 1) : call(writeRegistersPdu(t.address, regs), 16, regs.length)));
      }
    } catch (e) {
      if (e instanceof GatewayError) throw e;
      const code = codeOf(e);
      if (code === IO.NOT_CONNECTED || code === IO.CLOSED)
        throw new GatewayError(ErrorCodes.NOT_CONNECTED, `device ${this.deviceId}: ${errorText(e)}`, { cause: e });
      throw new GatewayError(ErrorCodes.WRITE_FAILED, `device ${this.deviceId} tag ${tagName}: ${code}`, { cause: e });
    }
    this.ctx.log.info({ tag: tagName }, 'modbus write done');
  }
}

const ONE_BASED: Record<string, [number, string]> = { holding: [40001, '4xxxx'], input: [30001, '3xxxx'], discrete: [10001, '1xxxx'] };

/** Advice for `fgw check`: addresses that look like 1-based "register numbers" (40001 etc.). */
export function warnings(device: ModbusDevice, path: string): string[] {
  const out: string[] = [];
  device.tags.forEach((t, i) => {
    const w = ONE_BASED[t.area];
    if (w && t.address >= w[0] && t.address <= w[0] + 9999) {
      out.push(
        `${path}.tags[${i}].address: ${t.address} looks like a 1-based ${w[1]} register number; Modbus addresses here are 0-based protocol addresses, so ${t.address} is probably ${t.address - w[0]} (see adapters/modbus/README.md)`,
      );
    }
  });
  return out;
}

/** Every Modbus tag's type is configured; the wire type is the value's own unless scaled or a bit. */
export function tagTypes(device: ModbusDevice): Record<string, TagType> {
  const out: Record<string, TagType> = {};
  for (const t of device.tags) {
    const kind = fieldKind(t);
    const wire = t.bit !== undefined ? 'bool' : tagType(t);
    out[t.name] = kind === 'float' && wire !== 'float32' && wire !== 'float64' ? { kind } : { kind, wire };
  }
  return out;
}

const modbus: AdapterModule<ModbusDevice> = {
  protocol: 'modbus',
  deviceSchema,
  create: (device, ctx) => new ModbusAdapter(device, ctx),
  warnings,
  tagTypes,
};

export default modbus;
