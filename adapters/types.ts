/**
 * The contract between adapters/ and the rest of the gateway. Adapters know devices and protocols
 * and nothing of storage: they hand Reading[] to a Sink (Telegraf's Accumulator).
 */
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Clock } from '../config/clock.js';

/** good: a value to trust; uncertain: a value with a caveat (OPC UA Uncertain*); bad: no value. */
export type Quality = 'good' | 'uncertain' | 'bad';

/**
 * The InfluxDB field type of a tag, fixed by the tag's configured type (OPC UA: by the variable's
 * DataType), never by the value: this is what makes field-type conflicts impossible.
 */
export type FieldKind = 'float' | 'integer' | 'boolean' | 'string';

export type Value = number | boolean | string;

export interface Reading {
  device: string;
  tag: string;
  /** ms since epoch: the source timestamp when the device gives one, else the read time */
  ts: number;
  kind: FieldKind;
  /** null when quality is bad */
  value: Value | null;
  quality: Quality;
  /** short code of what went wrong (e.g. "MODBUS_EXC_2", "BadNodeIdUnknown", "TIMEOUT") */
  error?: string;
}

/** A message or response that could not be turned into readings, kept for inspection. */
export interface DeadLetter {
  ts: number;
  /** what produced it: "mqtt", "modbus", "opcua", "influx" */
  source: string;
  device?: string;
  /** MQTT topic, OPC UA node id, Modbus request: where it came from */
  topic?: string;
  /** machine-readable reason code, e.g. "NOT_JSON", "PATH_MISSING", "WRONG_TYPE", "OVERSIZE", "INFLUX_400" */
  reason: string;
  /** the human text (InfluxDB's error message, the parse error) */
  detail?: string;
  /** the payload as text (binary payloads as base64), truncated to DEAD_PAYLOAD_MAX */
  payload?: string;
}

/**
 * The most of a dead letter's payload that is kept: 64 Ki (bytes of the message an adapter cuts,
 * characters of the text the store keeps). One cap for both sides, so what an adapter hands over
 * is what the store holds.
 */
export const DEAD_PAYLOAD_MAX = 64 * 1024;

export interface Sink {
  /**
   * Commits readings to the durable store. Resolves when they are committed (group commit, a few
   * ms); adapters that must acknowledge upstream only after storage (MQTT PUBACK) await it,
   * pollers need not. Rejects only if the store itself fails or is full (GW_ERR_STORE_FULL); the
   * store then counts the readings as lost, unless the writer says `retried` (it keeps them and
   * writes them again, as MQTT does while it holds the PUBACK).
   */
  write(readings: readonly Reading[], opts?: { retried?: boolean }): Promise<void>;
  /** Keeps a bad payload in the dead-letter table (synchronous, never throws). */
  deadLetter(entry: DeadLetter): void;
}

export interface DeviceStatus {
  connected: boolean;
  /** ms epoch of the last good reading */
  lastReadingAt?: number;
  lastError?: string;
  lastErrorAt?: number;
  /** cumulative counts of good (incl. uncertain) and bad readings since start */
  good: number;
  bad: number;
  /** duration of the last complete poll cycle, ms (pollers only) */
  cycleMs?: number;
  /**
   * Pollers only, since start: ticks whose poll started more than half an interval after the tick
   * (the event loop was busy), and ticks without a poll (the previous poll of the device was still
   * running, or a newer tick was already due). See adapters/schedule.ts.
   */
  pollsLate?: number;
  pollsSkipped?: number;
  /** true while the device is demoted for repeated timeouts (polled less often) */
  demoted?: boolean;
}

export interface AdapterContext {
  sink: Sink;
  /** a pino child logger already bound to { device } */
  log: Logger;
  clock: Clock;
  /** storage.path: where an adapter keeps its state (OPC UA PKI) */
  dataDir: string;
  gateway: { id: string; site?: string };
  /**
   * Shared per runtime and protocol: a module keeps connections several devices share here
   * (RTU slaves on one serial line, several unit ids behind one TCP gateway).
   */
  shared: Map<string, unknown>;
}

export interface Adapter {
  readonly deviceId: string;
  /** Starts connecting and collecting. Never rejects because the device is unreachable. */
  start(): Promise<void>;
  /** Stops, closes connections; resolves when no more readings will be written. */
  stop(): Promise<void>;
  status(): DeviceStatus;
  /**
   * Writes a value to a tag (Modbus FC 5/6/15/16, OPC UA Write, MQTT publish). The caller has
   * checked that the tag is writable and the value in range; the adapter converts to the wire type
   * and throws GatewayError(WRITE_TYPE | WRITE_UNSUPPORTED | WRITE_FAILED | NOT_CONNECTED).
   */
  write?(tag: string, value: Value): Promise<void>;
}

/** The minimal shape every protocol's device config has after parsing. */
export interface BaseDevice {
  id: string;
  name?: string;
  line?: string;
  process?: string;
  protocol: string;
  interval: number;
  enabled: boolean;
  tags: ReadonlyArray<BaseTag>;
}

export interface BaseTag {
  name: string;
  role: 'state' | 'counter' | 'parameter' | 'quality' | 'alarm' | 'other';
  unit?: string;
  description?: string;
  min?: number;
  max?: number;
  writable: boolean;
}

/** A tag's value type on the device, where the config fixes it (int16, float32 ...). */
export type WireType = 'bool' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'float32' | 'float64' | 'string';

/** The field kind of a tag and, when the value is the device's own (no scale/offset), its wire type. */
export interface TagType {
  kind: FieldKind;
  wire?: WireType;
}

/** One folder per protocol, one line in adapters/registry.ts to register it. */
export interface AdapterModule<D extends BaseDevice = BaseDevice> {
  protocol: string;
  /** strict zod object with `protocol: z.literal(<protocol>)`; composed by gateway/schema.ts */
  deviceSchema: z.ZodType<D, any>;
  create(device: D, ctx: AdapterContext): Adapter;
  /** non-fatal advice for `fgw check` (e.g. an address that looks 1-based), one line each */
  warnings?(device: D, path: string): string[];
  /**
   * The types the config fixes, per tag name (tags whose type is learnt at run time are left out,
   * e.g. OPC UA's, fixed by the server's DataType). The northbound Sparkplug births use them.
   */
  tagTypes?(device: D): Record<string, TagType>;
}
