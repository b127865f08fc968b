import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, describeVariables } from '../../service/config.js';

/** Rows of the "## Configuration" table in README.md: variable name → default column text. */
function documentedVariables(): Map<string, string> {
  const doc = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = doc.split(/^## /m).find((s) => s.startsWith('Configuration'));
  if (!section) throw new Error('README.md has no "## Configuration" section');
  const rows = new Map<string, string>();
  for (const line of section.split('\n')) {
    const m = /^\|\s*`(CRS_[A-Z0-9_]+)`\s*\|\s*([^|]*)\|/.exec(line);
    if (m) rows.set(m[1]!, m[2]!.trim());
  }
  return rows;
}

describe('README configuration table', () => {
  const documented = documentedVariables();

  it('lists every variable the service reads', () => {
    const missing = Object.keys(CONFIG_VARIABLES).filter((name) => !documented.has(name));
    expect(missing).toEqual([]);
  });

  it('lists no variable the service does not read', () => {
    const unknown = [...documented.keys()].filter((name) => !(name in CONFIG_VARIABLES));
    expect(unknown).toEqual([]);
  });

  it('shows the defaults the code uses', () => {
    for (const v of describeVariables()) {
      const shown = documented.get(v.name);
      expect(shown, v.name).toBe(v.default === undefined ? '—' : `\`${v.default}\``);
    }
  });
});
