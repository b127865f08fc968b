/**
 * The Power Apps checker rules (@microsoft/eslint-plugin-power-apps, flat config block in
 * eslint.config.js) run on the web resources with zero errors — and are really switched on.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('web resources lint', () => {
  const eslint = new ESLint({ cwd: ROOT });

  it('has every Power Apps checker rule enabled as an error for webresources/src', async () => {
    const config = (await eslint.calculateConfigForFile(path.join(ROOT, 'webresources/src/shared/dom.ts'))) as { rules: Record<string, unknown> };
    const powerAppsRules = Object.entries(config.rules).filter(([name]) => name.startsWith('@microsoft/power-apps/'));
    expect(powerAppsRules.length).toBeGreaterThanOrEqual(20);
    for (const [, setting] of powerAppsRules) expect([2, 'error', [2]]).toContainEqual(Array.isArray(setting) ? [setting[0]] : setting);
  });

  it('reports checker violations in web resource code (the rules fire)', async () => {
    const [result] = await eslint.lintText('export function f(): unknown {\n  const w = window.top;\n  return Xrm.Page.getAttribute("name");\n}\n', {
      filePath: path.join(ROOT, 'webresources/src/probe.ts'),
    });
    const ids = result!.messages.map((m) => m.ruleId);
    expect(ids).toContain('@microsoft/power-apps/avoid-window-top');
    expect(ids).toContain('@microsoft/power-apps/use-client-context');
  });

  it('finds zero errors in webresources/', async () => {
    const results = await eslint.lintFiles(['webresources']);
    const errors = results.flatMap((r) => r.messages.filter((m) => m.severity === 2).map((m) => `${path.relative(ROOT, r.filePath)}:${m.line} ${m.ruleId} ${m.message}`));
    expect(errors).toEqual([]);
    expect(results.some((r) => r.filePath.endsWith(path.join('shared', 'data-client.ts')))).toBe(true);
  });
});
