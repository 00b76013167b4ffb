/**
 * Opening an OPC UA session the gateway's way, shared by the adapter and `fgw browse`: endpoint
 * discovery, our own server-certificate trust check (with the trust command in the error), a
 * client with node-opcua's reconnection switched off (maxRetry 0: the caller owns reconnection),
 * and coded errors (GW_ERR_OPCUA_UNTRUSTED, GW_ERR_OPCUA_AUTH, GW_ERR_NOT_CONNECTED).
 */
import { readFileSync } from 'node:fs';
import {
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  UserTokenType,
  type ClientSession,
  type EndpointDescription,
  type UserIdentityInfo,
} from 'node-opcua';
import type { Logger } from 'pino';
import { ErrorCodes, GatewayError, errorText, isGatewayError } from '../../config/errors.js';
import { classifyConnectError } from './convert.js';
import { leafCertificate, rejectedFileOf, thumbprint, trustCommand, type ClientIdentity, type PkiHandle } from './pki.js';
import type { OpcuaConnection } from './schema.js';

export const APPLICATION_NAME = 'fgw';

export interface Target {
  connection: OpcuaConnection;
  pki: PkiHandle;
  identity: ClientIdentity;
  clientName: string;
  log: Logger;
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new GatewayError(ErrorCodes.TIMEOUT, `${what} timed out after ${ms} ms`)), ms);
    }),
  ]);
}

function baseOptions(t: Target) {
  const c = t.connection;
  return {
    applicationName: APPLICATION_NAME,
    applicationUri: t.identity.applicationUri,
    clientCertificateManager: t.pki.cm,
    certificateFile: t.identity.certificateFile,
    privateKeyFile: t.identity.privateKeyFile,
    endpointMustExist: false,
    // node-opcua's own reconnection off: a lost channel ends this client; the caller reconnects
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    transportTimeout: c.requestTimeout,
    defaultTransactionTimeout: c.requestTimeout,
  };
}

/**
 * For a secured endpoint: fetches the endpoints (GetEndpoints needs no session), picks the one with
 * our mode and policy and checks its certificate against the trust list. An unknown certificate
 * lands in rejected/ and is refused with GW_ERR_OPCUA_UNTRUSTED and the command that trusts it,
 * unless trustUnknownServers is set (then it is trusted on first use, and logged). Returns the
 * server certificate (undefined for securityMode None).
 */
export async function checkServer(t: Target): Promise<Buffer | undefined> {
  const c = t.connection;
  if (c.securityMode === 'None') return undefined;
  const discovery = OPCUAClient.create({ ...baseOptions(t), clientName: `${t.clientName}-discovery` });
  let endpoints: EndpointDescription[];
  try {
    await withTimeout(discovery.connect(c.endpoint), c.requestTimeout * 2, `connecting to ${c.endpoint}`);
    endpoints = await withTimeout(discovery.getEndpoints(), c.requestTimeout, 'GetEndpoints');
  } catch (e) {
    throw new GatewayError(ErrorCodes.NOT_CONNECTED, `cannot connect to ${c.endpoint}: ${errorText(e)}`, { cause: e });
  } finally {
    await discovery.disconnect().catch(() => undefined);
  }
  const mode = MessageSecurityMode[c.securityMode];
  const policyUri = SecurityPolicy[c.securityPolicy];
  const ep = endpoints.find((e) => e.securityMode === mode && e.securityPolicyUri === policyUri);
  if (!ep || !ep.serverCertificate) {
    const offered = [
      ...new Set(endpoints.map((e) => `${MessageSecurityMode[e.securityMode]}/${(e.securityPolicyUri ?? '').split('#')[1] ?? e.securityPolicyUri}`)),
    ].join(', ');
    throw new GatewayError(
      ErrorCodes.NOT_CONNECTED,
      `${c.endpoint} offers no endpoint with securityMode ${c.securityMode} and securityPolicy ${c.securityPolicy}; it offers: ${offered}`,
    );
  }
  const cert = Buffer.from(ep.serverCertificate);
  const status = await t.pki.cm.checkCertificate(cert);
  if (status.isGood()) return cert;
  const leaf = leafCertificate(cert);
  if (status.name === 'BadCertificateUntrusted' && c.trustUnknownServers) {
    await t.pki.cm.trustCertificate(cert);
    t.log.warn({ sha1: thumbprint(leaf), pki: t.pki.dir }, 'opcua: trusted an unknown server certificate on first use (connection.trustUnknownServers: true)');
    return cert;
  }
  if (status.name === 'BadCertificateUntrusted') await t.pki.cm.rejectCertificate(cert).catch(() => undefined);
  const file = rejectedFileOf(t.pki.dir, leaf);
  const where = file
    ? `it was put in ${file}; trust it with: ${trustCommand(file, t.pki.dir)}`
    : `save the server certificate and run: fgw pki trust <server-cert.der> --pki ${t.pki.dir}`;
  throw new GatewayError(
    ErrorCodes.OPCUA_UNTRUSTED,
    `the server certificate of ${c.endpoint} (sha1 ${thumbprint(leaf)}) is not trusted (${status.name}); ${where}`,
  );
}

/** The session client (not connected yet: attach event handlers, then openSession). */
export function createClient(t: Target, serverCertificate: Buffer | undefined): OPCUAClient {
  const c = t.connection;
  return OPCUAClient.create({
    ...baseOptions(t),
    clientName: t.clientName,
    securityMode: MessageSecurityMode[c.securityMode],
    securityPolicy: SecurityPolicy[c.securityPolicy],
    serverCertificate,
    keepSessionAlive: true,
    requestedSessionTimeout: c.sessionTimeout,
  });
}

export function userIdentity(c: OpcuaConnection): UserIdentityInfo {
  const a = c.auth;
  if (a.type === 'username') return { type: UserTokenType.UserName, userName: a.username, password: a.password };
  if (a.type === 'certificate') {
    try {
      return { type: UserTokenType.Certificate, certificateData: leafCertificate(readFileSync(a.certificate)), privateKey: readFileSync(a.privateKey, 'utf8') };
    } catch (e) {
      throw new GatewayError(ErrorCodes.OPCUA_AUTH, `cannot read the user certificate or key: ${errorText(e)}`, { cause: e });
    }
  }
  return { type: UserTokenType.Anonymous };
}

/** Connects `client` and creates + activates one session. Rejected identities: GW_ERR_OPCUA_AUTH. */
export async function openSession(t: Target, client: OPCUAClient, onCreateSession?: () => void): Promise<ClientSession> {
  const c = t.connection;
  await withTimeout(client.connect(c.endpoint), c.requestTimeout * 2, `connecting to ${c.endpoint}`);
  const identity = userIdentity(c);
  onCreateSession?.();
  try {
    return await withTimeout(client.createSession(identity), c.requestTimeout * 2, 'creating the session');
  } catch (e) {
    if (classifyConnectError(errorText(e)) === 'auth') {
      const a = c.auth;
      const who = a.type === 'username' ? `user "${a.username}"` : a.type === 'certificate' ? `user certificate ${a.certificate}` : 'anonymous user';
      throw new GatewayError(ErrorCodes.OPCUA_AUTH, `the server rejected the ${who} (${errorText(e)}); check connection.auth`, { cause: e });
    }
    throw e;
  }
}

/** Any failure while connecting → a GatewayError with a code. */
export function asConnectError(e: unknown, endpoint: string, t?: Pick<Target, 'identity'>): GatewayError {
  if (isGatewayError(e)) return e;
  const text = errorText(e);
  const kind = classifyConnectError(text);
  if (kind === 'auth') return new GatewayError(ErrorCodes.OPCUA_AUTH, `the server rejected the user identity (${text})`, { cause: e });
  if (kind === 'untrusted') {
    const own = t
      ? `; the server must trust the gateway's certificate ${t.identity.certificateFile} (copy it into the server's trusted list, or trust it from the server's rejected folder)`
      : '';
    return new GatewayError(ErrorCodes.OPCUA_UNTRUSTED, `${endpoint} refused the gateway's certificate (${text.split('\n')[0]})${own}`, { cause: e });
  }
  return new GatewayError(ErrorCodes.NOT_CONNECTED, `cannot connect to ${endpoint}: ${text}`, { cause: e });
}
