/**
 * The gateway's OPC UA PKI: one folder (default <storage.path>/pki) holding the client's own
 * certificate and key (created once, never regenerated: a new certificate would have to be trusted again on every server), the trust list (trusted/certs)
 * and the certificates of refused servers (rejected/). `fgw pki trust|list` is gateway/cli/pki.ts.
 *
 * Layout (node-opcua's): own/certs/client_certificate.pem, own/private/private_key.pem,
 * trusted/certs/*.pem, rejected/*.pem, issuers/certs, issuers/crl, trusted/crl.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { OPCUACertificateManager } from 'node-opcua';
import { ErrorCodes, GatewayError } from '../../config/errors.js';

export interface ClientIdentity {
  pkiDir: string;
  certificateFile: string;
  privateKeyFile: string;
  /** the URI in the certificate's SubjectAltName: the client's applicationUri must equal it */
  applicationUri: string;
}

interface PkiEntry {
  cm: OPCUACertificateManager;
  refs: number;
  identity?: Promise<ClientIdentity>;
  ready: Promise<void>;
}

/** One certificate manager per PKI folder in this process, shared by every device that uses it. */
const managers = new Map<string, PkiEntry>();

/** A relative pkiDir is taken relative to storage.path (the adapter's dataDir). */
export function resolvePkiDir(dataDir: string, pkiDir?: string): string {
  if (!pkiDir) return resolve(dataDir, 'pki');
  return isAbsolute(pkiDir) ? pkiDir : resolve(dataDir, pkiDir);
}

export interface PkiHandle {
  cm: OPCUACertificateManager;
  dir: string;
  identity(gatewayId: string): Promise<ClientIdentity>;
  release(): Promise<void>;
}

export async function acquirePki(dir: string, opts: { watch?: boolean } = {}): Promise<PkiHandle> {
  let e = managers.get(dir);
  if (!e) {
    mkdirSync(dir, { recursive: true });
    const cm = new OPCUACertificateManager({ rootFolder: dir, automaticallyAcceptUnknownCertificate: false, disableFileWatchers: opts.watch === false });
    e = { cm, refs: 0, ready: cm.initialize() };
    managers.set(dir, e);
  }
  e.refs++;
  const entry = e;
  await entry.ready;
  let released = false;
  return {
    cm: entry.cm,
    dir,
    identity: (gatewayId) => (entry.identity ??= ensureClientCertificate(entry.cm, dir, gatewayId)),
    async release() {
      if (released) return;
      released = true;
      entry.refs--;
      if (entry.refs === 0 && managers.get(dir) === entry) {
        managers.delete(dir);
        await entry.cm.dispose().catch(() => undefined);
      }
    },
  };
}

/** The application URI inside a certificate's SubjectAltName, if any. */
export function certificateUri(cert: X509Certificate): string | undefined {
  const m = /URI:([^,\s]+)/.exec(cert.subjectAltName ?? '');
  return m?.[1];
}

/**
 * The client certificate: created once (self-signed, 10 years, SAN URI urn:<host>:fgw:<gateway id>)
 * and reused on every later start; its SAN URI becomes the applicationUri, so the two always match
 * even if the gateway id or the host name changed since.
 */
async function ensureClientCertificate(cm: OPCUACertificateManager, dir: string, gatewayId: string): Promise<ClientIdentity> {
  const certificateFile = join(dir, 'own', 'certs', 'client_certificate.pem');
  const privateKeyFile = join(dir, 'own', 'private', 'private_key.pem');
  if (!existsSync(certificateFile) || statSync(certificateFile).size === 0) {
    const host = hostname();
    await cm.createSelfSignedCertificate({
      applicationUri: `urn:${host}:fgw:${gatewayId}`,
      subject: `/CN=fgw ${gatewayId}@${host}/O=fgw`,
      dns: [host],
      startDate: new Date(Date.now() - 86_400_000),
      validity: 3650,
      outputFile: certificateFile,
    });
  }
  const uri = certificateUri(new X509Certificate(readFileSync(certificateFile)));
  if (!uri)
    throw new GatewayError(
      ErrorCodes.CONFIG,
      `client certificate ${certificateFile} has no application URI in its SubjectAltName; move it away to have a new one created`,
    );
  return { pkiDir: dir, certificateFile, privateKeyFile, applicationUri: uri };
}

/** DER of a certificate file written as DER or PEM. */
export function readCertificateDer(file: string): Buffer {
  let raw: Buffer;
  try {
    raw = readFileSync(file);
  } catch (e) {
    throw new GatewayError(ErrorCodes.USAGE, `cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return Buffer.from(new X509Certificate(raw).raw);
  } catch (e) {
    throw new GatewayError(ErrorCodes.USAGE, `${file} is not an X.509 certificate (DER or PEM)`, { cause: e });
  }
}

/** The first certificate of a DER chain (a server may send its chain concatenated). */
export function leafCertificate(der: Buffer): Buffer {
  if (der.length > 4 && der[0] === 0x30 && der[1] === 0x82) {
    const len = 4 + der.readUInt16BE(2);
    if (len < der.length) return der.subarray(0, len);
  }
  if (der.length > 0 && der[0] !== 0x30) return readPemOrDer(der);
  return der;
}

function readPemOrDer(raw: Buffer): Buffer {
  return Buffer.from(new X509Certificate(raw).raw);
}

export function thumbprint(der: Buffer): string {
  return new X509Certificate(der).fingerprint.replace(/:/g, '').toLowerCase();
}

/** The file under rejected/ holding this certificate (node-opcua names it "<CN>[<sha1>].pem"). */
export function rejectedFileOf(dir: string, der: Buffer): string | undefined {
  const folder = join(dir, 'rejected');
  if (!existsSync(folder)) return undefined;
  const tp = thumbprint(der);
  const f = readdirSync(folder).find((n) => n.toLowerCase().includes(tp));
  return f ? join(folder, f) : undefined;
}

const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The command a user runs to trust a refused server certificate (paths shell-quoted: node-opcua names contain "[...]"). */
export function trustCommand(certFile: string, dir: string): string {
  return `fgw pki trust ${shellQuote(certFile)} --pki ${shellQuote(dir)}`;
}

/** One certificate as `fgw pki` lists it: file, subject, URI, validity, SHA-1 thumbprint. */
export function describeCert(file: string, der?: Buffer): string {
  try {
    const c = new X509Certificate(der ?? readFileSync(file));
    const cn = /CN=([^\n,]+)/.exec(c.subject)?.[1] ?? c.subject.replace(/\n/g, ', ');
    return `${basename(file)}\n    subject ${cn}; uri ${certificateUri(c) ?? '-'}; valid ${new Date(c.validFrom).toISOString().slice(0, 10)} .. ${new Date(c.validTo).toISOString().slice(0, 10)}; sha1 ${c.fingerprint.replace(/:/g, '').toLowerCase()}`;
  } catch {
    return `${basename(file)} (unreadable)`;
  }
}

/** The certificate files of a PKI folder, sorted. */
export function listFolder(folder: string): string[] {
  if (!existsSync(folder)) return [];
  return readdirSync(folder)
    .filter((n) => /\.(pem|der|crt|cer)$/i.test(n))
    .sort()
    .map((n) => join(folder, n));
}

/** The PKI folders of a gateway config: every OPC UA device's pkiDir (default <storage.path>/pki). */
export function pkiDirsOf(config: { storage: { path: string }; devices: ReadonlyArray<{ protocol: string; connection?: unknown }> }): string[] {
  const dataDir = config.storage.path;
  const dirs = new Set<string>();
  for (const d of config.devices) {
    if (d.protocol === 'opcua') dirs.add(resolvePkiDir(dataDir, (d.connection as { pkiDir?: string } | undefined)?.pkiDir));
  }
  if (dirs.size === 0) dirs.add(resolvePkiDir(dataDir));
  return [...dirs];
}

/** Adds a server certificate (DER) to the trust list of the PKI folder `dir`. */
export async function trustServerCertificate(dir: string, der: Buffer): Promise<void> {
  const h = await acquirePki(dir, { watch: false });
  try {
    await h.cm.trustCertificate(der);
  } finally {
    await h.release();
  }
}
