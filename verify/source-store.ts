/**
 * FactQuery over the embedded store (ingest/types.ts Store): the store aggregates slot counts,
 * tags seen, heartbeat slots and the last good reading in SQL; audits are read one local day at a
 * time and counted here (only successful accesses count as evidence).
 */
import type { AuditStore, Store, StoredAudit, VerifyStore } from '../ingest/types.js';
import { DAY_MS, type AuditDay, type CommandSample, type FactQuery } from './facts.js';

const sample = (a: StoredAudit): CommandSample => ({
  ts: a.ts,
  actor: a.actor,
  system: a.system,
  device: a.device ?? '',
  tag: a.tag ?? '',
  value: a.value ?? '',
  result: a.result,
});

export function storeFacts(store: VerifyStore & Pick<AuditStore, 'audits'> & Pick<Store, 'close'>, opts: { close?: boolean } = {}): FactQuery {
  return {
    name: 'store',
    async slotCounts(q) {
      return store.slotCounts(q);
    },
    async tagsSeen(q) {
      return store.tagsSeen(q);
    },
    async lastGoodTs(q) {
      return store.lastGoodTs(q);
    },
    async heartbeatSlots(q) {
      return store.heartbeatSlots(q);
    },
    async lossEpisodes(q) {
      // open episodes too: the store is full right now, and its readings still lost
      return store.losses({ from: q.from, to: q.to }).map((l) => ({ device: l.device, reason: l.reason, from: l.from, to: l.to, count: l.count }));
    },
    async auditDays(q) {
      const counts = new Map<string, Omit<AuditDay, 'gateway'>>();
      const firstDay = Math.floor((q.from + q.offsetMs) / DAY_MS);
      for (let day = firstDay; day * DAY_MS - q.offsetMs < q.to; day++) {
        const from = Math.max(q.from, day * DAY_MS - q.offsetMs);
        const to = Math.min(q.to, (day + 1) * DAY_MS - q.offsetMs);
        for (const a of store.audits({ from, to })) {
          if (a.result !== 'ok') continue;
          const device = a.device ?? '';
          const key = `${day}\u0000${a.action}\u0000${a.system}\u0000${device}\u0000${a.route}`;
          const c = counts.get(key);
          if (c) c.count++;
          else counts.set(key, { day, action: a.action, system: a.system, device, route: a.route, count: 1 });
        }
      }
      return [...counts.values()];
    },
    async commandSamples(q) {
      const rows = store.audits({ from: q.from, to: q.to, action: 'write' });
      return rows.slice(-q.limit).reverse().map(sample);
    },
    async okCommandSamplesPerDevice(q) {
      // rows come oldest first: keep the last `limit` of each (device, system)
      const kept = new Map<string, StoredAudit[]>();
      for (const a of store.audits({ from: q.from, to: q.to, action: 'write' })) {
        if (a.result !== 'ok') continue;
        const key = `${a.device ?? ''}\u0000${a.system}`;
        const list = kept.get(key) ?? [];
        list.push(a);
        if (list.length > q.limit) list.shift();
        kept.set(key, list);
      }
      return [...kept.values()]
        .flat()
        .sort((a, b) => b.ts - a.ts || b.seq - a.seq)
        .map(sample);
    },
    async close() {
      if (opts.close) await store.close();
    },
  };
}
