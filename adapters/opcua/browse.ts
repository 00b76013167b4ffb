/**
 * `fgw browse opc.tcp://host:port [--security None|Sign|SignAndEncrypt] [--policy P]
 *  [--user u --password p] [--depth N] [--root nodeId] [--pki dir | --config gateway.yaml]
 *  [--trust-unknown] [--include-server]`
 *
 * Walks the address space from the Objects folder (or --root) along hierarchical references
 * (properties skipped) and prints the variables as ready-to-paste YAML tag entries with their
 * DataType and the field kind it gives. Namespace 0 (the Server object) is skipped unless
 * --include-server.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AttributeIds, BrowseDirection, NodeClass, findBasicDataType, type ClientSession, type NodeId, type ReferenceDescription } from 'node-opcua';
import { pino } from 'pino';
import { ErrorCodes, GatewayError } from '../../config/errors.js';
import { asConnectError, checkServer, createClient, openSession, type Target } from './connect.js';
import { builtInName, builtInOfNs0DataType, chunk, kindOfBuiltIn, tagNameOf } from './convert.js';
import { acquirePki, type Io } from './pki.js';
import { connectionSchema, SECURITY_MODES, SECURITY_POLICIES } from './schema.js';

const USAGE =
  'usage: fgw browse opc.tcp://host:port [--security None|Sign|SignAndEncrypt] [--policy Basic256Sha256|Aes128_Sha256_RsaOaep|Aes256_Sha256_RsaPss] [--user u --password p] [--depth N] [--root nodeId] [--pki dir | --config gateway.yaml] [--trust-unknown] [--include-server]';

export interface BrowsedVariable {
  path: string[];
  nodeId: string;
  dataType: string;
  kind?: string;
  note?: string;
}

const HAS_PROPERTY = 'ns=0;i=46';

/** Breadth-first walk; returns variables in the order met. */
export async function walk(session: ClientSession, root: string, depth: number, includeNs0: boolean): Promise<BrowsedVariable[]> {
  const found: Array<{ path: string[]; nodeId: NodeId }> = [];
  const seen = new Set<string>([root]);
  let level: Array<{ nodeId: string; path: string[] }> = [{ nodeId: root, path: [] }];
  for (let d = 0; d < depth && level.length > 0; d++) {
    const next: typeof level = [];
    for (const part of chunk(level, 50)) {
      const results = await session.browse(
        part.map((n) => ({
          nodeId: n.nodeId,
          browseDirection: BrowseDirection.Forward,
          referenceTypeId: 'HierarchicalReferences',
          includeSubtypes: true,
          nodeClassMask: NodeClass.Object | NodeClass.Variable,
          resultMask: 63,
        })),
      );
      results.forEach((res, i) => {
        const parent = part[i]!;
        for (const ref of (res.references ?? []) as ReferenceDescription[]) {
          if (ref.referenceTypeId.toString() === HAS_PROPERTY) continue;
          const id = ref.nodeId.toString();
          if (seen.has(id)) continue;
          seen.add(id);
          if (!includeNs0 && ref.nodeId.namespace === 0) continue;
          const path = [...parent.path, ref.browseName.name ?? id];
          if (ref.nodeClass === NodeClass.Variable) found.push({ path, nodeId: ref.nodeId as unknown as NodeId });
          next.push({ nodeId: id, path });
        }
      });
    }
    level = next;
  }
  const out: BrowsedVariable[] = [];
  const cache = new Map<string, number | undefined>();
  for (const part of chunk(found, 25)) {
    const dvs = await session.read(part.flatMap((v) => [
      { nodeId: v.nodeId, attributeId: AttributeIds.DataType },
      { nodeId: v.nodeId, attributeId: AttributeIds.ValueRank },
    ]));
    for (let i = 0; i < part.length; i++) {
      const v = part[i]!;
      const dt = dvs[2 * i];
      const rank = dvs[2 * i + 1]?.value.value as number | undefined;
      const entry: BrowsedVariable = { path: v.path, nodeId: v.nodeId.toString(), dataType: '?' };
      if (!dt || !dt.statusCode.isGood()) {
        entry.note = `DataType unreadable (${dt?.statusCode.name ?? 'no answer'})`;
        out.push(entry);
        continue;
      }
      const dtId = dt.value.value as NodeId;
      const key = dtId.toString();
      if (!cache.has(key)) {
        let b = dtId.namespace === 0 && typeof dtId.value === 'number' ? builtInOfNs0DataType(dtId.value) : undefined;
        if (b === undefined) b = await findBasicDataType(session, dtId).then((x) => x as number, () => undefined);
        cache.set(key, b);
      }
      const b = cache.get(key);
      entry.dataType = b === undefined ? key : builtInName(b);
      const kind = b === undefined ? undefined : kindOfBuiltIn(b);
      if (typeof rank === 'number' && rank >= 0) entry.note = `array (ValueRank ${rank}): not collectable`;
      else if (!kind) entry.note = 'no field kind for this DataType: not collectable';
      else entry.kind = kind;
      out.push(entry);
    }
  }
  return out;
}

/** YAML tag entries; names made unique with _2, _3 ...; uncollectable variables as comments. */
export function formatTags(vars: readonly BrowsedVariable[]): string[] {
  const used = new Map<string, number>();
  const lines: string[] = ['tags:'];
  for (const v of vars) {
    const base = tagNameOf(v.path);
    const n = (used.get(base) ?? 0) + 1;
    used.set(base, n);
    const name = n === 1 ? base : `${base}_${n}`;
    const entry = `- { name: ${name}, nodeId: ${JSON.stringify(v.nodeId)} }`;
    if (v.kind) lines.push(`  ${entry}  # ${v.dataType} → ${v.kind}; ${v.path.join('/')}`);
    else lines.push(`  # ${entry}  # ${v.dataType}: ${v.note ?? ''}; ${v.path.join('/')}`);
  }
  return lines;
}

export async function runBrowse(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      security: { type: 'string' },
      policy: { type: 'string' },
      user: { type: 'string' },
      password: { type: 'string' },
      depth: { type: 'string' },
      root: { type: 'string' },
      pki: { type: 'string' },
      config: { type: 'string', short: 'c' },
      'trust-unknown': { type: 'boolean' },
      'include-server': { type: 'boolean' },
    },
    allowPositionals: true,
    strict: true,
  });
  const endpoint = positionals[0];
  if (!endpoint || positionals.length > 1) throw new GatewayError(ErrorCodes.USAGE, USAGE);
  if (values.security && !(SECURITY_MODES as readonly string[]).includes(values.security)) throw new GatewayError(ErrorCodes.USAGE, `--security: expected one of ${SECURITY_MODES.join(', ')}`);
  if (values.policy && !(SECURITY_POLICIES as readonly string[]).includes(values.policy)) throw new GatewayError(ErrorCodes.USAGE, `--policy: expected one of ${SECURITY_POLICIES.join(', ')}`);
  if ((values.user === undefined) !== (values.password === undefined)) throw new GatewayError(ErrorCodes.USAGE, '--user and --password go together');
  const depth = values.depth === undefined ? 4 : Number(values.depth);
  if (!Number.isInteger(depth) || depth < 1) throw new GatewayError(ErrorCodes.USAGE, `--depth: expected a whole number >= 1, got "${values.depth}"`);

  const parsed = connectionSchema.safeParse({
    endpoint,
    securityMode: values.security ?? 'None',
    ...(values.policy ? { securityPolicy: values.policy } : {}),
    auth: values.user !== undefined ? { type: 'username', username: values.user, password: values.password } : { type: 'anonymous' },
    trustUnknownServers: values['trust-unknown'] ?? false,
  });
  if (!parsed.success) throw new GatewayError(ErrorCodes.USAGE, parsed.error.issues.map((i) => `${i.path.join('.') || 'endpoint'}: ${i.message}`).join('; '));
  const connection = parsed.data;

  let pkiDir: string;
  let gatewayId = 'browse';
  if (values.config) {
    const { loadConfig } = await import('../../config/load.js');
    const { config } = loadConfig(values.config);
    gatewayId = config.gateway.id;
    pkiDir = values.pki ?? join(config.storage.path, 'pki');
  } else pkiDir = values.pki ?? join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'fgw', 'pki');

  const log = pino({ level: 'warn' }, { write: (s: string) => io.err(String((JSON.parse(s) as { msg?: string }).msg ?? s)) } as unknown as NodeJS.WritableStream);
  const pki = await acquirePki(pkiDir, { watch: false });
  try {
    const target: Target = { connection, pki, identity: await pki.identity(gatewayId), clientName: 'fgw-browse', log };
    const client = createClient(target, await checkServer(target));
    let session: ClientSession;
    try {
      session = await openSession(target, client);
    } catch (e) {
      await client.disconnect().catch(() => undefined);
      throw asConnectError(e, endpoint, target);
    }
    try {
      const vars = await walk(session, values.root ?? 'ns=0;i=85', depth, values['include-server'] ?? false);
      io.out(`# fgw browse ${endpoint}: ${vars.length} variables (depth ${depth}); paste under a device of protocol opcua`);
      for (const line of formatTags(vars)) io.out(line);
    } finally {
      await session.close().catch(() => undefined);
      await client.disconnect().catch(() => undefined);
    }
  } finally {
    await pki.release();
  }
  return 0;
}
