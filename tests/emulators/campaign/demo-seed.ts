/**
 * Campaign-side sample data matching the Dataverse demo seed (client 1234, recipient list 5678,
 * campaign-management mailings 1001 and 1002, the demo people's addresses), so a reconciliation run
 * in demo mode finds something for every path: an unsubscribe, an autoresponder, a direct reply
 * (REST category `unknown`), and bounces that exceed the threshold (→ outbounce).
 */
import type { SeedData } from './index.js';

export const DEMO_CLIENT_ID = '1234';

export function demoCampaignSeed(now = new Date()): SeedData {
  const ago = (hours: number) => new Date(now.getTime() - hours * 3_600_000).toISOString();
  return {
    clientId: DEMO_CLIENT_ID,
    mailings: [1001, 1002],
    recipientLists: [
      { id: 5678, name: 'Monthly newsletter', description: 'Email newsletter (CRM: Monthly newsletter)', recipients: 4, mediaTypes: ['EMAIL'] },
      { id: 9000, name: 'Test recipients', testList: true, recipients: 1, mediaTypes: ['EMAIL'] },
    ],
    unsubscribes: [
      { recipientId: 'clara.wagner@example.org', recipientListId: 5678, mailingId: 1002, reason: 'no longer interested', created: ago(5), mediaType: 'EMAIL' },
    ],
    responses: [
      { category: 'autoresponder', mailingId: 1001, recipientListId: 5678, recipientId: 'anna.schmidt@example.com', created: ago(30), subject: 'Out of office until Monday', mailId: '1001-5678-anna' },
      { category: 'unknown', mailingId: 1001, recipientListId: 5678, recipientId: 'ben.keller@example.com', created: ago(20), subject: 'Re: Spring Newsletter 2026', mailId: '1001-5678-ben' },
      { category: 'hardbounce', mailingId: 1001, recipientListId: 5678, recipientId: 'david.braun@example.net', created: ago(50) },
      { category: 'hardbounce', mailingId: 1002, recipientListId: 5678, recipientId: 'david.braun@example.net', created: ago(26) },
      { category: 'hardbounce', mailingId: 1002, recipientListId: 5678, recipientId: 'david.braun@example.net', created: ago(2) },
    ],
    bounceThresholds: { hard: 3, soft: 5 },
  };
}
