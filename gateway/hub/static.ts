/**
 * Where the hub's pages are: plain HTML, JS and CSS under `static/` (no build step, nothing from a
 * CDN: the page works on a closed network). tsc does not copy them into dist/, so from
 * dist/gateway/hub/ this also looks in the source tree (like gateway/dashboard/index.ts). The base
 * styles are the gateway dashboard's style.css, served by the hub too.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const HUB_FILES: Readonly<Record<string, string>> = {
  '/': 'index.html',
  '/hub.js': 'hub.js',
  '/i18n.js': 'i18n.js',
  '/hub.css': 'hub.css',
  '/favicon.svg': 'favicon.svg',
};

export function hubStaticDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [resolve(here, 'static'), resolve(here, '../../../gateway/hub/static')];
  return candidates.find((d) => existsSync(resolve(d, 'index.html'))) ?? candidates[0]!;
}
