import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The Dataverse emulator serves HTTPS with a committed test CA. Node reads NODE_EXTRA_CA_CERTS only
// at process start, so set it here: the forked test workers inherit it. The variable takes one
// file, so an existing value (e.g. the system bundle) is combined with the test CA.
const emulatorCa = readFileSync(fileURLToPath(new URL('./tests/emulators/dataverse/certs/ca.pem', import.meta.url)), 'utf8');
const existingCa = process.env.NODE_EXTRA_CA_CERTS;
if (!existingCa || !existsSync(existingCa) || !readFileSync(existingCa, 'utf8').includes(emulatorCa.trim())) {
  const bundle = `${existingCa && existsSync(existingCa) ? `${readFileSync(existingCa, 'utf8').trimEnd()}\n` : ''}${emulatorCa}`;
  const file = join(tmpdir(), `crs-test-ca-${createHash('sha256').update(bundle).digest('hex').slice(0, 16)}.pem`);
  if (!existsSync(file)) {
    writeFileSync(`${file}.${process.pid}`, bundle);
    renameSync(`${file}.${process.pid}`, file);
  }
  process.env.NODE_EXTRA_CA_CERTS = file;
}

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration suites share the machine's PostgreSQL database `test`; each suite uses its own schema.
    fileParallelism: true,
  },
});
