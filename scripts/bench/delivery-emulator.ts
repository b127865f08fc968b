/**
 * Child process of `npm run bench:delivery`: runs the Dataverse emulator on its own core so the
 * benchmark measures the client, not the emulator competing with it for one event loop.
 * argv[2] = JSON DataverseEmulatorOptions (plus `contacts`: how many contacts to seed).
 * Prints one JSON line with the connection details, then answers IPC requests:
 *   { cmd: 'count', table }       → { count }
 *   { cmd: 'journal' }            → { entries }
 *   { cmd: 'reset' }              → { ok }
 */
import { demoSeed, startDataverseEmulator, type DataverseEmulatorOptions } from '../../tests/emulators/dataverse/index.js';
import { benchContacts } from './delivery-data.js';

const options = JSON.parse(process.argv[2] ?? '{}') as DataverseEmulatorOptions & { contacts?: number };
const seed = demoSeed();
seed.contact = [...(seed.contact ?? []), ...benchContacts(options.contacts ?? 0)];
const emulator = await startDataverseEmulator({ ...options, seed, journalLimit: 1_000_000 });

process.on('message', (raw) => {
  const message = raw as { id: number; cmd: string; table?: string };
  let answer: Record<string, unknown>;
  switch (message.cmd) {
    case 'count':
      answer = { count: emulator.rows(message.table ?? '').length };
      break;
    case 'journal':
      answer = { entries: emulator.journal() };
      break;
    case 'reset':
      emulator.reset();
      answer = { ok: true };
      break;
    default:
      answer = { error: `unknown command ${message.cmd}` };
  }
  process.send?.({ id: message.id, ...answer });
});

const stop = (): void => {
  void emulator.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('disconnect', stop);

process.stdout.write(`${JSON.stringify({
  url: emulator.url, authorityHost: emulator.authorityHost, tenantId: emulator.tenantId,
  clientId: emulator.clientId, clientSecret: emulator.clientSecret, caCertPath: emulator.caCertPath,
})}\n`);
