/**
 * The `north:` list: each entry one MQTT target the gateway publishes to (JSON or Sparkplug B) and
 * takes commands from (composed by gateway/schema.ts, which also checks the device ids against
 * `devices`). Broker settings are those of the MQTT adapter's connection, at the entry's top level.
 */
import { z } from 'zod';
import { duration, identifier } from '../../../config/common.js';
import { compileTemplate } from '../mapping.js';
import { mqttConnectionSchema } from '../schema.js';

const conn = mqttConnectionSchema.shape;

/** the names a data or status topic may use; heartbeat and command topics: gateway and site only */
export const DEVICE_TOPIC_VARS = ['gateway', 'site', 'line', 'process', 'device'] as const;
export const GATEWAY_TOPIC_VARS = ['gateway', 'site'] as const;

export const NORTH_DEFAULTS = {
  topic: 'fgw/{gateway}/{device}',
  heartbeatTopic: 'fgw/{gateway}/heartbeat',
  writeRequestTopic: 'fgw/{gateway}/write/req',
  writeResponseTopic: 'fgw/{gateway}/write/resp',
} as const;

/** a Sparkplug id is one topic level: no "/", "+" or "#" */
const SPARKPLUG_ID = /^[^/+#]+$/;
const SPARKPLUG_ID_MESSAGE = 'expected one topic level: no "/", "+" or "#"';

const topicTemplate = (description: string) => z.string().min(1).optional().describe(description);

const deviceSelection = z.union([
  identifier('A device id: all its tags.'),
  z
    .strictObject({
      id: identifier('Device id.'),
      tags: z.array(z.string().min(1)).min(1).optional().describe('The tags to publish; default all of the device.'),
    })
    .describe('A device and some of its tags.'),
]);

export const northTargetSchema = z
  .strictObject({
    name: identifier('Target name: the store keeps its cursor as north:<name>, and it is the actor in the audit of its commands.'),
    system: z
      .string()
      .min(1)
      .describe(
        'The consumer system behind this target (e.g. "platform"): the audit records its commands under this system, and the verifier counts it as a registered system.',
      ),
    enabled: z.boolean().default(true).describe('Set false to keep the target in the config without publishing to it.'),
    url: conn.url,
    clientId: z
      .string()
      .min(1)
      .max(65535)
      .optional()
      .describe(
        'MQTT client id; default "fgw-<gateway id>-<name>". The session is always clean: commands sent while the gateway was away are not executed late.',
      ),
    qos: z
      .union([z.literal(0), z.literal(1), z.literal(2)])
      .default(1)
      .describe(
        'Publish QoS. 1 (default): the cursor moves after the PUBACK (at least once); 2 after PUBCOMP; 0 as soon as written to the socket (a broker outage may lose what was in flight).',
      ),
    username: conn.username,
    password: conn.password,
    ca: conn.ca,
    cert: conn.cert,
    key: conn.key,
    rejectUnauthorized: conn.rejectUnauthorized,
    protocolVersion: conn.protocolVersion,
    keepalive: conn.keepalive,
    connectTimeout: conn.connectTimeout,
    reconnect: conn.reconnect,
    format: z
      .enum(['json', 'sparkplugb'])
      .default('json')
      .describe('json: one JSON message per device poll on `topic`; sparkplugb: the gateway is a Sparkplug B edge node, each device a Sparkplug device.'),
    topic: topicTemplate(`json: topic of each device's data, a template of {gateway}, {site}, {line}, {process}, {device}. Default "${NORTH_DEFAULTS.topic}".`),
    statusTopic: topicTemplate(
      'json: topic of the retained status message of each device (same names as topic). Default: the data topic followed by "/status".',
    ),
    heartbeatTopic: topicTemplate(
      `json: the gateway's retained heartbeat (also its last will: online false), a template of {gateway}, {site}. Default "${NORTH_DEFAULTS.heartbeatTopic}".`,
    ),
    heartbeatInterval: duration('json: how often the heartbeat is published; device status goes when it changes.').default(10_000),
    allowWrites: z
      .boolean()
      .default(false)
      .describe('Whether this target may write tags (JSON write requests, Sparkplug DCMD). false (default): its commands are refused and audited as denied.'),
    writeRequestTopic: topicTemplate(
      `json: where the target sends write requests {"uuid", "device", "tag", "value"} (gateway and site names). Default "${NORTH_DEFAULTS.writeRequestTopic}".`,
    ),
    writeResponseTopic: topicTemplate(
      `json: where the gateway answers {"uuid", "error": 0} or {"uuid", "error": "GW_ERR_...", "message"}. Default "${NORTH_DEFAULTS.writeResponseTopic}".`,
    ),
    sparkplug: z
      .strictObject({
        groupId: z.string().min(1).regex(SPARKPLUG_ID, SPARKPLUG_ID_MESSAGE).describe('Sparkplug group id (spBv1.0/<groupId>/...).'),
        edgeNodeId: z.string().min(1).regex(SPARKPLUG_ID, SPARKPLUG_ID_MESSAGE).optional().describe('Edge node id of this gateway; default the gateway id.'),
      })
      .optional()
      .describe('sparkplugb: the edge node.'),
    devices: z
      .array(deviceSelection)
      .min(1)
      .optional()
      .describe(
        'Devices (and tags) to publish; default every device, every tag (json: also the devices an MQTT device entry captures from its topics; sparkplugb: the configured devices, which its births declare).',
      ),
    replayRate: z
      .number()
      .positive()
      .default(1000)
      .describe('Backlog messages per second at most after an outage (replayed in order while live data goes at once).'),
    maxInflight: z
      .number()
      .int()
      .positive()
      .max(65535)
      .default(100)
      .describe("Messages awaiting the broker's acknowledgement at once (MQTT 5: at most the broker's Receive Maximum)."),
  })
  .superRefine((t, ctx) => {
    const check = (key: 'topic' | 'statusTopic' | 'heartbeatTopic' | 'writeRequestTopic' | 'writeResponseTopic', allowed: readonly string[]) => {
      const v = t[key];
      if (v === undefined) return;
      if (t.format === 'sparkplugb') {
        ctx.addIssue({ code: 'custom', path: [key], message: `${key} is not used with format sparkplugb (topics are spBv1.0/<groupId>/...)` });
        return;
      }
      if (/[+#]/.test(v)) ctx.addIssue({ code: 'custom', path: [key], message: 'a publish topic cannot contain the wildcards + or #' });
      try {
        for (const name of compileTemplate(v).vars)
          if (!allowed.includes(name))
            ctx.addIssue({
              code: 'custom',
              path: [key],
              message: `{${name}} is not a name this topic knows (expected ${allowed.map((a) => `{${a}}`).join(', ')})`,
            });
      } catch (e) {
        ctx.addIssue({ code: 'custom', path: [key], message: (e as Error).message });
      }
    };
    check('topic', DEVICE_TOPIC_VARS);
    check('statusTopic', DEVICE_TOPIC_VARS);
    check('heartbeatTopic', GATEWAY_TOPIC_VARS);
    check('writeRequestTopic', GATEWAY_TOPIC_VARS);
    check('writeResponseTopic', GATEWAY_TOPIC_VARS);
    if (t.format === 'sparkplugb' && !t.sparkplug)
      ctx.addIssue({ code: 'custom', path: ['sparkplug'], message: 'format sparkplugb needs sparkplug: { groupId }' });
    if (t.format !== 'sparkplugb' && t.sparkplug) ctx.addIssue({ code: 'custom', path: ['sparkplug'], message: 'sparkplug settings need format: sparkplugb' });
  })
  .describe('One MQTT target: the industry platform (or any broker) the gateway publishes to.');

export const northSchema = z
  .array(northTargetSchema)
  .default([])
  .describe(
    'Northbound MQTT targets (JSON or Sparkplug B): every committed reading is published from the store, each target with its own cursor, and commands come back through the audited write path.',
  );

export type NorthTargetConfig = z.output<typeof northTargetSchema>;

/** The topics of a json target, defaults applied. */
export function jsonTopics(t: NorthTargetConfig): {
  topic: string;
  statusTopic: string;
  heartbeatTopic: string;
  writeRequestTopic: string;
  writeResponseTopic: string;
} {
  const topic = t.topic ?? NORTH_DEFAULTS.topic;
  return {
    topic,
    statusTopic: t.statusTopic ?? `${topic}/status`,
    heartbeatTopic: t.heartbeatTopic ?? NORTH_DEFAULTS.heartbeatTopic,
    writeRequestTopic: t.writeRequestTopic ?? NORTH_DEFAULTS.writeRequestTopic,
    writeResponseTopic: t.writeResponseTopic ?? NORTH_DEFAULTS.writeResponseTopic,
  };
}
