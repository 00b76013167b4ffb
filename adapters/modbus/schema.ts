/**
 * The Modbus device schema: connection (TCP, RTU over a serial port, RTU framing over TCP), pacing,
 * request planning limits, and tags (area, 0-based address, type, byte order, scale/offset).
 * Cross-field rules are checked in superRefine with precise paths so config errors name the field
 * (`devices[2].tags[0].bit: ...`).
 */
import { z } from 'zod';
import { baseDeviceFields, baseTagFields, duration, uniqueTagNames } from '../../config/common.js';

export const AREAS = ['coil', 'discrete', 'holding', 'input'] as const;
export type Area = (typeof AREAS)[number];

export const TYPES = ['bool', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64', 'string'] as const;
export type ModbusType = (typeof TYPES)[number];

export const BYTE_ORDERS = ['ABCD', 'CDAB', 'BADC', 'DCBA'] as const;
export type ByteOrder = (typeof BYTE_ORDERS)[number];

export const MAX_REGISTERS_PER_REQUEST = 125;
export const MAX_BITS_PER_REQUEST = 2000;
export const MIN_INTERVAL_MS = 10;

const serialSchema = z
  .strictObject({
    path: z.string().min(1).describe('Serial device path (e.g. /dev/ttyUSB0, /dev/ttyS1).'),
    baudRate: z.number().int().positive().default(9600).describe('Baud rate (default 9600).'),
    parity: z.enum(['none', 'even', 'odd', 'mark', 'space']).default('none').describe('Parity: none, even, odd, mark or space (default none).'),
    dataBits: z
      .union([z.literal(7), z.literal(8)])
      .default(8)
      .describe('Data bits, 7 or 8 (default 8; RTU uses 8).'),
    stopBits: z
      .union([z.literal(1), z.literal(2)])
      .default(1)
      .describe('Stop bits, 1 or 2 (default 1).'),
  })
  .describe('RTU over a serial port. Devices with the same path share one line; its settings must agree.');

const connectionSchema = z
  .strictObject({
    host: z.string().min(1).optional().describe('Modbus TCP host (or serial server for framing rtu-over-tcp). Exactly one of host or serial.'),
    port: z.number().int().min(1).max(65535).default(502).describe('TCP port (default 502).'),
    framing: z
      .enum(['tcp', 'rtu-over-tcp'])
      .default('tcp')
      .describe('Framing on a TCP connection: tcp (MBAP header, default) or rtu-over-tcp (RTU frames with CRC, for serial servers).'),
    serial: serialSchema.optional(),
    unitId: z
      .number()
      .int()
      .min(0)
      .max(255)
      .default(1)
      .describe('Unit (slave) id, 0-255 (default 1). Several devices may share one line with different unit ids.'),
    timeout: duration('Response timeout per request (default "1s").').default(1000),
  })
  .describe('Where the device is: { host, port } for TCP, or { serial: {...} } for RTU.');

export const tagSchema = z
  .strictObject({
    ...baseTagFields,
    area: z.enum(AREAS).describe('Register area: coil (FC1, write 5/15), discrete (FC2), holding (FC3, write 6/16) or input (FC4).'),
    address: z.number().int().min(0).max(65535).describe('0-based protocol address (the number on the wire). Holding "40001" is address 0; see README.'),
    type: z.enum(TYPES).optional().describe('Value type; default bool for coil/discrete and for tags with `bit`, uint16 otherwise.'),
    byteOrder: z
      .enum(BYTE_ORDERS)
      .default('ABCD')
      .describe('Byte and word order of multi-register values: ABCD (big endian, default), CDAB (word swap), BADC (byte swap), DCBA (little endian).'),
    bit: z.number().int().min(0).max(15).optional().describe('Read one bit (0 = least significant) of a 16-bit register; the tag is then boolean.'),
    length: z
      .number()
      .int()
      .min(1)
      .max(MAX_REGISTERS_PER_REQUEST)
      .optional()
      .describe('String length in registers (2 characters each); required for type string.'),
    encoding: z.enum(['ascii', 'utf8']).default('utf8').describe('String encoding, ascii or utf8 (default utf8). Trailing NULs are trimmed.'),
    scale: z.number().default(1).describe('Multiplier applied to the raw value (default 1). Any scale other than 1 makes the field a float.'),
    offset: z.number().default(0).describe('Added after scaling (default 0). Any offset other than 0 makes the field a float.'),
    writeFunction: z
      .union([z.literal(5), z.literal(6), z.literal(15), z.literal(16)])
      .optional()
      .describe('Function code for writes: 5 or 15 for coils (default 5), 6 or 16 for holding registers (default 6 for one register, 16 otherwise).'),
  })
  .describe('A Modbus tag.');

export type ModbusTagInput = z.input<typeof tagSchema>;
export type ModbusTag = z.output<typeof tagSchema>;

export const deviceSchema = z
  .strictObject({
    ...baseDeviceFields,
    protocol: z.literal('modbus').describe('modbus'),
    connection: connectionSchema,
    maxGap: z
      .number()
      .int()
      .min(0)
      .max(MAX_REGISTERS_PER_REQUEST)
      .default(10)
      .describe('Largest gap (registers, or bits for coil/discrete) read across to merge two tags into one request (default 10; 0 merges only adjacent tags).'),
    maxRegistersPerRequest: z
      .number()
      .int()
      .min(1)
      .max(MAX_REGISTERS_PER_REQUEST)
      .default(MAX_REGISTERS_PER_REQUEST)
      .describe('Most registers in one read request (default and protocol maximum 125); lower it for devices that refuse long reads.'),
    maxBitsPerRequest: z
      .number()
      .int()
      .min(1)
      .max(MAX_BITS_PER_REQUEST)
      .default(MAX_BITS_PER_REQUEST)
      .describe('Most coils/discrete inputs in one read request (default and protocol maximum 2000).'),
    interRequestDelay: duration('Pause before each request to this device on its line (default 0).').default(0),
    delayAfterConnect: duration('Pause after the line (re)connects before the first request to this device (default 0).').default(0),
    closeAfterPoll: z.boolean().default(false).describe('Close the connection after each poll cycle (for devices that allow few connections; default false).'),
    retries: z.number().int().min(0).max(10).default(0).describe('Retries of a request that timed out or got a garbled answer (default 0).'),
    demoteAfter: z
      .number()
      .int()
      .min(1)
      .default(3)
      .describe('Consecutive timed-out polls after which the device is demoted: polled with backoff so it cannot stall its line (default 3).'),
    demotedMaxInterval: duration('Longest pause between polls of a demoted device (default "30s").').default(30_000),
    tags: z.array(tagSchema).min(1).describe('Tags to read.'),
  })
  .superRefine((d, ctx) => {
    const c = d.connection;
    if ((c.host === undefined) === (c.serial === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['connection'], message: 'give exactly one of connection.host (TCP) or connection.serial (RTU)' });
    }
    if (c.serial && c.framing !== 'tcp') {
      ctx.addIssue({ code: 'custom', path: ['connection', 'framing'], message: 'framing applies to TCP connections only; a serial connection is always RTU' });
    }
    if (d.interval < MIN_INTERVAL_MS)
      ctx.addIssue({ code: 'custom', path: ['interval'], message: `a Modbus poll interval must be at least ${MIN_INTERVAL_MS}ms` });
    uniqueTagNames(d.tags, ctx);
    d.tags.forEach((t, i) => checkTag(t, d.maxRegistersPerRequest, ctx, ['tags', i]));
  });

export type ModbusDevice = z.output<typeof deviceSchema>;

export const isBitArea = (a: Area): boolean => a === 'coil' || a === 'discrete';

/** The tag's effective type after defaults. */
export function tagType(t: Pick<ModbusTag, 'type' | 'area' | 'bit'>): ModbusType {
  if (t.type) return t.type;
  return isBitArea(t.area) || t.bit !== undefined ? 'bool' : 'uint16';
}

/** Registers (or bits, in coil/discrete) a tag occupies. */
export function tagSize(t: Pick<ModbusTag, 'type' | 'area' | 'bit' | 'length'>): number {
  if (isBitArea(t.area)) return 1;
  switch (tagType(t)) {
    case 'bool':
    case 'int16':
    case 'uint16':
      return 1;
    case 'int32':
    case 'uint32':
    case 'float32':
      return 2;
    case 'int64':
    case 'uint64':
    case 'float64':
      return 4;
    case 'string':
      return t.length ?? 1;
  }
}

function checkTag(t: ModbusTag, maxRegs: number, ctx: z.RefinementCtx, p: (string | number)[]): void {
  const issue = (field: string, message: string) => ctx.addIssue({ code: 'custom', path: [...p, field], message });
  const type = tagType(t);
  if (isBitArea(t.area)) {
    if (type !== 'bool') issue('type', `area ${t.area} holds single bits: type must be bool (got ${type})`);
    if (t.bit !== undefined) issue('bit', `bit applies to holding/input registers only, not to area ${t.area}`);
  } else {
    if (t.bit !== undefined && !['bool', 'int16', 'uint16'].includes(type)) {
      issue('bit', `bit applies to 16-bit registers only (type bool, int16 or uint16), not to ${type}`);
    }
    if (type === 'bool' && t.bit === undefined) issue('type', `type bool in area ${t.area} needs bit (0-15): which bit of the register`);
  }
  if (type === 'string' && t.length === undefined) issue('length', 'type string needs length (in registers, 2 characters each)');
  if (type !== 'string' && t.length !== undefined) issue('length', `length applies to type string only, not to ${type}`);
  if (t.scale === 0) issue('scale', 'scale must not be 0');
  if ((t.scale !== 1 || t.offset !== 0) && (type === 'bool' || type === 'string' || t.bit !== undefined)) {
    issue(t.scale !== 1 ? 'scale' : 'offset', `scale/offset apply to numeric tags only, not to ${t.bit !== undefined ? 'a bit' : type}`);
  }
  const size = tagSize(t);
  if (!isBitArea(t.area) && size > maxRegs)
    issue(type === 'string' ? 'length' : 'type', `the tag needs ${size} registers, more than maxRegistersPerRequest (${maxRegs})`);
  if (t.address + size > 65536) issue('address', `address ${t.address} + ${size} registers runs past 65535`);
  if (t.writable && (t.area === 'input' || t.area === 'discrete')) issue('writable', `area ${t.area} is read-only in Modbus`);
  if (t.writeFunction !== undefined) {
    const ok = t.area === 'coil' ? [5, 15] : t.area === 'holding' ? (size === 1 ? [6, 16] : [16]) : [];
    if (!ok.includes(t.writeFunction)) {
      issue(
        'writeFunction',
        ok.length ? `writeFunction ${t.writeFunction} does not fit area ${t.area} with type ${type}: use ${ok.join(' or ')}` : `area ${t.area} is read-only`,
      );
    }
  }
}
