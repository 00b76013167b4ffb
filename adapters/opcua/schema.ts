/**
 * Config schema of an OPC UA device. Accepts exactly what config/gateway.yaml writes for lathe-03,
 * plus the optional keys below (each with a description and a default).
 */
import { z } from 'zod';
import { baseDeviceFields, baseTagFields, duration, uniqueTagNames } from '../../config/common.js';
import { isValidNodeId } from './convert.js';

export const SECURITY_MODES = ['None', 'Sign', 'SignAndEncrypt'] as const;
export const SECURITY_POLICIES = ['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'] as const;
export type SecurityModeName = (typeof SECURITY_MODES)[number];
export type SecurityPolicyName = (typeof SECURITY_POLICIES)[number];

export const authSchema = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('anonymous').describe('No user identity.') }).describe('Anonymous user.'),
    z
      .strictObject({
        type: z.literal('username').describe('User name and password (sent encrypted with the server certificate).'),
        username: z.string().min(1).describe('OPC UA user name.'),
        password: z.string().describe('Password; use ${ENV} interpolation, it is never logged.'),
      })
      .describe('User name and password.'),
    z
      .strictObject({
        type: z.literal('certificate').describe('X.509 user certificate.'),
        certificate: z.string().min(1).describe('Path of the user certificate (PEM or DER).'),
        privateKey: z.string().min(1).describe('Path of the user private key (PEM).'),
      })
      .describe('X.509 certificate user identity.'),
  ])
  .default({ type: 'anonymous' })
  .describe('User identity presented when the session is activated; default anonymous.');

export const connectionSchema = z
  .strictObject({
    endpoint: z
      .string()
      .regex(/^opc\.tcp:\/\/[^/\s]+/, 'expected an endpoint URL like "opc.tcp://host:4840"')
      .describe('Server endpoint URL, e.g. opc.tcp://10.0.0.5:4840.'),
    securityMode: z.enum(SECURITY_MODES).default('None').describe('Message security mode: None, Sign or SignAndEncrypt; default None.'),
    securityPolicy: z
      .enum(SECURITY_POLICIES)
      .optional()
      .describe(
        'Security policy: Basic256Sha256, Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss (None with securityMode None). Default: None for securityMode None, else Basic256Sha256.',
      ),
    auth: authSchema,
    pkiDir: z
      .string()
      .optional()
      .describe('PKI folder (own certificate, trusted/, rejected/); default <storage.path>/pki. Shared by all OPC UA devices that name the same folder.'),
    trustUnknownServers: z
      .boolean()
      .default(false)
      .describe(
        'Trust a server certificate that is not in the trust list on first use (and add it). Default false: unknown servers are refused (GW_ERR_OPCUA_UNTRUSTED) until `fgw pki trust` is run.',
      ),
    requestTimeout: duration('Timeout of one OPC UA request (read, write, create monitored items); default 10s.').default(10_000),
    sessionTimeout: duration('Requested session timeout; the server keeps a lost session this long; default 60s.').default(60_000),
    reconnectDelay: duration('First reconnect delay ceiling (jittered, doubling per failure); default 1s.').default(1000),
    reconnectMaxDelay: duration('Largest reconnect delay; default 30s.').default(30_000),
  })
  .transform((c, ctx) => {
    const policy = c.securityPolicy ?? (c.securityMode === 'None' ? 'None' : 'Basic256Sha256');
    if (c.securityMode === 'None' && policy !== 'None') {
      ctx.addIssue({
        code: 'custom',
        path: ['securityPolicy'],
        message: `securityPolicy ${policy} needs securityMode Sign or SignAndEncrypt (securityMode is None)`,
      });
    }
    if (c.securityMode !== 'None' && policy === 'None') {
      ctx.addIssue({ code: 'custom', path: ['securityPolicy'], message: `securityMode ${c.securityMode} needs a securityPolicy other than None` });
    }
    return { ...c, securityPolicy: policy as SecurityPolicyName };
  })
  .describe('How to reach the OPC UA server.');

export const deadbandSchema = z
  .strictObject({
    type: z.enum(['absolute', 'percent']).describe("absolute: in engineering units; percent: of the variable's EURange (the server must know it)."),
    value: z.number().nonnegative().describe('Deadband size.'),
  })
  .describe('Data-change deadband of a subscribed numeric tag; default none (every change is reported).');

export const opcuaTagSchema = z.strictObject({
  ...baseTagFields,
  nodeId: z
    .string()
    .refine(isValidNodeId, { message: 'expected an OPC UA NodeId like "ns=1;s=Lathe3.State" or "i=2258"' })
    .describe('NodeId of the variable, e.g. "ns=1;s=Lathe3.State". Its DataType fixes the field kind.'),
  mode: z
    .enum(['subscribe', 'poll'])
    .default('subscribe')
    .describe('subscribe (default): a monitored item, reported on change; poll: Read at the device interval.'),
  samplingInterval: duration('Server-side sampling interval of a subscribed tag; default the device interval.').optional(),
  queueSize: z.number().int().positive().default(10).describe('Server-side queue of a subscribed tag (values kept between publishes); default 10.'),
  deadband: deadbandSchema.optional(),
});

export const opcuaDeviceSchema = z
  .strictObject({
    ...baseDeviceFields,
    protocol: z.literal('opcua').describe('OPC UA client (node-opcua).'),
    connection: connectionSchema,
    republishInterval: duration(
      'Report the last value of a subscribed tag again (ts = now) when it has not changed for this long, so a quiet machine still fills every reporting slot; 0 disables. Default 30s.',
    ).default(30_000),
    tags: z.array(opcuaTagSchema).min(1).describe('Variables to collect.'),
  })
  .superRefine((d, ctx) => uniqueTagNames(d.tags, ctx));

export type OpcuaDevice = z.output<typeof opcuaDeviceSchema>;
export type OpcuaTag = z.output<typeof opcuaTagSchema>;
export type OpcuaConnection = z.output<typeof connectionSchema>;
export type OpcuaAuth = z.output<typeof authSchema>;
