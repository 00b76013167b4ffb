/**
 * mqtts:// with a private CA, a client certificate and key, and a user name and password, against
 * a real Mosquitto that requires all of them. Certificates are made by openssl for the test.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isGatewayError } from '../../config/errors.js';
import type { Store } from '../../ingest/types.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { context, createAdapter, mosquittoPub, newStore, values } from './harness.js';

const pki = tempDir('fgw-mqtt-pki-');
const p = (f: string) => join(pki.path, f);
let broker: Mosquitto;
let url: string;
let st: ReturnType<typeof newStore>;
let store: Store;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: pki.path, stdio: 'pipe' });
}

function issue(name: string, cn: string, ext?: string): void {
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
  const args = ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2'];
  if (ext) {
    writeFileSync(p(`${name}.ext`), ext);
    args.push('-extfile', `${name}.ext`);
  }
  openssl(...args);
}

beforeAll(async () => {
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=fgw-test-ca');
  issue('server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\n');
  issue('client', 'gw-tls');
  execFileSync('mosquitto_passwd', ['-b', '-c', p('passwd'), 'gateway', 's3cret'], { stdio: 'pipe' });
  broker = await startMosquitto({
    allowAnonymous: false,
    listenerLines: [`cafile ${p('ca.pem')}`, `certfile ${p('server.crt')}`, `keyfile ${p('server.key')}`, 'require_certificate true'],
    extra: [`password_file ${p('passwd')}`],
  });
  url = `mqtts://127.0.0.1:${broker.port}`;
  st = newStore();
  store = st.store;
});

afterAll(async () => {
  await st?.close();
  await broker?.close();
  pki.cleanup();
});

const tls = () => ({ ca: p('ca.pem'), cert: readFileSync(p('client.crt'), 'utf8'), key: p('client.key') });
const dev = (id: string, connection: Record<string, unknown>) => ({
  id,
  protocol: 'mqtt',
  connection: { url, clientId: `gw-${id}`, ...connection },
  tags: [{ name: 'v', topic: `tls/${id}`, type: 'integer' }],
});

it('connects with CA, client certificate and key, user name and password; messages arrive', async () => {
  const a = createAdapter(dev('tls-ok', { ...tls(), username: 'gateway', password: 's3cret' }), context(store));
  await a.start();
  await waitFor('connected over TLS', () => a.status().connected);
  await mosquittoPub(broker.port, 'tls/tls-ok', '7', [
    '--cafile',
    p('ca.pem'),
    '--cert',
    p('client.crt'),
    '--key',
    p('client.key'),
    '-u',
    'gateway',
    '-P',
    's3cret',
  ]);
  await waitFor('reading', () => values(store, 'tls-ok', 'v').length === 1);
  expect(values(store, 'tls-ok', 'v')[0]).toMatchObject({ value: 7, kind: 'integer' });
  await a.stop();
});

it.each([
  ['a wrong password', () => ({ ...tls(), username: 'gateway', password: 'wrong' }), /Not authorized/],
  ['no client certificate', () => ({ ca: p('ca.pem'), username: 'gateway', password: 's3cret' }), /CERTIFICATE_REQUIRED/],
  ['a CA that does not vouch for the broker', () => ({ ...tls(), ca: p('client.crt'), username: 'gateway', password: 's3cret' }), /SELF_SIGNED_CERT_IN_CHAIN/],
])('%s: not connected, the error is reported, nothing throws', async (what, connection, error) => {
  const a = createAdapter(dev(`tls-bad-${what.length}`, { ...connection(), reconnect: { min: '100ms', max: '200ms' } }), context(store));
  await a.start();
  expect(await waitFor('an error reported', () => a.status().lastError)).toMatch(error);
  await waitFor('still retrying with backoff', () => a.status().reconnectAttempts >= 3);
  expect(a.status().connected).toBe(false);
  await a.stop();
});

it('a CA file that does not exist is a config error at start', async () => {
  const a = createAdapter(dev('tls-noca', { ca: p('missing.pem') }), context(store));
  const e = await a.start().catch((x: unknown) => x);
  expect(isGatewayError(e, 'GW_ERR_CONFIG')).toBe(true);
  await a.stop();
});
