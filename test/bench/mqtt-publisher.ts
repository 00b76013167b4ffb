/**
 * Benchmark MQTT publisher in its own process: publishes `count` JSON messages
 * {"seq": i, "a": i, "b": <float>} to one topic as fast as the broker takes them, with at most
 * `window` QoS 1 publishes unacknowledged. Prints `BENCH_DONE {"published":N,"ms":T}`.
 *
 *   node dist-bench/test/bench/mqtt-publisher.js --url mqtt://127.0.0.1:P --topic t --count N [--qos 1] [--window 500]
 *
 * `--rate <msg/s> --fields <k>`: instead, at most <rate> messages a second (paced every 10 ms), each
 * {"f0": i, "f1": <float>, ... "f<k-1>": <float>}.
 *
 * `--north <devices>x<tags>`: instead, the gateway's northbound JSON messages (one device poll of
 * <tags> float values, as adapters/mqtt/north/json.ts formats them) round-robin over <devices>
 * topics `<topic>/dev-<d>` (the limit of the north scenario).
 */
import { dataMessage } from '../../adapters/mqtt/north/json.js';
import mqtt from 'mqtt';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    topic: { type: 'string' },
    count: { type: 'string' },
    qos: { type: 'string', default: '1' },
    window: { type: 'string', default: '500' },
    north: { type: 'string' },
    rate: { type: 'string' },
    fields: { type: 'string', default: '5' },
  },
});
const [northDevices, northTags] = (values.north ?? '0x0').split('x').map(Number) as [number, number];
const tagNames = Array.from({ length: northTags }, (_, i) => `f${i}`);
const t0ts = Date.now();
/** one northbound message: device poll i, like the gateway's (the ingest source's values) */
function northMessage(i: number): { topic: string; payload: string } {
  const d = i % northDevices;
  const tick = Math.floor(i / northDevices);
  const readings = tagNames.map((tag, k) => ({ tag, kind: 'float' as const, value: (((tick + d) * 31 + k * 7) % 10_000) / 10, quality: 'good' as const }));
  return { topic: `${values.topic!}/dev-${d}`, payload: dataMessage({ device: `dev-${d}`, ts: t0ts + tick * 10, tie: 0, seq: i * northTags + 1, readings }) };
}
const count = Number(values.count);
const rate = values.rate === undefined ? Infinity : Number(values.rate);
const fieldCount = Number(values.fields);
/** {"f0":i,"f1":..} with fieldCount fields */
function fieldsMessage(i: number): string {
  let s = `{"f0":${i}`;
  for (let k = 1; k < fieldCount; k++) s += `,"f${k}":${((i * 37 + k * 11) % 1000) / 10}`;
  return `${s}}`;
}
const qos = Number(values.qos) as 0 | 1;
const window = Number(values.window);
const client = await mqtt.connectAsync(values.url!, { protocolVersion: 5, clientId: `bench-pub-${process.pid}`, clean: true });
let sent = 0;
let acked = 0;
let errors = 0;
const t0 = performance.now();
await new Promise<void>((resolve) => {
  // paced: the messages due by now (all of them when no --rate)
  const due = () => (rate === Infinity ? count : Math.min(count, Math.floor(((performance.now() - t0) * rate) / 1000)));
  const pump = () => {
    while (sent < count && sent - acked < window && sent < due()) {
      const i = sent++;
      const m =
        northDevices > 0
          ? northMessage(i)
          : rate !== Infinity
            ? { topic: values.topic!, payload: fieldsMessage(i) }
            : { topic: values.topic!, payload: `{"seq":${i},"a":${i},"b":${((i * 37) % 1000) / 10}}` };
      client.publish(m.topic, m.payload, { qos }, (err) => {
        if (err) errors++;
        acked++;
        if (acked === count) resolve();
        else pump();
      });
    }
  };
  pump();
  if (rate !== Infinity) {
    const pacer = setInterval(() => {
      if (sent >= count) clearInterval(pacer);
      else pump();
    }, 10);
  }
});
const ms = performance.now() - t0;
process.stdout.write(`BENCH_DONE ${JSON.stringify({ published: count - errors, errors, ms: Math.round(ms) })}\n`);
await client.endAsync();
process.exit(0);
