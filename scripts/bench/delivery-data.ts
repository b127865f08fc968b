/** Synthetic CRM rows and ops for the delivery benchmark (deterministic ids). */
import { DEMO_IDS } from '../../tests/emulators/dataverse/demo-seed.js';
import type { DataverseOp } from '../../service/dataverse/types.js';

export const benchContactId = (n: number): string => `2c000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
export const benchEmail = (n: number): string => `bench.${n}@example.com`;

export function benchContacts(count: number): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, n) => ({
    contactid: benchContactId(n), firstname: 'Bench', lastname: `Person ${n}`, fullname: `Bench Person ${n}`, emailaddress1: benchEmail(n),
  }));
}

/** A campaign response create shaped like the planner's (spec §3): regarding campaign, customer party. */
export function responseCreateOp(n: number, contacts: number): DataverseOp {
  const contact = n % Math.max(1, contacts);
  const id = `3d000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
  return {
    method: 'create',
    entitySet: 'campaignresponses',
    id,
    tag: String(n),
    body: {
      subject: 'Open: Spring mailing 1001',
      category: 'Open',
      channeltypecode: 1,
      receivedon: '2026-11-26T10:00:00Z',
      emailaddress: benchEmail(contact),
      crs_clientid: '1234',
      crs_mailingid: '1001',
      crs_eventcount: 1,
      crs_lastoccurredon: '2026-11-26T10:00:00Z',
      crs_responsekey: `bench|${n}`,
      'regardingobjectid_campaign_campaignresponse@odata.bind': `/campaigns(${DEMO_IDS.campaignSpring})`,
      campaignresponse_activity_parties: [{ participationtypemask: 11, 'partyid_contact@odata.bind': `/contacts(${benchContactId(contact)})` }],
    },
  };
}
