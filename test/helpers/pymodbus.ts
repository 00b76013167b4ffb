/**
 * pymodbus 3.0 (Debian python3-pymodbus, run with /usr/bin/python3) as an independent Modbus
 * server: TCP, RTU framing over TCP, or RTU on a serial port (one end of a socat pty pair).
 */
import { fileURLToPath } from 'node:url';
import { type Proc, startProcess } from './proc.js';

const SCRIPT = fileURLToPath(new URL('../modbus/pymodbus-server.py', import.meta.url));

export interface PymodbusUnitData {
  holding?: number[];
  input?: number[];
  coil?: Array<0 | 1>;
  discrete?: Array<0 | 1>;
}

export type PymodbusTarget = { tcp: number; rtuFraming?: boolean } | { serial: string; baud?: number; parity?: 'N' | 'E' | 'O' };

export async function startPymodbus(target: PymodbusTarget, data: Record<number, PymodbusUnitData>): Promise<Proc> {
  const args = [SCRIPT, '--data', JSON.stringify(data)];
  if ('tcp' in target) {
    args.push('--tcp', String(target.tcp));
    if (target.rtuFraming) args.push('--rtu-framing');
  } else {
    args.push('--serial', target.serial, '--baud', String(target.baud ?? 9600), '--parity', target.parity ?? 'N');
  }
  const proc = startProcess('/usr/bin/python3', args);
  await proc.waitForOutput(/READY/, 20_000);
  return proc;
}
