/**
 * A fixed mix of Campaign webhook events over the demo seed (every rule involved), and the
 * delivery patterns the exactly-once tests compare: one ordered delivery versus repeated,
 * shuffled batches.
 */
import { DEMO_IDS } from '../emulators/dataverse/demo-seed.js';
import { startDataverseEmulator, demoSeed, type DataverseEmulator, type DataverseEmulatorOptions } from '../emulators/dataverse/index.js';
import { postEvents, type ServiceProcess } from './service.js';

/** Deterministic PRNG (mulberry32) so a failing shuffle can be reproduced from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type RawEvent = Record<string, unknown> & { timestamp: string };

/** ~70 events: repeated opens/clicks, replies, unsubscribes, opt-ins older and newer, bounces, outbounce, noise. */
export function scenarioEvents(): RawEvent[] {
  const people = ['anna.schmidt@example.com', 'ben.keller@example.com', 'clara.wagner@example.org', 'david.braun@example.net'];
  const events: RawEvent[] = [];
  let minute = 0;
  const at = () => new Date(Date.UTC(2026, 10, 1, 8, 0, 0) + (minute++) * 60_000 + 250).toISOString();
  const add = (e: Record<string, unknown>) => events.push({ id: `sc-${events.length}`, ...e, timestamp: at() });
  for (let round = 0; round < 3; round++) {
    for (const p of people) {
      add({ type: 'open', mailingId: '1001', recipientId: p });
      add({ type: 'click', mailingId: round % 2 ? '1002' : '1001', recipientId: p, url: `https://shop.example/${round % 2 ? 'b' : 'a'}?utm=${p.length}` });
      if (round === 1) add({ type: 'reply', mailingId: '1001', recipientId: p });
      if (round === 2) add({ type: 'autoresponder', mailingId: '1002', recipientId: p });
      add({ type: 'open', mailingId: '7777', recipientId: p }); // R2: ignored
    }
  }
  add({ type: 'unsubscribe', mailingId: '1001', recipientListId: '5678', recipientId: people[0], reason: 'too many' });
  add({ type: 'doubleoptin', recipientListId: '5678', recipientId: people[0] });
  add({ type: 'unsubscribe', mailingId: '1002', recipientId: people[3] }); // every newsletter of the client
  add({ type: 'singleoptin', recipientListId: '5678', recipientId: people[2] });
  add({ type: 'spamcomplaint', recipientListId: '5678', recipientId: people[2], crmEntityType: 'contact', crmEntityId: DEMO_IDS.contactClara });
  add({ type: 'confirmedoptin', recipientListId: '5678', recipientId: people[1] });
  add({ type: 'bounce', category: 'hardbounce', mailingId: '1001', recipientId: people[2] });
  add({ type: 'bounce', category: 'hardbounce', mailingId: '1002', recipientId: people[2] });
  add({ type: 'bounce', category: 'hardbounce', mailingId: '7777', recipientId: people[2] });
  add({ type: 'bounce', category: 'softbounce', mailingId: '1001', recipientId: people[1] });
  add({ type: 'outbounce', recipientId: people[0] });
  add({ type: 'sent', mailingId: '1001', recipientId: people[1] });
  add({ type: 'open', mailingId: '1001', recipientId: 'nobody@example.com' }); // R8: unmatched
  // Events without an id: deduplicated by their natural key (R9).
  events.push({ type: 'open', mailingId: '1001', recipientId: people[1], timestamp: at() });
  events.push({ type: 'unsubscribe', mailingId: '1001', recipientId: people[1], recipientListId: '5678', timestamp: at() });
  return events;
}

export const SCENARIO_UNMATCHED = 1;

export async function startScenarioEmulator(opts: DataverseEmulatorOptions = {}): Promise<DataverseEmulator> {
  return startDataverseEmulator({ seed: demoSeed(), ...opts });
}

/** One ordered delivery: oldest first, a few events per request, one request after the other. */
export async function deliverOrdered(service: ServiceProcess, events: RawEvent[], perRequest = 5): Promise<void> {
  const ordered = [...events].sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
  for (let i = 0; i < ordered.length; i += perRequest) await postEvents(service, '1234', ordered.slice(i, i + perRequest));
}

/** `copies` deliveries of every event, shuffled, in random batches of 1–8, a few requests at once. */
export async function deliverShuffled(services: ServiceProcess[], events: RawEvent[], copies: number, seed: number): Promise<void> {
  const random = prng(seed);
  const all = Array.from({ length: copies }, () => events).flat();
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  const batches: RawEvent[][] = [];
  for (let i = 0; i < all.length;) {
    const n = 1 + Math.floor(random() * 8);
    batches.push(all.slice(i, i + n));
    i += n;
  }
  for (let i = 0; i < batches.length; i += 3) {
    await Promise.all(batches.slice(i, i + 3).map((b, k) => postEvents(services[(i + k) % services.length]!, '1234', b)));
  }
}
