/**
 * A server that caps OperationLimits (50 nodes per Read, 50 monitored items per call) and 1,000
 * tags: the server really refuses larger calls (BadTooManyOperations, checked with a raw client),
 * and the adapter, which reads the limits at connect and chunks, delivers every one of the 1,000
 * tags (800 subscribed, 200 polled) with its own value.
 */
import { join } from 'node:path';
import { AttributeIds, OPCUAClient, TimestampsToReturn } from 'node-opcua';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import opcua from '../../adapters/opcua/index.js';
import { OpcuaSimulator } from '../../adapters/opcua/simulator.js';
import type { Adapter } from '../../adapters/types.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { MemorySink } from '../helpers/sink.js';
import { captureLog } from '../helpers/log.js';
import { makeCtx } from './helpers.js';

const N = 1000;
const POLLED = 200;
const LIMIT = 50;
let sim: OpcuaSimulator;
let dir: ReturnType<typeof tempDir>;
let adapter: Adapter | undefined;

beforeAll(async () => {
  dir = tempDir('fgw-opcua-limits-');
  sim = await OpcuaSimulator.start({
    pkiDir: join(dir.path, 'server'),
    machine: null,
    maxNodesPerRead: LIMIT,
    maxMonitoredItemsPerCall: LIMIT,
    variables: Array.from({ length: N }, (_, i) => ({ id: `Big.V${i}`, dataType: 'Int32' as const, value: i * 3 })),
  });
});

afterAll(async () => {
  await adapter?.stop();
  await sim?.stop();
  dir?.cleanup();
});

describe('opcua OperationLimits', () => {
  it('the server refuses a Read or CreateMonitoredItems of more than 50 nodes (so chunking is needed)', async () => {
    const client = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 0 } });
    await client.connect(sim.endpoint);
    const session = await client.createSession();
    const nodes = Array.from({ length: LIMIT + 1 }, (_, i) => ({ nodeId: `ns=1;s=Big.V${i}`, attributeId: AttributeIds.Value }));
    const err = await session.read(nodes).then(
      () => undefined,
      (e: unknown) => String(e),
    );
    expect(err).toMatch(/BadTooManyOperations/);
    const sub = await session.createSubscription2({ requestedPublishingInterval: 500 });
    const err2 = await sub.monitorItems(nodes, { samplingInterval: 500, queueSize: 1 }, TimestampsToReturn.Both).then(
      () => undefined,
      (e: unknown) => String(e),
    );
    expect(err2).toMatch(/BadTooManyOperations/);
    await session.close();
    await client.disconnect();
  });

  it('delivers all 1,000 tags through 50-node chunks', async () => {
    const sink = new MemorySink();
    const cap = captureLog({ level: 'info' });
    const device = opcua.deviceSchema.parse({
      id: 'big',
      protocol: 'opcua',
      interval: '500ms',
      connection: { endpoint: sim.endpoint },
      tags: Array.from({ length: N }, (_, i) => ({ name: `v${i}`, nodeId: `ns=1;s=Big.V${i}`, ...(i < POLLED ? { mode: 'poll' } : {}) })),
    });
    adapter = opcua.create(device, makeCtx('big', dir.path, sink, cap.log));
    await adapter.start();
    const delivered = () => new Set(sink.readings.filter((r) => r.quality === 'good').map((r) => r.tag));
    await waitFor('all 1,000 tags', () => delivered().size === N, { timeoutMs: 45_000 });
    for (let i = 0; i < N; i++) expect(sink.last(`v${i}`)).toMatchObject({ value: i * 3, kind: 'integer', quality: 'good' });
    expect(sink.readings.filter((r) => r.quality === 'bad')).toEqual([]);
    expect(adapter.status().connected).toBe(true);
    expect(sim.sessionsCreated).toBe(2); // the raw client's and the adapter's
  });
});
