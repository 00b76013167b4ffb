/**
 * Benchmark MQTT publisher in its own process: publishes `count` JSON messages
 * {"seq": i, "a": i, "b": <float>} to one topic as fast as the broker takes them, with at most
 * `window` QoS 1 publishes unacknowledged. Prints `BENCH_DONE {"published":N,"ms":T}`.
 *
 *   node dist-bench/test/bench/mqtt-publisher.js --url mqtt://127.0.0.1:P --topic t --count N [--qos 1] [--window 500]
 */
import mqtt from 'mqtt';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { url: { type: 'string' }, topic: { type: 'string' }, count: { type: 'string' }, qos: { type: 'string', default: '1' }, window: { type: 'string', default: '500' } } });
const count = Number(values.count);
const qos = Number(values.qos) as 0 | 1;
const window = Number(values.window);
const client = await mqtt.connectAsync(values.url!, { protocolVersion: 5, clientId: `bench-pub-${process.pid}`, clean: true });
let sent = 0;
let acked = 0;
let errors = 0;
const t0 = performance.now();
await new Promise<void>((resolve) => {
  const pump = () => {
    while (sent < count && sent - acked < window) {
      const i = sent++;
      const payload = `{"seq":${i},"a":${i},"b":${((i * 37) % 1000) / 10}}`;
      client.publish(values.topic!, payload, { qos }, (err) => {
        if (err) errors++;
        acked++;
        if (acked === count) resolve();
        else pump();
      });
    }
  };
  pump();
});
const ms = performance.now() - t0;
process.stdout.write(`BENCH_DONE ${JSON.stringify({ published: count - errors, errors, ms: Math.round(ms) })}\n`);
await client.endAsync();
process.exit(0);
