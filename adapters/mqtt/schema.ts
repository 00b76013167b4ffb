/**
 * The MQTT device schema (composed by gateway/schema.ts). One device = one set of tags mapped from
 * topics and payload fields; several devices may share one broker connection (same url + clientId).
 */
import { z } from 'zod';
import { baseDeviceFields, baseTagFields, duration, size, uniqueTagNames } from '../../config/common.js';
import { compileJsonPath, compileTopicPattern, compileTemplate } from './mapping.js';

export const FIELD_KINDS = ['float', 'integer', 'boolean', 'string'] as const;

const reconnectSchema = z
  .strictObject({
    min: duration('Smallest delay before a reconnect attempt.').default(500),
    max: duration('Largest delay between reconnect attempts (capped, jittered exponential backoff).').default(30_000),
  })
  .describe('Reconnect backoff after the broker connection is lost.');

export const mqttConnectionSchema = z
  .strictObject({
    url: z
      .string()
      .regex(/^(mqtts?|wss?|tcp|ssl):\/\/[^\s]+$/, 'expected mqtt://, mqtts://, ws:// or wss:// URL')
      .describe('Broker URL: mqtt://host:1883, mqtts://host:8883 (TLS), ws://host:8080/mqtt (WebSocket).'),
    clientId: z
      .string()
      .min(1)
      .max(65535)
      .optional()
      .describe(
        'Fixed MQTT client id; the persistent session (and so at-least-once delivery) is tied to it. Default "fgw-<device id>". Devices with the same url and clientId share one connection.',
      ),
    qos: z
      .union([z.literal(0), z.literal(1), z.literal(2)])
      .default(1)
      .describe('Subscription QoS. 1 (default) gives at-least-once with the acknowledgement sent after the store commit; 0 may lose messages.'),
    username: z.string().optional().describe('Broker user name.'),
    password: z.string().optional().describe('Broker password (never logged).'),
    ca: z.string().optional().describe('mqtts/wss: CA certificate, a PEM file path or PEM text. Default: the system trust store.'),
    cert: z.string().optional().describe('mqtts/wss: client certificate (PEM file path or PEM text) for certificate authentication.'),
    key: z.string().optional().describe('mqtts/wss: client private key (PEM file path or PEM text).'),
    rejectUnauthorized: z.boolean().default(true).describe('mqtts/wss: refuse a broker certificate that the CA does not vouch for.'),
    protocolVersion: z
      .union([z.literal(5), z.literal(4)])
      .default(5)
      .describe('MQTT protocol version: 5 (MQTT 5.0, default) or 4 (MQTT 3.1.1).'),
    keepalive: duration('Keepalive interval; the connection is considered lost after 1.5× without traffic.', {
      max: 65_535_000,
      why: '65535s (the MQTT keepalive field)',
    }).default(30_000),
    connectTimeout: duration('How long to wait for CONNACK before retrying.').default(10_000),
    cleanStart: z
      .boolean()
      .default(false)
      .describe(
        'false (default): resume the persistent session so the broker keeps and redelivers QoS 1 messages while the gateway is away. true discards it.',
      ),
    sessionExpiry: duration('MQTT 5: how long the broker keeps the session (and queued messages) after a disconnect.', {
      max: 0xffffffff * 1000,
      why: '4294967295s (the MQTT 5 session expiry field)',
    }).default(172_800_000),
    reconnect: reconnectSchema.default({ min: 500, max: 30_000 }),
  })
  .describe('Broker connection.');

export const mqttTagSchema = z
  .strictObject({
    ...baseTagFields,
    topic: z
      .string()
      .optional()
      .describe(
        'Topic filter this tag is read from. "+" and "#" are MQTT wildcards; "+name" and "#name" also capture the segment(s) into {name} for deviceTemplate/nameTemplate (e.g. "plant/+line/+device/telemetry"). Required unless format is sparkplugb.',
      ),
    path: z
      .string()
      .optional()
      .describe(
        'Where the value is in a JSON payload: dotted path with array indices, e.g. "motor.current", "motors[1].current", "[\'a.b\']". Absent: the whole payload is the value (raw numbers, booleans, strings).',
      ),
    timestampPath: z
      .string()
      .optional()
      .describe('JSON path of the source timestamp: epoch ms, epoch s (numbers below 1e11) or ISO 8601 text. Absent: the receive time.'),
    type: z
      .enum(FIELD_KINDS)
      .optional()
      .describe(
        'The stored field type, fixed by config. Absent: fixed by the first value seen (number → float, boolean, string; Sparkplug: the birth datatype) and remembered in the data dir; later values converted when lossless, else dead-lettered WRONG_TYPE.',
      ),
    nameTemplate: z
      .string()
      .optional()
      .describe('Fleet mode: the field name of each reading, built from topic captures, e.g. "{sensor}_temp". Default: the tag name.'),
    metric: z.string().optional().describe('sparkplugb: the Sparkplug metric name (e.g. "Motor/Current"). Default: the tag name.'),
    writeTopic: z
      .string()
      .optional()
      .describe(
        'Topic a write to this tag publishes to (QoS 1): the value as JSON text (format json) or plain text (format raw). Absent: the tag cannot be written (sparkplugb writes go as NCMD/DCMD instead).',
      ),
  })
  .describe('One MQTT tag: a value taken from a topic and payload field.');

export const sparkplugSchema = z
  .strictObject({
    groupId: z.string().min(1).describe('Sparkplug group id (topic spBv1.0/<groupId>/...).'),
    edgeNodeId: z.string().min(1).describe('Sparkplug edge node id.'),
    deviceId: z
      .string()
      .min(1)
      .optional()
      .describe("Sparkplug device id under the edge node (DBIRTH/DDATA/DDEATH). Absent: the node's own metrics (NBIRTH/NDATA/NDEATH)."),
    rebirthInterval: duration('Smallest time between two rebirth requests (NCMD Node Control/Rebirth) to one edge node.').default(5000),
  })
  .describe('Sparkplug B source of this device.');

export const mqttDeviceSchema = z
  .strictObject({
    ...baseDeviceFields,
    interval: duration('Expected reporting interval of the device (MQTT is push; the verifier uses it to judge gaps).').default(1000),
    protocol: z.literal('mqtt').describe('MQTT subscriber (JSON, raw or Sparkplug B payloads).'),
    connection: mqttConnectionSchema,
    format: z
      .enum(['json', 'raw', 'sparkplugb'])
      .default('json')
      .describe('Payload format: json (values by path), raw (the payload text is the value) or sparkplugb.'),
    maxPayloadSize: size('Payloads larger than this are dead-lettered OVERSIZE.').default(262_144),
    deviceTemplate: z
      .string()
      .optional()
      .describe('Fleet mode: the device id of each reading, built from topic captures, e.g. "{line}-{device}". Default: this device\'s id.'),
    sparkplug: sparkplugSchema.optional(),
    tags: z.array(mqttTagSchema).min(1).describe('The values to collect.'),
  })
  .superRefine((d, ctx) => {
    uniqueTagNames(d.tags, ctx);
    const capturesOf = (topic: string | undefined): Set<string> | undefined => {
      if (topic === undefined) return undefined;
      try {
        return new Set(compileTopicPattern(topic).captures);
      } catch {
        return undefined;
      }
    };
    if (d.format === 'sparkplugb' && !d.sparkplug)
      ctx.addIssue({ code: 'custom', path: ['sparkplug'], message: 'format sparkplugb needs sparkplug: { groupId, edgeNodeId }' });
    if (d.format !== 'sparkplugb' && d.sparkplug) ctx.addIssue({ code: 'custom', path: ['sparkplug'], message: 'sparkplug settings need format: sparkplugb' });
    if (d.deviceTemplate !== undefined) {
      try {
        const vars = compileTemplate(d.deviceTemplate).vars;
        d.tags.forEach((t, i) => {
          const caps = capturesOf(t.topic);
          for (const v of vars)
            if (caps && !caps.has(v))
              ctx.addIssue({ code: 'custom', path: ['tags', i, 'topic'], message: `deviceTemplate uses {${v}} but the topic captures no "+${v}" or "#${v}"` });
        });
      } catch (e) {
        ctx.addIssue({ code: 'custom', path: ['deviceTemplate'], message: (e as Error).message });
      }
    }
    d.tags.forEach((t, i) => {
      const at = (k: string) => ['tags', i, k];
      if (d.format === 'sparkplugb') {
        for (const k of ['topic', 'path', 'timestampPath', 'nameTemplate', 'writeTopic'] as const)
          if (t[k] !== undefined) ctx.addIssue({ code: 'custom', path: at(k), message: `${k} is not used with format sparkplugb (use metric)` });
        return;
      }
      if (t.metric !== undefined) ctx.addIssue({ code: 'custom', path: at('metric'), message: 'metric needs format sparkplugb' });
      if (t.topic === undefined) ctx.addIssue({ code: 'custom', path: at('topic'), message: 'required: the topic to read this tag from' });
      else {
        try {
          compileTopicPattern(t.topic);
        } catch (e) {
          ctx.addIssue({ code: 'custom', path: at('topic'), message: (e as Error).message });
        }
      }
      if (d.format === 'raw') {
        for (const k of ['path', 'timestampPath'] as const)
          if (t[k] !== undefined) ctx.addIssue({ code: 'custom', path: at(k), message: `${k} needs format json (a raw payload is the value itself)` });
      }
      for (const k of ['path', 'timestampPath'] as const) {
        const p = t[k];
        if (p === undefined) continue;
        try {
          compileJsonPath(p);
        } catch (e) {
          ctx.addIssue({ code: 'custom', path: at(k), message: (e as Error).message });
        }
      }
      if (t.nameTemplate !== undefined) {
        try {
          const caps = capturesOf(t.topic);
          for (const v of compileTemplate(t.nameTemplate).vars)
            if (caps && !caps.has(v))
              ctx.addIssue({ code: 'custom', path: at('nameTemplate'), message: `uses {${v}} but the topic captures no "+${v}" or "#${v}"` });
        } catch (e) {
          ctx.addIssue({ code: 'custom', path: at('nameTemplate'), message: (e as Error).message });
        }
      }
      if (t.writeTopic !== undefined && /[+#]/.test(t.writeTopic))
        ctx.addIssue({ code: 'custom', path: at('writeTopic'), message: 'a write topic cannot contain wildcards' });
    });
  })
  .describe('An MQTT device: tags mapped from topics and payload fields, or from a Sparkplug B edge node.');

export type MqttDevice = z.output<typeof mqttDeviceSchema>;
export type MqttTag = MqttDevice['tags'][number];
export type MqttConnectionConfig = MqttDevice['connection'];
