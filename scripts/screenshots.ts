/**
 * `npm run screenshots`: renders both panels with the sample fixtures in Debian chromium (the same
 * harness as the browser tests: built web resources, strict CSP, fake form) and writes PNGs to
 * docs/screenshots/ — English and German in the light theme, and both panels dark.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openPanel, startHarness, type Scenario } from '../tests/browser/harness.js';
import { PERSON_ID, sampleConsents, sampleResponses } from '../tests/browser/fixtures/data.js';

const OUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'screenshots');

interface Shot {
  file: string;
  panel: Scenario['panel'];
  lcid: number;
  theme: 'light' | 'dark';
}

const SHOTS: Shot[] = [
  { file: 'campaignresponses-en-light.png', panel: 'campaignresponses', lcid: 1033, theme: 'light' },
  { file: 'campaignresponses-de-light.png', panel: 'campaignresponses', lcid: 1031, theme: 'light' },
  { file: 'campaignresponses-en-dark.png', panel: 'campaignresponses', lcid: 1033, theme: 'dark' },
  { file: 'optinhistory-en-light.png', panel: 'optinhistory', lcid: 1033, theme: 'light' },
  { file: 'optinhistory-de-light.png', panel: 'optinhistory', lcid: 1031, theme: 'light' },
  { file: 'optinhistory-en-dark.png', panel: 'optinhistory', lcid: 1033, theme: 'dark' },
];

async function main(): Promise<void> {
  await mkdir(OUT, { recursive: true });
  const harness = await startHarness();
  try {
    for (const shot of SHOTS) {
      const rows = shot.panel === 'campaignresponses' ? sampleResponses() : sampleConsents();
      const { page, frame } = await openPanel(
        harness,
        { panel: shot.panel, recordId: PERSON_ID, lcid: shot.lcid, inject: true, parentXrm: true, rows, data: `theme=${shot.theme}` },
        { colorScheme: shot.theme, viewport: { width: 960, height: 1000 } },
      );
      await frame.locator(shot.panel === 'campaignresponses' ? 'tr[data-response]' : 'article').first().waitFor();
      const file = path.join(OUT, shot.file);
      await frame.locator('body').screenshot({ path: file, animations: 'disabled' });
      await page.close();
      console.log(`wrote ${path.relative(process.cwd(), file)}`);
    }
  } finally {
    await harness.close();
  }
}

main().catch((err: unknown) => {
  console.error(`screenshots failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
