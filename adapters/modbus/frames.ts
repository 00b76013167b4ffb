/**
 * Pure Modbus framing: request PDUs, the MBAP (TCP) and RTU (CRC) envelopes, extraction of one
 * response frame from a receive buffer, and validation of a response PDU against its request.
 * Extraction never throws on garbage: it reports how many bytes to skip.
 */

/** Short codes carried in Reading.error and in I/O errors. */
export const IO = {
  TIMEOUT: 'TIMEOUT',
  MALFORMED: 'MALFORMED',
  NOT_CONNECTED: 'NOT_CONNECTED',
  CLOSED: 'CONNECTION_CLOSED',
} as const;

export class ModbusIoError extends Error {
  constructor(
    readonly code: string,
    message?: string,
    /** the offending bytes of a malformed answer, for the dead-letter table */
    readonly raw?: Uint8Array,
  ) {
    super(message ?? code);
    this.name = 'ModbusIoError';
  }
}

export const exceptionCode = (n: number) => `MODBUS_EXC_${n}`;

const CRC_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    t[i] = c;
  }
  return t;
})();

export function crc16(buf: Uint8Array, start = 0, end = buf.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ CRC_TABLE[(crc ^ buf[i]!) & 0xff]!;
  return crc;
}

export function readPdu(fc: 1 | 2 | 3 | 4, start: number, count: number): Buffer {
  const b = Buffer.allocUnsafe(5);
  b[0] = fc;
  b.writeUInt16BE(start, 1);
  b.writeUInt16BE(count, 3);
  return b;
}

export function writeCoilPdu(address: number, on: boolean): Buffer {
  const b = Buffer.alloc(5);
  b[0] = 5;
  b.writeUInt16BE(address, 1);
  b.writeUInt16BE(on ? 0xff00 : 0, 3);
  return b;
}

export function writeRegisterPdu(address: number, value: number): Buffer {
  const b = Buffer.alloc(5);
  b[0] = 6;
  b.writeUInt16BE(address, 1);
  b.writeUInt16BE(value & 0xffff, 3);
  return b;
}

export function writeCoilsPdu(address: number, states: readonly boolean[]): Buffer {
  const n = Math.ceil(states.length / 8);
  const b = Buffer.alloc(6 + n);
  b[0] = 15;
  b.writeUInt16BE(address, 1);
  b.writeUInt16BE(states.length, 3);
  b[5] = n;
  states.forEach((s, i) => {
    if (s) b[6 + (i >> 3)]! |= 1 << (i & 7);
  });
  return b;
}

export function writeRegistersPdu(address: number, regs: readonly number[]): Buffer {
  const b = Buffer.alloc(6 + regs.length * 2);
  b[0] = 16;
  b.writeUInt16BE(address, 1);
  b.writeUInt16BE(regs.length, 3);
  b[5] = regs.length * 2;
  regs.forEach((r, i) => b.writeUInt16BE(r & 0xffff, 6 + 2 * i));
  return b;
}

export function tcpFrame(tid: number, unit: number, pdu: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(7 + pdu.length);
  b.writeUInt16BE(tid & 0xffff, 0);
  b.writeUInt16BE(0, 2);
  b.writeUInt16BE(pdu.length + 1, 4);
  b[6] = unit;
  b.set(pdu, 7);
  return b;
}

export function rtuFrame(unit: number, pdu: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(pdu.length + 3);
  b[0] = unit;
  b.set(pdu, 1);
  b.writeUInt16LE(crc16(b, 0, pdu.length + 1), pdu.length + 1);
  return b;
}

export type Extracted =
  | { kind: 'need' }
  /** a frame: PDU at [pduStart, pduEnd) of the buffer; `consumed` bytes to drop */
  | { kind: 'frame'; unit: number; tid: number; pduStart: number; pduEnd: number; consumed: number }
  /** garbage: drop `consumed` bytes and try again */
  | { kind: 'skip'; consumed: number; reason: string };

const NEED: Extracted = { kind: 'need' };

/** One MBAP frame from the start of buf[0, len). Garbage in the header means the stream lost sync. */
export function extractTcp(buf: Uint8Array, len: number): Extracted {
  if (len < 7) return NEED;
  const proto = (buf[2]! << 8) | buf[3]!;
  const length = (buf[4]! << 8) | buf[5]!;
  if (proto !== 0 || length < 2 || length > 254) return { kind: 'skip', consumed: len, reason: `bad MBAP header (protocol ${proto}, length ${length})` };
  if (len < 6 + length) return NEED;
  return { kind: 'frame', unit: buf[6]!, tid: (buf[0]! << 8) | buf[1]!, pduStart: 7, pduEnd: 6 + length, consumed: 6 + length };
}

/**
 * One RTU response to a request (unit, fc) from the start of buf[0, len). RTU has no length field,
 * so the expected shape of the answer tells where the frame ends; bytes that cannot start a valid
 * answer (wrong unit, wrong function, bad CRC) are skipped one at a time.
 */
export function extractRtu(buf: Uint8Array, len: number, unit: number, fc: number): Extracted {
  if (len < 2) return NEED;
  if (buf[0] !== unit) return { kind: 'skip', consumed: 1, reason: `unexpected unit ${buf[0]}` };
  const f = buf[1]!;
  let size: number;
  if (f === (fc | 0x80)) size = 5;
  else if (f !== fc) return { kind: 'skip', consumed: 1, reason: `unexpected function ${f}` };
  else if (fc >= 1 && fc <= 4) {
    if (len < 3) return NEED;
    size = 5 + buf[2]!;
  } else size = 8;
  if (len < size) return NEED;
  const crc = buf[size - 2]! | (buf[size - 1]! << 8);
  if (crc !== crc16(buf, 0, size - 2)) return { kind: 'skip', consumed: 1, reason: 'CRC mismatch' };
  return { kind: 'frame', unit, tid: 0, pduStart: 1, pduEnd: size - 2, consumed: size };
}

/**
 * Checks a response PDU against its request. Returns null when it is a well-formed answer, else
 * the error code (`MODBUS_EXC_n` for an exception response, `MALFORMED` otherwise).
 */
export function checkResponse(pdu: Uint8Array, fc: number, count: number): string | null {
  if (pdu.length < 2) return IO.MALFORMED;
  if (pdu[0] === (fc | 0x80)) return exceptionCode(pdu[1]!);
  if (pdu[0] !== fc) return IO.MALFORMED;
  switch (fc) {
    case 1:
    case 2: {
      const n = Math.ceil(count / 8);
      return pdu[1] === n && pdu.length === 2 + n ? null : IO.MALFORMED;
    }
    case 3:
    case 4:
      return pdu[1] === count * 2 && pdu.length === 2 + count * 2 ? null : IO.MALFORMED;
    default:
      return pdu.length === 5 ? null : IO.MALFORMED;
  }
}
