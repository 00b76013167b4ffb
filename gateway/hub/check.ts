/** What `fgw check --hub` and `fgw hub` find wrong (errors) or suspicious (warnings) in a loaded hub config and its project folders. */
import { loadProjects, type HubProject, type LoadedHub } from './config.js';

export function checkHub(loaded: LoadedHub): { errors: string[]; warnings: string[]; summary: string; projects: HubProject[] } {
  const projects = loadProjects(loaded.projectsDir);
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const p of projects) {
    if (!p.ok) {
      errors.push(`${p.dir}: ${p.error}`);
      for (const d of p.details) errors.push(`  ${d}`);
    }
  }
  const ids = new Set(projects.map((p) => p.id).filter((x): x is string => x !== undefined));
  loaded.config.http.tokens.forEach((t, i) => {
    for (const id of t.projects ?? []) if (!ids.has(id)) warnings.push(`http.tokens[${i}].projects: no project "${id}" in ${loaded.projectsDir} (yet)`);
  });
  if (projects.length === 0) warnings.push(`projects: no project folder (a sub-folder with project.yaml) in ${loaded.projectsDir}`);
  const ok = projects.filter((p) => p.ok);
  const gateways = ok.reduce((n, p) => n + (p.ok ? p.gateways.length : 0), 0);
  const devices = ok.reduce((n, p) => n + (p.ok ? p.devices.length : 0), 0);
  const summary = `ok: ${loaded.path}: hub ${loaded.config.hub.id}, ${projects.length} project(s) in ${loaded.projectsDir} (${gateways} gateways, ${devices} devices), ${loaded.config.http.tokens.length} token(s); reading ${loaded.config.influx.url} db ${loaded.config.influx.database}`;
  return { errors, warnings, summary, projects };
}
