/**
 * The I/O shell under a line: one byte stream (a TCP socket or a serial port) and one outstanding
 * request at a time. Framing is MBAP (Modbus TCP) or RTU (serial, or RTU over TCP). Responses are
 * matched to the pending request; anything else (late answers to timed-out requests, garbage) is
 * dropped. Nothing here retries: the line and the device decide.
 */
import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { IO, ModbusIoError, extractRtu, extractTcp, rtuFrame, tcpFrame } from './frames.js';

export type Framing = 'tcp' | 'rtu';

export interface TcpEndpoint {
  kind: 'tcp';
  host: string;
  port: number;
  framing: Framing;
}
export interface SerialEndpoint {
  kind: 'serial';
  path: string;
  baudRate: number;
  parity: 'none' | 'even' | 'odd' | 'mark' | 'space';
  dataBits: 7 | 8;
  stopBits: 1 | 2;
}
export type Endpoint = TcpEndpoint | SerialEndpoint;

export function endpointKey(e: Endpoint): string {
  return e.kind === 'tcp' ? `modbus:${e.framing}:${e.host}:${e.port}` : `modbus:serial:${e.path}`;
}

export function describeEndpoint(e: Endpoint): string {
  return e.kind === 'tcp'
    ? `${e.framing === 'rtu' ? 'rtu-over-tcp' : 'tcp'}://${e.host}:${e.port}`
    : `${e.path} ${e.baudRate} ${e.dataBits}${e.parity[0]!.toUpperCase()}${e.stopBits}`;
}

interface Pending {
  unit: number;
  fc: number;
  tid: number;
  resolve: (pdu: Buffer) => void;
  reject: (e: ModbusIoError) => void;
  timer: NodeJS.Timeout;
}

const RX_MAX = 4096;

export class Transport {
  private stream: Duplex | undefined;
  private open_ = false;
  private pending: Pending | undefined;
  private tid = 0;
  private rx = Buffer.allocUnsafe(RX_MAX);
  private rxLen = 0;
  /** frames or bytes dropped because they matched no request, since start */
  dropped = 0;
  private closeListeners: Array<(why: string) => void> = [];

  constructor(
    readonly endpoint: Endpoint,
    private readonly connectTimeoutMs: number,
  ) {}

  get isOpen(): boolean {
    return this.open_;
  }

  onClose(fn: (why: string) => void): void {
    this.closeListeners.push(fn);
  }

  async open(): Promise<void> {
    if (this.open_) return;
    const s = this.endpoint.kind === 'tcp' ? await this.openTcp(this.endpoint) : await this.openSerial(this.endpoint);
    this.stream = s;
    this.rxLen = 0;
    this.open_ = true;
    s.on('data', (chunk: Buffer) => this.onData(chunk));
    const onGone = (why: string) => {
      if (this.stream !== s) return;
      this.open_ = false;
      this.stream = undefined;
      this.failPending(new ModbusIoError(IO.CLOSED, `connection closed: ${why}`));
      for (const l of this.closeListeners) l(why);
    };
    s.on('error', (e: Error) => {
      onGone(e.message);
      s.destroy();
    });
    s.on('close', () => onGone('closed by peer'));
    s.on('end', () => {
      onGone('closed by peer');
      s.destroy();
    });
  }

  private openTcp(e: TcpEndpoint): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const sock = netConnect({ host: e.host, port: e.port });
      sock.setNoDelay(true);
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new ModbusIoError(IO.NOT_CONNECTED, `connect to ${e.host}:${e.port} timed out`));
      }, this.connectTimeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.removeAllListeners('error');
        resolve(sock);
      });
      sock.once('error', (err) => {
        clearTimeout(timer);
        sock.destroy();
        reject(new ModbusIoError(IO.NOT_CONNECTED, `connect to ${e.host}:${e.port}: ${err.message}`));
      });
    });
  }

  private async openSerial(e: SerialEndpoint): Promise<Duplex> {
    // serialport ships with modbus-serial (its optional dependency); loaded only for serial lines
    const { SerialPort } = await import('serialport');
    return new Promise((resolve, reject) => {
      const port = new SerialPort({ path: e.path, baudRate: e.baudRate, parity: e.parity, dataBits: e.dataBits, stopBits: e.stopBits, autoOpen: false });
      port.open((err) => {
        if (err) reject(new ModbusIoError(IO.NOT_CONNECTED, `open ${e.path}: ${err.message}`));
        else resolve(port as unknown as Duplex);
      });
    });
  }

  close(): void {
    const s = this.stream;
    if (!s) return;
    this.open_ = false;
    this.stream = undefined;
    this.failPending(new ModbusIoError(IO.CLOSED, 'connection closed'));
    s.removeAllListeners('data');
    s.on('error', () => {});
    const port = s as Duplex & { isOpen?: boolean; close?: (cb: (err: Error | null) => void) => void };
    // a serial port must be closed, not only destroyed, or its fd (and its lock) stays held
    if (this.endpoint.kind === 'serial' && port.isOpen && port.close) port.close(() => s.destroy());
    else s.destroy();
  }

  /** Sends one request PDU and resolves with the response PDU (a copy), or rejects with a ModbusIoError. */
  transact(unit: number, pdu: Uint8Array, timeoutMs: number): Promise<Buffer> {
    const s = this.stream;
    if (!s || !this.open_) return Promise.reject(new ModbusIoError(IO.NOT_CONNECTED, 'not connected'));
    if (this.pending) return Promise.reject(new ModbusIoError('BUSY', 'a request is already outstanding'));
    const fc = pdu[0]!;
    this.tid = (this.tid + 1) & 0xffff;
    const tid = this.tid;
    const framing = this.endpoint.kind === 'tcp' ? this.endpoint.framing : 'rtu';
    const frame = framing === 'tcp' ? tcpFrame(tid, unit, pdu) : rtuFrame(unit, pdu);
    this.rxLen = 0; // whatever arrived before this request answers nothing we wait for
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending?.timer === timer) {
          this.pending = undefined;
          reject(new ModbusIoError(IO.TIMEOUT, `no answer from unit ${unit} within ${timeoutMs} ms`));
        }
      }, timeoutMs);
      this.pending = { unit, fc, tid, resolve, reject, timer };
      s.write(frame);
    });
  }

  private failPending(e: ModbusIoError): void {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    clearTimeout(p.timer);
    p.reject(e);
  }

  private onData(chunk: Buffer): void {
    const p = this.pending;
    if (!p) {
      this.dropped += chunk.length;
      this.rxLen = 0;
      return;
    }
    if (this.rxLen + chunk.length > RX_MAX) {
      const raw = Buffer.from(this.rx.subarray(0, 256));
      this.rxLen = 0;
      this.failPending(new ModbusIoError(IO.MALFORMED, `more than ${RX_MAX} bytes without a valid frame`, raw));
      return;
    }
    chunk.copy(this.rx, this.rxLen);
    this.rxLen += chunk.length;
    const framing = this.endpoint.kind === 'tcp' ? this.endpoint.framing : 'rtu';
    for (;;) {
      const x = framing === 'tcp' ? extractTcp(this.rx, this.rxLen) : extractRtu(this.rx, this.rxLen, p.unit, p.fc);
      if (x.kind === 'need') return;
      if (x.kind === 'skip') {
        this.dropped += x.consumed;
        if (framing === 'tcp') {
          // the byte stream lost sync: fail the request now rather than wait for its timeout
          const raw = Buffer.from(this.rx.subarray(0, Math.min(this.rxLen, 256)));
          this.consume(x.consumed);
          this.failPending(new ModbusIoError(IO.MALFORMED, x.reason, raw));
          return;
        }
        this.consume(x.consumed);
        continue;
      }
      if (framing === 'tcp' && (x.tid !== p.tid || x.unit !== p.unit)) {
        // a late answer to a request that timed out
        this.dropped += x.consumed;
        this.consume(x.consumed);
        continue;
      }
      const pdu = Buffer.from(this.rx.subarray(x.pduStart, x.pduEnd));
      this.consume(x.consumed);
      this.pending = undefined;
      clearTimeout(p.timer);
      p.resolve(pdu);
      return;
    }
  }

  private consume(n: number): void {
    if (n >= this.rxLen) this.rxLen = 0;
    else {
      this.rx.copy(this.rx, 0, n, this.rxLen);
      this.rxLen -= n;
    }
  }
}
