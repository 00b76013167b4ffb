/**
 * Where the dashboard's static files are. They are plain HTML, JS and CSS under `static/` (no build
 * step, nothing from a CDN: the page must work on an offline factory network). tsc does not copy
 * them into dist/, so from dist/gateway/dashboard/ this also looks in the source tree.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const DASHBOARD_FILES: Readonly<Record<string, string>> = {
  '/': 'index.html',
  '/app.js': 'app.js',
  '/i18n.js': 'i18n.js',
  '/style.css': 'style.css',
  '/favicon.svg': 'favicon.svg',
};

export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};

export function dashboardDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [resolve(here, 'static'), resolve(here, '../../../gateway/dashboard/static')];
  return candidates.find((d) => existsSync(resolve(d, 'index.html'))) ?? candidates[0]!;
}
