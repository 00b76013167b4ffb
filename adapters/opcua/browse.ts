/**
 * What `fgw browse` (gateway/cli/browse.ts) does: walks the address space from the Objects folder
 * (or a root node) along hierarchical references (properties skipped) and gives the variables as
 * ready-to-paste YAML tag entries with their DataType and the field kind it gives. Namespace 0 (the
 * Server object) is skipped unless asked for.
 */
import { AttributeIds, BrowseDirection, NodeClass, findBasicDataType, type ClientSession, type NodeId, type ReferenceDescription } from 'node-opcua';
import type { Logger } from 'pino';
import { asConnectError, checkServer, createClient, openSession, type Target } from './connect.js';
import { builtInName, builtInOfNs0DataType, chunk, kindOfBuiltIn, tagNameOf } from './convert.js';
import { acquirePki } from './pki.js';

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
    const dvs = await session.read(
      part.flatMap((v) => [
        { nodeId: v.nodeId, attributeId: AttributeIds.DataType },
        { nodeId: v.nodeId, attributeId: AttributeIds.ValueRank },
      ]),
    );
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
        if (b === undefined)
          b = await findBasicDataType(session, dtId).then(
            (x) => x as number,
            () => undefined,
          );
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

/** What `fgw browse` reads: the variables under `root`, `depth` levels deep, over a connection made as the adapter makes it. */
export interface BrowseOptions {
  /** a parsed connection (connectionSchema) */
  connection: Target['connection'];
  pkiDir: string;
  /** names the client certificate (the gateway's id, or "browse") */
  gatewayId: string;
  depth: number;
  root?: string;
  includeServer?: boolean;
  log: Logger;
}

export async function browse(o: BrowseOptions): Promise<BrowsedVariable[]> {
  const pki = await acquirePki(o.pkiDir, { watch: false });
  try {
    const target: Target = { connection: o.connection, pki, identity: await pki.identity(o.gatewayId), clientName: 'fgw-browse', log: o.log };
    const client = createClient(target, await checkServer(target));
    let session: ClientSession;
    try {
      session = await openSession(target, client);
    } catch (e) {
      await client.disconnect().catch(() => undefined);
      throw asConnectError(e, o.connection.endpoint, target);
    }
    try {
      return await walk(session, o.root ?? 'ns=0;i=85', o.depth, o.includeServer ?? false);
    } finally {
      await session.close().catch(() => undefined);
      await client.disconnect().catch(() => undefined);
    }
  } finally {
    await pki.release();
  }
}
