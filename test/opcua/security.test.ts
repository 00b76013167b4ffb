/**
 * Security against a real node-opcua server that offers only SignAndEncrypt and refuses
 * anonymous users: an unknown server certificate is refused (GW_ERR_OPCUA_UNTRUSTED, cert put in
 * rejected/, the message names the trust command) until `fgw pki trust` is run; then username auth
 * works with each policy; a wrong password gives GW_ERR_OPCUA_AUTH; X.509 user certificates work;
 * the client certificate is made once and kept, its SAN URI equal to the applicationUri.
 */
import { spawnSync } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { OPCUACertificateManager } from 'node-opcua';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import opcua from '../../adapters/opcua/index.js';
import { main } from '../../gateway/cli/index.js';
import { certificateUri } from '../../adapters/opcua/pki.js';
import { OpcuaSimulator } from '../../adapters/opcua/simulator.js';
import type { Adapter } from '../../adapters/types.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { MemorySink } from '../helpers/sink.js';
import { captureLog } from '../helpers/log.js';
import { makeCtx } from './helpers.js';

let sim: OpcuaSimulator;
let dir: ReturnType<typeof tempDir>;
const running: Adapter[] = [];

beforeAll(async () => {
  dir = tempDir('fgw-opcua-sec-');
  sim = await OpcuaSimulator.start({ pkiDir: join(dir.path, 'server'), securityModes: ['SignAndEncrypt'], allowAnonymous: false });
});

afterAll(async () => {
  for (const a of running) await a.stop();
  await sim?.stop();
  dir?.cleanup();
});

function device(id: string, connection: Record<string, unknown>) {
  return opcua.deviceSchema.parse({
    id,
    protocol: 'opcua',
    interval: '200ms',
    connection: {
      endpoint: sim.endpoint,
      securityMode: 'SignAndEncrypt',
      securityPolicy: 'Basic256Sha256',
      reconnectDelay: '200ms',
      reconnectMaxDelay: '1s',
      ...connection,
    },
    tags: [{ name: 'state', role: 'state', nodeId: 'ns=1;s=Lathe3.State' }],
  });
}

function start(id: string, dataDir: string, connection: Record<string, unknown>) {
  const sink = new MemorySink();
  const cap = captureLog({ level: 'info' });
  const adapter = opcua.create(device(id, connection), makeCtx(id, dataDir, sink, cap.log));
  running.push(adapter);
  return { adapter, sink, cap, started: adapter.start() };
}

const USER = { type: 'username', username: 'gateway', password: 'secret' };
const fgwBin = join(new URL('../..', import.meta.url).pathname, 'gateway/bin/fgw.js');

describe('opcua security', () => {
  const data = () => join(dir.path, 'gw');

  it('refuses an unknown server certificate with GW_ERR_OPCUA_UNTRUSTED and the trust command; `fgw pki trust` lets it in', async () => {
    const { adapter, sink, cap } = start('lathe-untrusted', data(), { auth: USER });
    const lastError = await waitFor('untrusted error', () => adapter.status().lastError);
    expect(lastError).toMatch(/^GW_ERR_OPCUA_UNTRUSTED: /);
    const m = /trust it with: fgw pki trust '([^']+)' --pki (\S+)$/.exec(lastError);
    expect(m).not.toBeNull();
    const [, certFile, pkiDir] = m!;
    expect(pkiDir).toBe(join(data(), 'pki'));
    expect(certFile!.startsWith(join(pkiDir!, 'rejected'))).toBe(true);
    expect(Buffer.from(new X509Certificate(readFileSync(certFile!)).raw).equals(sim.certificate())).toBe(true);
    expect(cap.lines.filter((l) => String(l.msg).includes('is not trusted'))).toHaveLength(1);
    expect(sim.sessionsCreated).toBe(0);

    // as a user does it: `fgw pki trust` in its own process, which the running adapter learns of by
    // its PKI folder (in this process the command would share the adapter's certificate manager)
    const trust = spawnSync(process.execPath, [fgwBin, 'pki', 'trust', certFile!, '--pki', pkiDir!], { encoding: 'utf8' });
    expect(trust.status, trust.stderr).toBe(0);
    expect(trust.stdout).toMatch(/^trusted .*\n    subject NodeOPCUA/);
    await waitFor('data after trust', () => sink.last('state')?.quality === 'good');
    expect(adapter.status()).toMatchObject({ connected: true });
    const list: string[] = [];
    await main(['pki', 'list', '--pki', pkiDir!], { out: (s) => list.push(s), err: (s) => list.push(s) });
    expect(list.join('\n')).toMatch(/trusted \(1\)/);
    expect(list.join('\n')).toMatch(/rejected \(0\)/);
    await adapter.stop();
  });

  it.each(['Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'])('SignAndEncrypt + %s with username auth delivers data', async (policy) => {
    sim.set('Lathe3.State', 2);
    const { adapter, sink } = start(`lathe-${policy}`, data(), { auth: USER, securityPolicy: policy });
    const r = await waitFor('state 2', () => sink.of('state').find((x) => x.value === 2));
    expect(r).toMatchObject({ quality: 'good', kind: 'integer' });
    await adapter.stop();
  });

  it('a wrong password gives GW_ERR_OPCUA_AUTH in status() and one log line', async () => {
    const { adapter, cap } = start('lathe-badpw', data(), { auth: { ...USER, password: 'wrong' } });
    const lastError = await waitFor('auth error', () => adapter.status().lastError);
    expect(lastError).toMatch(/^GW_ERR_OPCUA_AUTH: .*user "gateway"/);
    expect(lastError).not.toContain('wrong');
    expect(cap.text()).not.toContain('wrong');
    const attempts = sim.sessionsCreated;
    await waitFor('a retry', () => sim.sessionsCreated > attempts);
    expect(cap.lines.filter((l) => l.code === 'GW_ERR_OPCUA_AUTH')).toHaveLength(1);
    expect(adapter.status().connected).toBe(false);
    await adapter.stop();
  });

  it('an X.509 user certificate is accepted', async () => {
    const userPki = join(dir.path, 'user');
    const cm = new OPCUACertificateManager({ rootFolder: userPki });
    await cm.initialize();
    const certFile = join(userPki, 'user.pem');
    await cm.createSelfSignedCertificate({
      applicationUri: 'urn:fgw:test-user',
      subject: '/CN=operator',
      dns: [],
      startDate: new Date(Date.now() - 86_400_000),
      validity: 30,
      outputFile: certFile,
    });
    await cm.dispose();
    sim.set('Lathe3.State', 3);
    const { adapter, sink } = start('lathe-x509', data(), {
      auth: { type: 'certificate', certificate: certFile, privateKey: join(userPki, 'own', 'private', 'private_key.pem') },
    });
    await waitFor('state 3', () => sink.of('state').find((x) => x.value === 3));
    await adapter.stop();
  });

  it('the client certificate is made once, kept across restarts, and its SAN URI is the applicationUri', async () => {
    const certFile = join(data(), 'pki', 'own', 'certs', 'client_certificate.pem');
    expect(existsSync(certFile)).toBe(true);
    const uri = certificateUri(new X509Certificate(readFileSync(certFile)));
    expect(uri).toBe(`urn:${hostname()}:fgw:test-gw`);
    // every session so far (six adapters one after another, each opening the PKI anew) announced
    // that URI and presented this very certificate
    const sha1 = createHash('sha1')
      .update(new X509Certificate(readFileSync(certFile)).raw)
      .digest('hex');
    expect(sim.clientUris.length).toBeGreaterThanOrEqual(5);
    expect(new Set(sim.clientUris)).toEqual(new Set([uri]));
    expect(sim.clientCertificates.length).toBe(sim.clientUris.length);
    expect(new Set(sim.clientCertificates)).toEqual(new Set([sha1]));
  });

  it("fgw pki trust --config trusts a certificate file in the PKI of the config's OPC UA devices", async () => {
    const cfgDir = join(dir.path, 'cfg');
    const certFile = join(dir.path, 'server-cert.der');
    writeFileSync(certFile, sim.certificate());
    const { mkdirSync } = await import('node:fs');
    mkdirSync(cfgDir, { recursive: true });
    const yaml = readFileSync(new URL('../../config/gateway.yaml', import.meta.url), 'utf8').replace('path: ./data/line-01', 'path: ./store');
    writeFileSync(join(cfgDir, 'gateway.yaml'), yaml);
    const out: string[] = [];
    const io = { out: (s: string) => out.push(s), err: (s: string) => out.push(s) };
    expect(await main(['pki', 'trust', certFile, '--config', join(cfgDir, 'gateway.yaml')], io)).toBe(0);
    const trusted = readdirSync(join(cfgDir, 'store', 'pki', 'trusted', 'certs'));
    expect(trusted).toHaveLength(1);
    expect(Buffer.from(new X509Certificate(readFileSync(join(cfgDir, 'store', 'pki', 'trusted', 'certs', trusted[0]!))).raw).equals(sim.certificate())).toBe(
      true,
    );
    out.length = 0;
    expect(await main(['pki', 'trust', join(dir.path, 'missing.der'), '--pki', cfgDir], io)).toBe(2);
    expect(out.join('\n')).toMatch(/^GW_ERR_USAGE: .*missing\.der/m);
  });

  it("a server that does not trust the gateway's certificate gives GW_ERR_OPCUA_UNTRUSTED naming the certificate to trust", async () => {
    sim.setTrustClients(false);
    try {
      const fresh = join(dir.path, 'gw-fresh');
      const { adapter, cap } = start('lathe-distrusted', fresh, { auth: USER, trustUnknownServers: true });
      const lastError = await waitFor('untrusted by the server', () => adapter.status().lastError);
      expect(lastError).toMatch(/^GW_ERR_OPCUA_UNTRUSTED: .*refused the gateway's certificate/);
      expect(lastError).toContain(join(fresh, 'pki', 'own', 'certs', 'client_certificate.pem'));
      expect(cap.lines.filter((l) => l.code === 'GW_ERR_OPCUA_UNTRUSTED')).toHaveLength(1);
      await adapter.stop();
    } finally {
      sim.setTrustClients(true);
    }
  });
});
