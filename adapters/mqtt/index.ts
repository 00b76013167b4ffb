/**
 * The MQTT adapter module: JSON, raw and Sparkplug B payloads from a broker (mqtt.js v5), with
 * at-least-once delivery into the store (QoS 1, persistent session, PUBACK after commit).
 */
import type { AdapterModule, TagType } from '../types.js';
import { MqttAdapter } from './adapter.js';
import { mqttDeviceSchema, type MqttDevice } from './schema.js';

export { MqttAdapter } from './adapter.js';
export type { MqttDeviceStatus } from './adapter.js';
export { mqttDeviceSchema, type MqttDevice, type MqttTag } from './schema.js';

const mqttModule: AdapterModule<MqttDevice> = {
  protocol: 'mqtt',
  deviceSchema: mqttDeviceSchema,
  create: (device, ctx) => new MqttAdapter(device, ctx),
  warnings(device, path) {
    const out: string[] = [];
    const c = device.connection;
    if (c.qos === 0) out.push(`${path}.connection.qos: 0 gives at-most-once delivery; messages in flight during a crash or outage are lost (use 1)`);
    if (c.qos === 2) out.push(`${path}.connection.qos: 2 is acknowledged (PUBREC) before the store commit by mqtt.js; use 1 for at-least-once into the store`);
    if (c.cleanStart)
      out.push(`${path}.connection.cleanStart: true discards the broker session on every connect; messages published while the gateway is away are lost`);
    if (c.clientId === undefined) out.push(`${path}.connection.clientId: not set; using "fgw-${device.id}" (the persistent session is tied to it)`);
    if (c.password !== undefined && /^(mqtt|ws):/.test(c.url))
      out.push(`${path}.connection.password: sent in clear text over ${c.url.split(':')[0]}://; prefer mqtts:// or wss://`);
    return out;
  },
  tagTypes(device) {
    const out: Record<string, TagType> = {};
    for (const t of device.tags) if (t.type) out[t.name] = { kind: t.type };
    return out;
  },
};

export default mqttModule;
