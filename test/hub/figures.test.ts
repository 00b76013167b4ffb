/**
 * The hub's live figures against the verifier, on the same data in a real influxd: the hub asks
 * InfluxDB for point counts per device and hour (counts.ts) and turns them back into slots
 * (facts.ts); the verifier asks for counts per slot (source-influx.ts). For devices that report at
 * their interval, with a gateway whose outages are outages of its devices too (the gateway down),
 * both must give the verifier's evaluate() the same counts: same expected, good and outage slots,
 * same networked devices, same classification. Gap positions inside an hour are not compared (the
 * hub lays an hour's good slots at its start; README "Hub figures and the verifier"). The project
 * has a second gateway with its own outage: each device's outages are its own gateway's, in the hub
 * as in the verifier; and uncertain readings (tag uncertain=true) fill no slot in either.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluate, registeredConsumerSystems } from '../../verify/evaluate.js';
import { gatherFacts } from '../../verify/facts.js';
import { shutdownRanges } from '../../verify/measure.js';
import { influxFacts } from '../../verify/source-influx.js';
import { loadProjectFolder, type HubProjectOk } from '../../gateway/hub/config.js';
import { bucketMs, gatewayCounts, liveState } from '../../gateway/hub/counts.js';
import { windowFacts } from '../../gateway/hub/facts.js';
import { FigureCache } from '../../gateway/hub/cache.js';
import { projectDetail } from '../../gateway/hub/figures.js';
import { hubSchema } from '../../gateway/hub/schema.js';
import { hubInflux } from '../../gateway/hub/influx.js';
import { postLines, startInflux, type TestInflux } from '../helpers/influx.js';
import { tempDir } from '../helpers/tmp.js';

const M = 60_000;
const FROM = Date.parse('2026-10-05T00:00:00+08:00');
const DAYS = 2;
const TO = FROM + DAYS * 1440 * M;
const GW = 'gw-hub-contract';
const GW_B = 'gw-hub-b';
const DB = 'plants';

let influx: TestInflux;
const dir = tempDir('fgw-hub-figures-');

/**
 * press: state + strokes every 10 s; silent minutes 300..344 (across the 05:00 hour boundary).
 * oven: state + temp every 60 s (at +15 s), minutes 2000..2119 temp only (a slot with any field is
 *       good), silent minutes 1000..1003; minutes 1530..1559 lost by its gateway (the store refused
 *       them: no readings, one loss-ledger episode of 30 readings closed at minute 1560).
 * saw: configured, never reports. heartbeat every 10 s; the gateway is down minutes 600..619 and
 * 2500..2759 (4 h 20 min: no heartbeat and no data from its devices).
 */
function lines(): string[] {
  const out: string[] = [];
  const down = (m: number) => (m >= 600 && m < 620) || (m >= 2500 && m < 2760);
  for (let m = 0; m < DAYS * 1440; m++) {
    if (down(m)) continue;
    const t0 = FROM + m * M;
    for (let s = 0; s < 60; s += 10) out.push(`gateway_status,gateway=${GW},site=yk heartbeat=true ${t0 + s * 1000}`);
    if (!(m >= 300 && m < 345))
      for (let s = 0; s < 60; s += 10) out.push(`equipment,device=press,gateway=${GW},site=yk state=1i,strokes=${m}i ${t0 + s * 1000}`);
    if (m >= 1530 && m < 1560) continue;
    if (!(m >= 1000 && m < 1004))
      out.push(
        m >= 2000 && m < 2120
          ? `equipment,device=oven,gateway=${GW},site=yk temp=180.5 ${t0 + 15_000}`
          : `equipment,device=oven,gateway=${GW},site=yk state=2i,temp=180.5 ${t0 + 15_000}`,
      );
  }
  // gateway b: lathe, state every 60 s (at +30 s), heartbeat every 10 s; gw-b down minutes 900..959
  // (15:00-16:00 local of day 1, when gw-a is up); lathe's readings of minutes 1200..1259 are uncertain
  for (let m = 0; m < DAYS * 1440; m++) {
    if (m >= 900 && m < 960) continue;
    const t0 = FROM + m * M;
    for (let s = 0; s < 60; s += 10) out.push(`gateway_status,gateway=${GW_B},site=yk heartbeat=true ${t0 + s * 1000}`);
    out.push(`equipment,device=lathe,gateway=${GW_B},site=yk${m >= 1200 && m < 1260 ? ',uncertain=true' : ''} state=1i ${t0 + 30_000}`);
  }
  // the oven's loss episode: readings of minutes 1530..1559 (at +15 s) refused by gw-a's store
  out.push(
    `gateway_status,device=oven,gateway=${GW},site=yk lost=30i,lostFrom=${FROM + 1530 * M + 15_000}i,lostTo=${FROM + 1559 * M + 15_000}i,lostReason="store-full" ${FROM + 1560 * M}`,
  );
  // outside the window: must not count
  out.push(`equipment,device=press,gateway=${GW},site=yk state=1i ${FROM - 1}`, `equipment,device=press,gateway=${GW},site=yk state=1i ${TO}`);
  // another gateway's device of the same id: must not count
  for (let m = 300; m < 345; m++) out.push(`equipment,device=press,gateway=other,site=x state=1i ${FROM + m * M}`);
  out.push(`gateway_audit,gateway=${GW},site=yk,system=MES actor="mes",action="read",route="GET /api/latest",result="ok" ${(FROM + 9 * 3_600_000) * 1000}`);
  out.push(
    `gateway_audit,device=press,gateway=${GW},site=yk,system=platform actor="op",action="write",route="POST /api/devices/:id/tags/:tag",tag="state",value="3",result="ok" ${(FROM + 30 * 3_600_000) * 1000}`,
  );
  return out;
}

beforeAll(async () => {
  influx = await startInflux();
  await influx.query(`CREATE DATABASE ${DB}`);
  const all = lines();
  const audit = all.filter((l) => l.startsWith('gateway_audit'));
  await postLines(
    influx.url,
    DB,
    all.filter((l) => !l.startsWith('gateway_audit')),
    'ms',
  );
  await postLines(influx.url, DB, audit, 'u');
  const p = join(dir.path, 'YK-T-1');
  mkdirSync(p);
  writeFileSync(
    join(p, 'project.yaml'),
    `project:
  id: YK-T-1
  name: 测试线
  enterprise: { name: 测试杯业, uscc: 91330784TEST00001, town: 西城街道, industry: 保温杯 }
  period: { from: 2026-09-01, to: 2026-12-31 }
  claim: partial
processes:
  - { id: stamping, name: 冲压, key: true }
  - { id: baking, name: 烘烤, key: false }
  - { id: cutting, name: 下料, key: false }
  - { id: machining, name: 金工, key: false }
equipment:
  - { id: press, process: stamping, category: production, digitalControl: true }
  - { id: oven, process: baking, category: production }
  - { id: saw, process: cutting, category: production }
  - { id: lathe, process: machining, category: production }
invoices:
  - { number: "H-1", date: 2026-09-10, category: hardware, item: 网关, quantity: 1, amount: "100000.00" }
`,
  );
  writeFileSync(
    join(p, 'gateway.yaml'),
    `gateway: { id: ${GW}, site: yk, statusInterval: 10s }
storage: { path: ./data }
influx: { url: ${influx.url}, database: ${DB}, username: "\${INFLUX_USER:-}", password: "\${INFLUX_WRITE_PASSWORD}" }
http:
  tokens:
    - { name: mes, system: MES, token: "\${MES_TOKEN}", scopes: [read] }
devices:
  - id: press
    process: stamping
    protocol: modbus
    connection: { host: 127.0.0.1, port: 1502 }
    interval: 10s
    tags:
      - { name: state, role: state, area: holding, address: 0 }
      - { name: strokes, role: counter, area: holding, address: 1 }
  - id: oven
    process: baking
    protocol: modbus
    connection: { host: 127.0.0.1, port: 1503 }
    interval: 60s
    tags:
      - { name: state, role: state, area: holding, address: 0 }
      - { name: temp, role: parameter, area: holding, address: 1, type: float32 }
  - id: saw
    process: cutting
    protocol: modbus
    connection: { host: 127.0.0.1, port: 1504 }
    interval: 60s
    tags:
      - { name: state, role: state, area: holding, address: 0 }
`,
  );
  writeFileSync(
    join(p, 'gateway-b.yaml'),
    `gateway: { id: ${GW_B}, site: yk, statusInterval: 10s }
storage: { path: ./data-b }
influx: { url: ${influx.url}, database: ${DB} }
devices:
  - id: lathe
    process: machining
    protocol: modbus
    connection: { host: 127.0.0.1, port: 1505 }
    interval: 60s
    tags:
      - { name: state, role: state, area: holding, address: 0 }
`,
  );
}, 120_000);

afterAll(async () => {
  await influx?.cleanup();
  dir.cleanup();
});

describe('hub figures follow the verifier', () => {
  it('reads the project folder: the gateway config with its unset secrets, its devices and gateway', () => {
    const p = loadProjectFolder(join(dir.path, 'YK-T-1'), {});
    expect(p.ok, p.ok ? '' : `${p.error} ${p.details.join('; ')}`).toBe(true);
    const ok = p as HubProjectOk;
    expect(ok.gateways.map((g) => g.id)).toEqual([GW_B, GW]);
    expect(ok.devices.map((d) => [d.id, d.gateway, d.interval])).toEqual([
      ['lathe', GW_B, 60_000],
      ['press', GW, 10_000],
      ['oven', GW, 60_000],
      ['saw', GW, 60_000],
    ]);
  });

  it('gives evaluate() the same counts as the verifier reading slot by slot', async () => {
    const p = loadProjectFolder(join(dir.path, 'YK-T-1'), {}) as HubProjectOk;
    const policy = p.policy;
    const common = {
      project: p.loaded.project,
      projectFile: p.loaded.path,
      policy,
      devices: p.devices,
      registeredSystems: registeredConsumerSystems(p.gateways.flatMap((g) => g.config.http.tokens)),
      preliminary: true,
      source: 'influx',
      gateways: p.gateways.map((g) => ({ id: g.id, config: g.file })),
    };
    const uncertainIsGood = policy.values.measure.uncertainCountsAsGood;
    expect(uncertainIsGood).toBe(false);

    const shutdowns = shutdownRanges(p.loaded.project, policy);
    const sources = p.gateways.map((g) => ({
      gateway: g.id,
      src: influxFacts({ url: influx.url, database: DB, gateway: g.id }),
      devices: p.devices.filter((d) => d.gateway === g.id),
    }));
    const verifierFacts = await gatherFacts(sources, { from: FROM, to: TO, policy, shutdowns });
    const audits = verifierFacts.audits;
    const v = evaluate({ ...common, facts: { ...verifierFacts, commands: [], weeklyCommands: [] } });

    const hi = hubInflux({ url: influx.url, database: DB, username: '', password: '', timeout: 60_000, concurrency: 2 });
    const counts = new Map<string, { counts: Awaited<ReturnType<typeof gatewayCounts>>; statusInterval: number }>();
    const live = new Map<string, Awaited<ReturnType<typeof liveState>>>();
    for (const g of [GW, GW_B]) {
      counts.set(g, {
        counts: await gatewayCounts(hi, { measurement: 'equipment', gateway: g, from: FROM, to: TO, bucketMs: bucketMs(60_000), uncertainIsGood }),
        statusInterval: 10_000,
      });
      live.set(g, await liveState(hi, { measurement: 'equipment', gateway: g, since: FROM, until: TO, uncertainIsGood }));
    }
    const losses = new Map<string, Awaited<ReturnType<ReturnType<typeof influxFacts>['lossEpisodes']>>>();
    for (const g of [GW, GW_B]) losses.set(g, await influxFacts({ url: influx.url, database: DB, gateway: g }).lossEpisodes({ from: FROM, to: TO }));
    const facts = windowFacts({
      from: FROM,
      to: TO,
      slotMinMs: policy.values.measure.slotMin,
      devices: p.devices,
      counts,
      audits,
      offsetMs: policy.offsetMs,
      shutdowns,
      live,
      losses,
    });
    const h = evaluate({ ...common, facts });

    // the answer known from how the data was made: 2 days of 60-s slots, 280 without heartbeat
    expect(v.platform.slots).toBe(2880);
    expect(v.platform.outageSlots).toBe(280);
    const pick = (r: typeof v) =>
      r.devices.map((d) => ({
        id: d.id,
        expected: d.expectedSlots,
        good: d.goodSlots,
        outage: d.outageSlots,
        lost: d.lostSlots,
        tags: d.tagsSeen,
        networked: d.networked,
        full: d.networkedFull,
        stale: d.stale,
        reasons: d.reasons,
        weekly: d.weekly?.map((w) => [w.expected, w.good]),
      }));
    expect(pick(v)[0]).toMatchObject({ id: 'press', expected: 2600, good: 2555, outage: 280 }); // 2880 - 280 (gw-a's, not gw-b's); 45 silent minutes
    // 2600 - 30 slots its gateway lost (excluded, not held against it); 4 silent minutes
    expect(pick(v)[1]).toMatchObject({ id: 'oven', expected: 2570, good: 2566, lost: 30, tags: ['state', 'temp'] });
    // lathe on gw-b: 2880 - 60 of gw-b's own outage = 2820 expected; 60 uncertain minutes fill no slot
    expect(pick(v)[3]).toMatchObject({ id: 'lathe', expected: 2820, good: 2760, outage: 60 });
    expect(h.gateways.map((g) => [g.id, g.platform.outageSlots])).toEqual([
      [GW_B, 60],
      [GW, 280],
    ]);
    expect(pick(h)).toEqual(pick(v));
    expect({ ...h.platform, outages: [] }).toEqual({ ...v.platform, outages: [] });
    expect(h.classification).toBe(v.classification);
    expect(h.networkingRate).toEqual(v.networkingRate);
    expect(h.dataUse).toEqual(v.dataUse);
    expect(h.processes.map((s) => s.commandsPerWeek)).toEqual(v.processes.map((s) => s.commandsPerWeek));
    expect(h.rules.map((r) => [r.rule, r.result])).toEqual(v.rules.map((r) => [r.rule, r.result]));
  });

  it('the project page excludes the slots a gateway lost, as the review report does (its own queries, 30-day window)', async () => {
    const p = loadProjectFolder(join(dir.path, 'YK-T-1'), {}) as HubProjectOk;
    const config = hubSchema.parse({
      influx: { url: influx.url, database: DB },
      projects: dir.path,
      http: { tokens: [{ name: 'bureau', token: 'a-long-enough-test-token-1234567890', role: 'official' }] },
    });
    const now = TO; // a whole minute: the window ends at TO
    const ctx = { influx: hubInflux(config.influx), config, cache: new FigureCache(() => now), now: () => now };
    const d = await projectDetail(ctx, p);
    expect(d.error).toBeUndefined();
    // the 30 days [TO - 30 d, TO) are 43,200 slots of 60 s; gw-a's heartbeat is in the last 2 days
    // only, less its 280 minutes down: 43,200 - 2,880 + 280 = 40,600 outage slots; of the 2,600
    // left, 30 were lost by the gateway: 2,570 expected, 2,566 good (4 silent minutes)
    expect(d.devices.find((x) => x.id === 'oven')?.slots30d).toEqual({ good: 2566, expected: 2570, outage: 40600, lost: 30 });
    expect(d.devices.find((x) => x.id === 'press')?.slots30d).toEqual({ good: 2555, expected: 2600, outage: 40600, lost: 0 });
  });
});
