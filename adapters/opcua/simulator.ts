/**
 * An OPC UA server (node-opcua) for the tests and the demo plant: a lathe machine model
 * (ns=1;s=Lathe3.State, .PartCount, .SpindleSpeed, .Program) plus any extra variables of every
 * collectable type, settable values, status codes and source timestamps, users, security modes and
 * OperationLimits. Listens on loopback; `port: 0` picks a free port.
 *
 * Cost: about 1 s and 200+ MB per server: share one per test file.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DataType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAServer,
  SecurityPolicy,
  StatusCode,
  StatusCodes,
  Variant,
  VariantArrayType,
  type UAVariable,
} from 'node-opcua';
import { BuiltIn, int64ToNumber } from './convert.js';

export type SimDataType =
  | 'Boolean'
  | 'SByte'
  | 'Byte'
  | 'Int16'
  | 'UInt16'
  | 'Int32'
  | 'UInt32'
  | 'Int64'
  | 'UInt64'
  | 'Float'
  | 'Double'
  | 'String'
  | 'DateTime'
  | 'LocalizedText'
  | 'ByteString';

export interface SimVariable {
  /** string identifier in namespace 1: "Test.Int16" → NodeId "ns=1;s=Test.Int16" */
  id: string;
  dataType: SimDataType;
  value?: unknown;
  /** default true */
  writable?: boolean;
}

export interface OpcuaSimulatorOptions {
  /** default 127.0.0.1 */
  host?: string;
  /** default 0 (a free port) */
  port?: number;
  /** server PKI folder (own certificate); reuse it to restart with the same certificate. Default: a new temp dir. */
  pkiDir?: string;
  /** machine model prefix; default "Lathe3"; null: no machine model */
  machine?: string | null;
  /** advance the machine model every `tickMs` (demo); default: values change only through set() */
  tickMs?: number;
  variables?: readonly SimVariable[];
  /** user name → password; default { gateway: 'secret' } */
  users?: Readonly<Record<string, string>>;
  /** default true */
  allowAnonymous?: boolean;
  securityModes?: ReadonlyArray<'None' | 'Sign' | 'SignAndEncrypt'>;
  securityPolicies?: ReadonlyArray<'None' | 'Basic256Sha256' | 'Aes128_Sha256_RsaOaep' | 'Aes256_Sha256_RsaPss'>;
  /** accept unknown client certificates (default true); see setTrustClients() */
  trustClients?: boolean;
  /** OperationLimits.MaxNodesPerRead (0 = no limit) */
  maxNodesPerRead?: number;
  /** OperationLimits.MaxMonitoredItemsPerCall (0 = no limit) */
  maxMonitoredItemsPerCall?: number;
}

export interface SetOptions {
  /** a StatusCode name ("UncertainLastUsableValue", "BadSensorFailure"); default Good */
  status?: string;
  /** ms epoch or Date; default now */
  sourceTimestamp?: number | Date;
}

const MACHINE_VARS = (p: string): SimVariable[] => [
  { id: `${p}.State`, dataType: 'Int32', value: 1 },
  { id: `${p}.PartCount`, dataType: 'UInt32', value: 0 },
  { id: `${p}.SpindleSpeed`, dataType: 'Double', value: 0 },
  { id: `${p}.Program`, dataType: 'String', value: 'O1000' },
];

/** Machine states served on <prefix>.State. */
export const MachineState = { stopped: 0, idle: 1, running: 2, alarm: 3 } as const;

function toVariantValue(dataType: SimDataType, v: unknown): unknown {
  const id = BuiltIn[dataType];
  if ((id === BuiltIn.Int64 || id === BuiltIn.UInt64) && typeof v === 'number') {
    const hi = Math.floor(v / 4294967296);
    return [hi >>> 0, (v - hi * 4294967296) >>> 0];
  }
  if (dataType === 'DateTime' && typeof v === 'number') return new Date(v);
  if (dataType === 'LocalizedText' && typeof v === 'string') return { text: v };
  if (dataType === 'ByteString' && typeof v === 'string') return Buffer.from(v, 'base64');
  return v;
}

function defaultValue(dataType: SimDataType): unknown {
  switch (dataType) {
    case 'Boolean':
      return false;
    case 'String':
    case 'LocalizedText':
      return '';
    case 'ByteString':
      return Buffer.alloc(0);
    case 'DateTime':
      return new Date(0);
    default:
      return 0;
  }
}

export class OpcuaSimulator {
  /** opc.tcp://127.0.0.1:<port> */
  get endpoint(): string {
    return `opc.tcp://${this.host}:${this.port}`;
  }
  get port(): number {
    return this.server.endpoints[0]!.port;
  }
  /** sessions created / activated since start (server-side counters) */
  sessionsCreated = 0;
  sessionsActivated = 0;
  /** applicationUri each session's client announced, in order */
  readonly clientUris: string[] = [];
  /** SHA-1 of the certificate each secured session's client presented, in order */
  readonly clientCertificates: string[] = [];
  private readonly vars = new Map<string, { node: UAVariable; dataType: SimDataType }>();
  private tick?: NodeJS.Timeout;

  private constructor(
    private readonly server: OPCUAServer,
    private readonly machine: string | null,
    private readonly host: string,
  ) {
    server.on('create_session', (session) => {
      this.sessionsCreated++;
      this.clientUris.push(session.clientDescription?.applicationUri ?? '');
      const cert = session.channel?.clientCertificate;
      if (cert) this.clientCertificates.push(createHash('sha1').update(cert).digest('hex'));
    });
    server.on('session_activated', () => this.sessionsActivated++);
  }

  static async start(opts: OpcuaSimulatorOptions = {}): Promise<OpcuaSimulator> {
    const host = opts.host ?? '127.0.0.1';
    const pkiDir = opts.pkiDir ?? mkdtempSync(join(tmpdir(), 'fgw-opcua-sim-'));
    const users = opts.users ?? { gateway: 'secret' };
    const server = new OPCUAServer({
      host,
      hostname: host,
      port: opts.port ?? 0,
      serverCertificateManager: new OPCUACertificateManager({
        rootFolder: join(pkiDir, 'server'),
        automaticallyAcceptUnknownCertificate: opts.trustClients ?? true,
      }),
      userCertificateManager: new OPCUACertificateManager({ rootFolder: join(pkiDir, 'users'), automaticallyAcceptUnknownCertificate: true }),
      allowAnonymous: opts.allowAnonymous ?? true,
      securityModes: (opts.securityModes ?? ['None', 'Sign', 'SignAndEncrypt']).map((m) => MessageSecurityMode[m]),
      securityPolicies: (opts.securityPolicies ?? ['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss']).map((p) => SecurityPolicy[p]),
      userManager: { isValidUser: (u: string, p: string) => Object.hasOwn(users, u) && users[u] === p },
      serverCapabilities: {
        operationLimits: {
          maxNodesPerRead: opts.maxNodesPerRead ?? 0,
          maxMonitoredItemsPerCall: opts.maxMonitoredItemsPerCall ?? 0,
        },
      },
      buildInfo: { productName: 'fgw OPC UA simulator' },
    });
    await server.initialize();
    const machine = opts.machine === undefined ? 'Lathe3' : opts.machine;
    const sim = new OpcuaSimulator(server, machine, host);
    const vars = [...(machine ? MACHINE_VARS(machine) : []), ...(opts.variables ?? [])];
    sim.addVariables(vars);
    await server.start();
    if (machine && opts.tickMs) sim.startMachine(opts.tickMs);
    return sim;
  }

  private addVariables(vars: readonly SimVariable[]): void {
    const addressSpace = this.server.engine.addressSpace!;
    const ns = addressSpace.getOwnNamespace();
    const folders = new Map<string, ReturnType<typeof ns.addObject>>();
    const folderFor = (id: string) => {
      const prefix = id.includes('.') ? id.slice(0, id.lastIndexOf('.')) : 'Simulator';
      let f = folders.get(prefix);
      if (!f) {
        f = ns.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: prefix, nodeId: `s=${prefix}` });
        folders.set(prefix, f);
      }
      return f;
    };
    for (const v of vars) {
      const writable = v.writable ?? true;
      const node = ns.addVariable({
        componentOf: folderFor(v.id),
        browseName: v.id.includes('.') ? v.id.slice(v.id.lastIndexOf('.') + 1) : v.id,
        nodeId: `s=${v.id}`,
        dataType: v.dataType,
        accessLevel: writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
        userAccessLevel: writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
        minimumSamplingInterval: 50,
      });
      node.setValueFromSource(
        new Variant({
          dataType: DataType[v.dataType],
          arrayType: VariantArrayType.Scalar,
          value: toVariantValue(v.dataType, v.value ?? defaultValue(v.dataType)),
        }),
        StatusCodes.Good,
        new Date(),
      );
      this.vars.set(v.id, { node, dataType: v.dataType });
    }
  }

  private lookup(id: string) {
    const key = id.replace(/^ns=1;s=/, '');
    const v = this.vars.get(key);
    if (!v) throw new Error(`simulator has no variable ${id}`);
    return v;
  }

  /** Sets a served value (and optionally its status code and source timestamp). */
  set(id: string, value: unknown, opts: SetOptions = {}): void {
    const v = this.lookup(id);
    const status = opts.status ? (StatusCodes as unknown as Record<string, StatusCode | undefined>)[opts.status] : StatusCodes.Good;
    if (!status) throw new Error(`unknown status code ${opts.status}`);
    const ts = opts.sourceTimestamp === undefined ? new Date() : new Date(opts.sourceTimestamp);
    v.node.setValueFromSource(
      new Variant({ dataType: DataType[v.dataType], arrayType: VariantArrayType.Scalar, value: toVariantValue(v.dataType, value) }),
      status,
      ts,
    );
  }

  /** The served value as a plain JS value (Int64 as number, DateTime as ms, LocalizedText as text). */
  get(id: string): unknown {
    const v = this.lookup(id);
    const raw = v.node.readValue().value.value as unknown;
    if (v.dataType === 'Int64' || v.dataType === 'UInt64') return int64ToNumber(raw, v.dataType === 'Int64');
    if (raw instanceof Date) return raw.getTime();
    if (v.dataType === 'LocalizedText') return (raw as { text?: string }).text;
    return raw;
  }

  /** Whether the server accepts client certificates it does not know yet (known ones stay trusted). */
  setTrustClients(on: boolean): void {
    (this.server.serverCertificateManager as OPCUACertificateManager).automaticallyAcceptUnknownCertificate = on;
  }

  /** Sessions alive on the server now. */
  liveSessions(): number {
    return this.server.currentSessionCount;
  }

  /** The server's certificate (DER), e.g. to write to a file for `fgw pki trust`. */
  certificate(): Buffer {
    return Buffer.from(this.server.getCertificate());
  }

  /** Runs the machine model: running, a part every 5 ticks, spindle speed around 1200 rpm. */
  startMachine(tickMs: number): void {
    const p = this.machine;
    if (!p || this.tick) return;
    let n = 0;
    this.set(`${p}.State`, MachineState.running);
    this.tick = setInterval(() => {
      n++;
      this.set(`${p}.SpindleSpeed`, Math.round((1200 + 40 * Math.sin(n / 7)) * 10) / 10);
      if (n % 5 === 0) this.set(`${p}.PartCount`, (this.get(`${p}.PartCount`) as number) + 1);
    }, tickMs);
    this.tick.unref();
  }

  async stop(): Promise<void> {
    if (this.tick) clearInterval(this.tick);
    this.tick = undefined;
    await this.server.shutdown(0);
  }
}
