/**
 * The gateway config file: the YAML loader of config/load.ts with the schema composed in
 * schema.ts, relative paths resolved against the file's directory, and the non-fatal advice each
 * adapter module gives about its devices.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { adapterModule } from '../adapters/registry.js';
import { deepFreeze } from '../config/common.js';
import { isLoopbackListen, parseYamlConfig, readConfigFile } from '../config/load.js';
import { gatewayConfigSchema, type GatewayConfig } from './schema.js';

export interface LoadedConfig {
  config: GatewayConfig;
  /** absolute path of the file */
  path: string;
  /** non-fatal advice (e.g. an address that looks 1-based) */
  warnings: string[];
}

export function parseConfigText(text: string, opts: { env?: NodeJS.ProcessEnv; file?: string } = {}): GatewayConfig {
  return parseYamlConfig(text, gatewayConfigSchema, opts) as GatewayConfig;
}

/** Reads, interpolates, validates and freezes a config file. storage.path is resolved against the file's directory. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const path = resolve(file);
  const text = readConfigFile(path);
  const parsed = parseConfigText(text, { env, file });
  const base = dirname(path);
  const config = deepFreeze({
    ...parsed,
    storage: { ...parsed.storage, path: isAbsolute(parsed.storage.path) ? parsed.storage.path : resolve(base, parsed.storage.path) },
    http: { ...parsed.http, projects: parsed.http.projects.map((p) => (isAbsolute(p) ? p : resolve(base, p))) },
  }) as GatewayConfig;
  return { config, path, warnings: configWarnings(config) };
}

export function configWarnings(config: GatewayConfig): string[] {
  const out: string[] = [];
  config.devices.forEach((d, i) => {
    const m = adapterModule(d.protocol);
    if (m?.warnings) out.push(...m.warnings(d, `devices[${i}]`));
  });
  if (config.http.tokens.length === 0 && !isLoopbackListen(config.http.listen)) {
    out.push(
      `http.listen: ${config.http.listen} is not a loopback address and no tokens are configured; the API will bind 127.0.0.1 instead (add http.tokens to expose it)`,
    );
  }
  return out;
}
