/**
 * The README's "How the code is arranged" table is the rule for imports between folders. This test
 * holds three things to it: the lint rule of each folder in .oxlintrc.json forbids exactly the
 * folders the table does not allow, and every import in the code, static or dynamic (which the lint
 * rule does not see), goes only where the table says.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;
const FOLDERS = ['config', 'adapters', 'ingest', 'verify', 'gateway', 'test'] as const;
type Folder = (typeof FOLDERS)[number];
const SOURCE: readonly Folder[] = ['config', 'adapters', 'ingest', 'verify', 'gateway'];

/** folder → the folders its row allows, read from the README table */
function readmeRules(): Map<Folder, Set<Folder>> {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const at = readme.indexOf('## How the code is arranged');
  expect(at, 'README has the section').toBeGreaterThan(0);
  const section = readme.slice(at, readme.indexOf('\n## ', at + 1));
  const rules = new Map<Folder, Set<Folder>>();
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const folder = /^`([a-z]+)\/`$/.exec(cells[1] ?? '')?.[1] as Folder | undefined;
    if (!folder || !FOLDERS.includes(folder)) continue;
    const may = cells[3] ?? '';
    const allowed = may === 'everything' ? new Set(FOLDERS) : new Set([...may.matchAll(/`([a-z]+)\/`/g)].map((m) => m[1] as Folder));
    if (may !== 'nothing' && may !== 'everything') expect(allowed.size, `${folder}: "${may}" names folders`).toBeGreaterThan(0);
    rules.set(folder, allowed);
  }
  return rules;
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && e.name !== 'static') out.push(...sources(p));
    } else if (/\.(ts|js|mjs)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** the project folders a file imports (relative specifiers, static and dynamic) */
function importedFolders(file: string): Array<{ spec: string; folder: string }> {
  const text = readFileSync(file, 'utf8');
  const out: Array<{ spec: string; folder: string }> = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)'(\.{1,2}\/[^']+)'/g)) {
    const target = relative(root, resolve(dirname(file), m[1]!));
    out.push({ spec: m[1]!, folder: target.split('/')[0]! });
  }
  return out;
}

describe('the import rules of the README', () => {
  const rules = readmeRules();

  it('name every source folder', () => {
    expect([...rules.keys()].sort()).toEqual([...FOLDERS].sort());
  });

  it('are the lint rules of .oxlintrc.json', () => {
    const lint = JSON.parse(readFileSync(join(root, '.oxlintrc.json'), 'utf8')) as {
      overrides: Array<{ files: string[]; rules: Record<string, [string, { patterns: Array<{ group: string[] }> }]> }>;
    };
    for (const folder of SOURCE) {
      const o = lint.overrides.find((x) => x.files.includes(`${folder}/**/*.ts`));
      expect(o, `.oxlintrc.json has an override for ${folder}/`).toBeDefined();
      const [level, opts] = o!.rules['eslint/no-restricted-imports']!;
      expect(level).toBe('error');
      const forbidden = opts.patterns.flatMap((p) => p.group).map((g) => /^\*\*\/([a-z]+)\/\*\*$/.exec(g)?.[1]);
      const expected = FOLDERS.filter((f) => f !== folder && !rules.get(folder)!.has(f));
      expect(forbidden.sort(), `${folder}/ may not import`).toEqual([...expected].sort());
    }
  });

  it('hold for every import in the code, dynamic ones too', () => {
    const broken: string[] = [];
    let checked = 0;
    for (const folder of SOURCE) {
      const allowed = rules.get(folder)!;
      for (const file of sources(join(root, folder))) {
        for (const { spec, folder: to } of importedFolders(file)) {
          checked++;
          if (to !== folder && (FOLDERS as readonly string[]).includes(to) && !allowed.has(to as Folder))
            broken.push(`${relative(root, file)} imports ${spec}`);
        }
      }
    }
    expect(checked, 'the scan found the imports').toBeGreaterThan(400);
    expect(broken).toEqual([]);
  });

  it('the scan sees a dynamic import across a boundary (the check can fail)', () => {
    const file = join(root, 'config', 'x.ts');
    const text = "const m = await import('../adapters/registry.js');";
    const specs = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)'(\.{1,2}\/[^']+)'/g)].map(
      (m) => relative(root, resolve(dirname(file), m[1]!)).split('/')[0],
    );
    expect(specs).toEqual(['adapters']);
  });
});
