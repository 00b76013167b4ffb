/**
 * Loading what the hub knows: hub.yaml (config/load.ts rules: YAML, ${ENV}, strict schema, freeze)
 * and the projects folder. Each sub-folder of `projects` is one project: its `project.yaml`, the
 * files that file names (policy, order exports) and the gateway configs of the project's gateways
 * (every other `*.yaml` / `*.yml` in the folder), so the hub knows each device's gateway, interval
 * and tag roles, and each gateway's registered consumer systems.
 *
 * Gateway configs are copies of the enterprises' own files and reference their secrets as
 * `${MES_TOKEN}`; the hub never uses those secrets, so a reference that is unset on the hub (and
 * has no default) reads as a placeholder instead of failing. A broken project folder is reported
 * with its error and does not stop the others.
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ErrorCodes, GatewayError, errorText } from '../../config/errors.js';
import { parseYamlConfig, protectEnvRefs, readConfigFile } from '../../config/load.js';
import { loadConfig, type LoadedConfig } from '../config.js';
import type { GatewayConfig } from '../schema.js';
import { deviceSpecs } from '../../verify/run.js';
import type { DeviceSpec } from '../../verify/facts.js';
import { DEFAULT_POLICY, loadPolicy, resolvePolicyPath, type Policy } from '../../verify/policy.js';
import { loadProject, type LoadedProject } from '../../verify/project.js';
import { hubSchema, type HubConfig } from './schema.js';

export interface LoadedHub {
  config: HubConfig;
  /** absolute path of hub.yaml */
  path: string;
  /** absolute path of the projects folder */
  projectsDir: string;
}

export function loadHubConfig(file: string, env: NodeJS.ProcessEnv = process.env): LoadedHub {
  const path = resolve(file);
  const text = readConfigFile(path);
  const config = parseYamlConfig(text, hubSchema, { env, file });
  return { config, path, projectsDir: resolve(dirname(path), config.projects) };
}

/** A gateway of a project: its config file and what the hub needs from it. */
export interface HubGateway {
  id: string;
  site?: string;
  /** absolute path of the gateway config */
  file: string;
  config: GatewayConfig;
  /** how often it writes its heartbeat, ms */
  statusInterval: number;
}

/** A device of a project, with the gateway that collects it. */
export interface HubDevice extends DeviceSpec {
  gateway: string;
}

export interface HubProjectOk {
  ok: true;
  /** the project's folder name */
  folder: string;
  dir: string;
  id: string;
  loaded: LoadedProject;
  policy: Policy;
  gateways: HubGateway[];
  devices: HubDevice[];
}

export interface HubProjectError {
  ok: false;
  folder: string;
  dir: string;
  /** the project id when project.yaml could be read that far */
  id?: string;
  error: string;
  details: string[];
}

export type HubProject = HubProjectOk | HubProjectError;

const YAML = /\.ya?ml$/i;

/** A gateway config read on the hub: `${VAR}` without default that is unset on the hub reads as a placeholder. */
export function loadGatewayConfigForHub(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const text = readConfigFile(resolve(file));
  const filled: NodeJS.ProcessEnv = { ...env };
  for (const r of protectEnvRefs(text).refs) {
    if (r.def === undefined && (filled[r.name] === undefined || filled[r.name] === '')) filled[r.name] = `(${r.name}: unset on the hub)`;
  }
  return loadConfig(file, filled);
}

/** The files a project names (policy, order exports), which are not gateway configs. */
function namedFiles(loaded: LoadedProject): Set<string> {
  const out = new Set<string>([loaded.path]);
  const p = loaded.project;
  if (p.policy) {
    try {
      out.add(resolvePolicyPath(p.policy, dirname(loaded.path)));
    } catch {
      /* a shipped policy name: no file in the folder */
    }
  }
  if (loaded.erpOrdersPath) out.add(loaded.erpOrdersPath);
  if (loaded.mesOrdersPath) out.add(loaded.mesOrdersPath);
  return out;
}

function problem(e: unknown): { error: string; details: string[] } {
  const details = (e as { details?: unknown }).details;
  return { error: errorText(e), details: Array.isArray(details) ? details.map(String).slice(0, 50) : [] };
}

/** One project folder. Never throws: a problem is returned as a HubProjectError. */
export function loadProjectFolder(dir: string, env: NodeJS.ProcessEnv = process.env): HubProject {
  const folder = basename(dir);
  let loaded: LoadedProject;
  let policy: Policy;
  try {
    loaded = loadProject(join(dir, 'project.yaml'));
  } catch (e) {
    return { ok: false, folder, dir, ...problem(e) };
  }
  const id = loaded.project.project.id;
  try {
    policy = loadPolicy(loaded.project.policy ?? DEFAULT_POLICY, dirname(loaded.path));
  } catch (e) {
    return { ok: false, folder, dir, id, ...problem(e) };
  }
  const named = namedFiles(loaded);
  const gateways: HubGateway[] = [];
  const devices: HubDevice[] = [];
  const owner = new Map<string, string>();
  const files = readdirSync(dir)
    .filter((f) => YAML.test(f))
    .map((f) => join(dir, f))
    .filter((f) => !named.has(f) && statSync(f).isFile())
    .sort();
  try {
    if (files.length === 0) throw new GatewayError(ErrorCodes.CONFIG, `${dir}: no gateway config (a *.yaml beside project.yaml)`);
    const ids = new Map<string, string>();
    for (const file of files) {
      const { config } = loadGatewayConfigForHub(file, env);
      const gid = config.gateway.id;
      if (ids.has(gid)) throw new GatewayError(ErrorCodes.CONFIG, `${file}: gateway.id "${gid}" is also the id of ${ids.get(gid)}`);
      ids.set(gid, file);
      gateways.push({ id: gid, ...(config.gateway.site ? { site: config.gateway.site } : {}), file, config, statusInterval: config.gateway.statusInterval });
      for (const d of deviceSpecs(config)) {
        const prev = owner.get(d.id);
        if (prev) throw new GatewayError(ErrorCodes.CONFIG, `device id "${d.id}" is in two gateway configs: ${prev} and ${file}`);
        owner.set(d.id, file);
        devices.push({ ...d, gateway: gid });
      }
    }
  } catch (e) {
    return { ok: false, folder, dir, id, ...problem(e) };
  }
  return { ok: true, folder, dir, id, loaded, policy, gateways, devices };
}

/** Every project folder (sub-folders holding a project.yaml), sorted by folder name; duplicate ids are errors. */
export function loadProjects(projectsDir: string, env: NodeJS.ProcessEnv = process.env): HubProject[] {
  let entries: string[];
  try {
    entries = readdirSync(projectsDir);
  } catch (e) {
    throw new GatewayError(ErrorCodes.CONFIG_READ, `cannot read the projects folder ${projectsDir}: ${(e as Error).message}`, { cause: e });
  }
  const out: HubProject[] = [];
  const seen = new Map<string, string>();
  for (const name of entries.sort()) {
    const dir = join(projectsDir, name);
    if (!statSync(dir).isDirectory()) continue;
    try {
      statSync(join(dir, 'project.yaml'));
    } catch {
      continue;
    }
    const p = loadProjectFolder(dir, env);
    if (p.id !== undefined && seen.has(p.id)) {
      out.push({
        ok: false,
        folder: p.folder,
        dir,
        id: p.id,
        error: `${ErrorCodes.CONFIG}: project id "${p.id}" is also the id of ${seen.get(p.id)}`,
        details: [],
      });
      continue;
    }
    if (p.id !== undefined) seen.set(p.id, dir);
    out.push(p);
  }
  return out;
}
