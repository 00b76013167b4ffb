/** `fgw pki trust <cert>` and `fgw pki list`: the OPC UA trust list of a PKI folder (adapters/opcua/pki.ts). */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { describeCert, listFolder, pkiDirsOf, readCertificateDer, trustServerCertificate } from '../../adapters/opcua/pki.js';
import { loadConfig } from '../config.js';
import { usage, type Command } from './io.js';

/** The PKI folders named by --pki, or by --config (every OPC UA device's pkiDir, default <storage.path>/pki). */
function dirsOf(values: { pki?: string; config?: string }): string[] {
  if (values.pki) return [resolve(values.pki)];
  if (values.config) return pkiDirsOf(loadConfig(values.config).config);
  return usage('give the PKI folder: --pki <dir> or --config <gateway.yaml>');
}

export const command: Command = {
  async run(argv, io) {
    const [sub, ...rest] = argv;
    const { values, positionals } = parseArgs({
      args: rest,
      options: { pki: { type: 'string' }, config: { type: 'string', short: 'c' } },
      allowPositionals: true,
      strict: true,
    });
    if (sub === 'trust') {
      const file = positionals[0];
      if (!file || positionals.length > 1) usage('give one certificate file: fgw pki trust <server-cert.der|pem>');
      const der = readCertificateDer(file);
      for (const dir of dirsOf(values)) {
        await trustServerCertificate(dir, der);
        io.out(`trusted ${describeCert(file, der)}\n  in ${join(dir, 'trusted', 'certs')}`);
      }
      io.out('a running gateway picks the trust list up on its next reconnect attempt');
      return 0;
    }
    if (sub === 'list') {
      if (positionals.length > 0) usage(`fgw pki list takes no file, got "${positionals[0]}"`);
      for (const dir of dirsOf(values)) {
        io.out(`PKI ${dir}`);
        const own = join(dir, 'own', 'certs', 'client_certificate.pem');
        io.out(`  own: ${existsSync(own) ? describeCert(own) : '(not created yet: made on the first OPC UA connect)'}`);
        for (const [label, folder] of [
          ['trusted', join(dir, 'trusted', 'certs')],
          ['rejected', join(dir, 'rejected')],
        ] as const) {
          const files = listFolder(folder);
          io.out(`  ${label} (${files.length}):`);
          for (const f of files) io.out(`    ${describeCert(f)}`);
        }
      }
      return 0;
    }
    return usage(sub === undefined ? 'give trust or list' : `fgw pki knows trust and list, not "${sub}"`);
  },
};
