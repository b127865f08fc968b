/** Sample data for demo mode and tests: fixed ids so a newcomer can follow one person end to end. */
import { CHANNEL, CONSENT_STATUS, ENTRY_SOURCE, ENTRY_TYPE } from '../../../solution/model/index.js';
import type { EmulatorSeed } from './index.js';

export const DEMO_IDS = {
  contactAnna: '1b3a7c1e-0001-4d2a-9c11-000000000001',
  contactBen: '1b3a7c1e-0001-4d2a-9c11-000000000002',
  contactClara: '1b3a7c1e-0001-4d2a-9c11-000000000003',
  leadAnna: '1b3a7c1e-0002-4d2a-9c11-000000000001',
  leadDavid: '1b3a7c1e-0002-4d2a-9c11-000000000002',
  campaignSpring: '1b3a7c1e-0003-4d2a-9c11-000000000001',
  campaignAutumn: '1b3a7c1e-0003-4d2a-9c11-000000000002',
  client1234: '1b3a7c1e-0004-4d2a-9c11-000000000001',
  newsletterEmail: '1b3a7c1e-0005-4d2a-9c11-000000000001',
  newsletterSms: '1b3a7c1e-0005-4d2a-9c11-000000000002',
  mailing1001: '1b3a7c1e-0006-4d2a-9c11-000000000001',
  mailing1002: '1b3a7c1e-0006-4d2a-9c11-000000000002',
  consentAnnaEmail: '1b3a7c1e-0007-4d2a-9c11-000000000001',
  consentBenEmail: '1b3a7c1e-0007-4d2a-9c11-000000000002',
  consentLeadAnnaEmail: '1b3a7c1e-0007-4d2a-9c11-000000000003',
  consentBenSms: '1b3a7c1e-0007-4d2a-9c11-000000000004',
} as const;

/** The email address shared by a contact and a lead (R8: both get the write). */
export const DEMO_SHARED_EMAIL = 'anna.schmidt@example.com';

/** `leads: false` leaves out leads and their consents (for an org without the Lead table). */
export function demoSeed(opts: { leads?: boolean } = {}): EmulatorSeed {
  const seed = fullDemoSeed();
  if (opts.leads !== false) return seed;
  const leadConsents = new Set(seed.crs_advertisingconsent!.filter((c) => c._crs_leadid_value).map((c) => c.crs_advertisingconsentid));
  const { lead: _lead, ...rest } = seed;
  return {
    ...rest,
    crs_advertisingconsent: seed.crs_advertisingconsent!.filter((c) => !leadConsents.has(c.crs_advertisingconsentid)),
    crs_optinhistory: seed.crs_optinhistory!.filter((h) => !leadConsents.has(h._crs_advertisingconsentid_value)),
  };
}

function fullDemoSeed(): EmulatorSeed {
  const I = DEMO_IDS;
  const history = (id: string, consent: string, type: number, source: number, on: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    crs_optinhistoryid: id, crs_name: `${type === ENTRY_TYPE.OptIn ? 'Opt-in' : 'Opt-out'} ${on.slice(0, 10)}`,
    _crs_advertisingconsentid_value: consent, crs_entrytype: type, crs_source: source, crs_occurredon: on, ...extra,
  });
  return {
    contact: [
      { contactid: I.contactAnna, firstname: 'Anna', lastname: 'Schmidt', fullname: 'Anna Schmidt', emailaddress1: DEMO_SHARED_EMAIL },
      { contactid: I.contactBen, firstname: 'Ben', lastname: 'Keller', fullname: 'Ben Keller', emailaddress1: 'ben.keller@example.com' },
      { contactid: I.contactClara, firstname: 'Clara', lastname: 'Wagner', fullname: 'Clara Wagner', emailaddress1: 'clara.wagner@example.org' },
    ],
    lead: [
      { leadid: I.leadAnna, firstname: 'Anna', lastname: 'Schmidt', fullname: 'Anna Schmidt', subject: 'Trade fair contact', emailaddress1: 'Anna.Schmidt@example.com' },
      { leadid: I.leadDavid, firstname: 'David', lastname: 'Braun', fullname: 'David Braun', subject: 'Website enquiry', emailaddress1: 'david.braun@example.net' },
    ],
    campaign: [
      { campaignid: I.campaignSpring, name: 'Spring Newsletter 2026', codename: 'SPRING26' },
      { campaignid: I.campaignAutumn, name: 'Autumn Offers 2026', codename: 'AUTUMN26' },
    ],
    crs_campaignclient: [
      { crs_campaignclientid: I.client1234, crs_name: 'Demo client 1234', crs_clientid: '1234', crs_description: 'Demo Optimizely Campaign client.' },
    ],
    crs_newsletter: [
      { crs_newsletterid: I.newsletterEmail, crs_name: 'Monthly newsletter (email)', _crs_campaignclientid_value: I.client1234, crs_recipientlistid: '5678', crs_channel: CHANNEL.Email },
      { crs_newsletterid: I.newsletterSms, crs_name: 'Offers by SMS', _crs_campaignclientid_value: I.client1234, crs_channel: CHANNEL.SMS },
    ],
    crs_campaignmailing: [
      { crs_campaignmailingid: I.mailing1001, crs_name: 'Spring mailing 1001', crs_mailingid: '1001', _crs_campaignclientid_value: I.client1234, _crs_campaignid_value: I.campaignSpring, _crs_newsletterid_value: I.newsletterEmail },
      { crs_campaignmailingid: I.mailing1002, crs_name: 'Autumn mailing 1002', crs_mailingid: '1002', _crs_campaignclientid_value: I.client1234, _crs_campaignid_value: I.campaignAutumn },
    ],
    crs_advertisingconsent: [
      { crs_advertisingconsentid: I.consentAnnaEmail, crs_name: 'Anna Schmidt – Monthly newsletter', _crs_contactid_value: I.contactAnna, _crs_newsletterid_value: I.newsletterEmail, crs_status: CONSENT_STATUS.OptedIn, crs_statuschangedon: '2026-03-02T08:15:00Z', crs_outbounce: false },
      { crs_advertisingconsentid: I.consentLeadAnnaEmail, crs_name: 'Anna Schmidt (lead) – Monthly newsletter', _crs_leadid_value: I.leadAnna, _crs_newsletterid_value: I.newsletterEmail, crs_status: CONSENT_STATUS.OptedIn, crs_statuschangedon: '2026-04-10T12:00:00Z', crs_outbounce: false },
      { crs_advertisingconsentid: I.consentBenEmail, crs_name: 'Ben Keller – Monthly newsletter', _crs_contactid_value: I.contactBen, _crs_newsletterid_value: I.newsletterEmail, crs_status: CONSENT_STATUS.OptedOut, crs_statuschangedon: '2026-09-18T17:40:00Z', crs_outbounce: false },
      { crs_advertisingconsentid: I.consentBenSms, crs_name: 'Ben Keller – Offers by SMS', _crs_contactid_value: I.contactBen, _crs_newsletterid_value: I.newsletterSms, crs_status: CONSENT_STATUS.OptedIn, crs_statuschangedon: '2026-05-05T09:00:00Z', crs_outbounce: false },
    ],
    crs_optinhistory: [
      history('1b3a7c1e-0008-4d2a-9c11-000000000001', I.consentAnnaEmail, ENTRY_TYPE.OptIn, ENTRY_SOURCE.CampaignDoubleOptIn, '2026-03-02T08:15:00Z'),
      history('1b3a7c1e-0008-4d2a-9c11-000000000002', I.consentLeadAnnaEmail, ENTRY_TYPE.OptIn, ENTRY_SOURCE.Import, '2026-04-10T12:00:00Z'),
      history('1b3a7c1e-0008-4d2a-9c11-000000000003', I.consentBenEmail, ENTRY_TYPE.OptIn, ENTRY_SOURCE.Crm, '2026-01-12T10:30:00Z'),
      history('1b3a7c1e-0008-4d2a-9c11-000000000004', I.consentBenEmail, ENTRY_TYPE.OptOut, ENTRY_SOURCE.CampaignUnsubscribe, '2026-09-18T17:40:00Z', { crs_mailingid: '1001', crs_reason: 'Too many emails' }),
      history('1b3a7c1e-0008-4d2a-9c11-000000000005', I.consentBenSms, ENTRY_TYPE.OptIn, ENTRY_SOURCE.CampaignSingleOptIn, '2026-05-05T09:00:00Z'),
    ],
  };
}
