/**
 * The Dataverse schema of Campaign Response Sync (spec §3) — the single source of truth for
 * table and column names, types, lengths, choices, lookups and alternate keys.
 */
import type { ChoiceOption, ColumnDef, PlatformTableDef, TableDef } from './types.js';

export const PUBLISHER = {
  uniqueName: 'campaignresponsesync',
  displayName: 'Campaign Response Sync',
  prefix: 'crs',
  optionValuePrefix: 58300,
} as const;

export const SOLUTION_UNIQUE_NAME = 'CampaignResponseSync';

// ---- choices -------------------------------------------------------------------------------

export const CHANNEL = { Email: 583000000, SMS: 583000001, Print: 583000002 } as const;
export const CONSENT_STATUS = { OptedIn: 583000000, OptedOut: 583000001 } as const;
export const ENTRY_TYPE = { OptIn: 583000000, OptOut: 583000001 } as const;
export const ENTRY_SOURCE = {
  CampaignUnsubscribe: 583000000,
  CampaignSpamComplaint: 583000001,
  CampaignSingleOptIn: 583000002,
  CampaignConfirmedOptIn: 583000003,
  CampaignDoubleOptIn: 583000004,
  Crm: 583000005,
  Import: 583000006,
} as const;

/** The five values of campaignresponse.category (a text column; spec §1 "response categories"). */
export const RESPONSE_CATEGORIES = [
  { value: 'Open', labelDe: 'Öffnung' },
  { value: 'Click', labelDe: 'Klick' },
  { value: 'Reply', labelDe: 'Antwort' },
  { value: 'Autoresponder', labelDe: 'Autoresponder' },
  { value: 'Unsubscription', labelDe: 'Abmeldung' },
] as const;
export type ResponseCategory = (typeof RESPONSE_CATEGORIES)[number]['value'];

const channelOptions: ChoiceOption[] = [
  { value: CHANNEL.Email, label: 'Email', labelDe: 'E-Mail' },
  { value: CHANNEL.SMS, label: 'SMS', labelDe: 'SMS' },
  { value: CHANNEL.Print, label: 'Print', labelDe: 'Print' },
];
const statusOptions: ChoiceOption[] = [
  { value: CONSENT_STATUS.OptedIn, label: 'Opted in', labelDe: 'Eingewilligt' },
  { value: CONSENT_STATUS.OptedOut, label: 'Opted out', labelDe: 'Abgemeldet' },
];
const entryTypeOptions: ChoiceOption[] = [
  { value: ENTRY_TYPE.OptIn, label: 'Opt-in', labelDe: 'Opt-in' },
  { value: ENTRY_TYPE.OptOut, label: 'Opt-out', labelDe: 'Opt-out' },
];
const sourceOptions: ChoiceOption[] = [
  { value: ENTRY_SOURCE.CampaignUnsubscribe, label: 'Campaign unsubscribe', labelDe: 'Campaign-Abmeldung' },
  { value: ENTRY_SOURCE.CampaignSpamComplaint, label: 'Campaign spam complaint', labelDe: 'Campaign-Spam-Beschwerde' },
  { value: ENTRY_SOURCE.CampaignSingleOptIn, label: 'Campaign single opt-in', labelDe: 'Campaign Single-Opt-in' },
  { value: ENTRY_SOURCE.CampaignConfirmedOptIn, label: 'Campaign confirmed opt-in', labelDe: 'Campaign Confirmed-Opt-in' },
  { value: ENTRY_SOURCE.CampaignDoubleOptIn, label: 'Campaign double opt-in', labelDe: 'Campaign Double-Opt-in' },
  { value: ENTRY_SOURCE.Crm, label: 'CRM', labelDe: 'CRM' },
  { value: ENTRY_SOURCE.Import, label: 'Import', labelDe: 'Import' },
];

// ---- column helpers ------------------------------------------------------------------------

function name(displayName: string, displayNameDe: string): ColumnDef {
  return {
    logicalName: 'crs_name', type: 'text', maxLength: 200, required: true,
    displayName, displayNameDe, description: 'Primary name of the row.',
  };
}
function pk(logicalName: string): ColumnDef {
  return { logicalName, type: 'primarykey', displayName: 'Id', displayNameDe: 'ID', description: 'Unique identifier of the row.' };
}
function lookup(logicalName: string, target: string, relationshipName: string, displayName: string, displayNameDe: string, description: string, required = false): ColumnDef {
  return { logicalName, type: 'lookup', targets: [target], relationshipName, displayName, displayNameDe, description, required };
}

// ---- custom tables ---------------------------------------------------------------------------

export const campaignClient: TableDef = {
  logicalName: 'crs_campaignclient', schemaName: 'crs_CampaignClient', entitySetName: 'crs_campaignclients',
  displayName: 'Campaign Client', displayNameDe: 'Campaign-Mandant',
  pluralDisplayName: 'Campaign Clients', pluralDisplayNameDe: 'Campaign-Mandanten',
  description: 'An Optimizely Campaign client (Mandant) connected to this CRM.',
  primaryIdAttribute: 'crs_campaignclientid', primaryNameAttribute: 'crs_name', ownership: 'OrganizationOwned',
  columns: [
    pk('crs_campaignclientid'),
    name('Name', 'Name'),
    { logicalName: 'crs_clientid', type: 'text', maxLength: 20, required: true, displayName: 'Client ID', displayNameDe: 'Mandanten-ID', description: 'Numeric Optimizely Campaign client ID.' },
    { logicalName: 'crs_description', type: 'memo', maxLength: 2000, displayName: 'Description', displayNameDe: 'Beschreibung', description: 'Free text about the client.' },
  ],
  alternateKeys: [{ logicalName: 'crs_clientid_key', displayName: 'Client ID', columns: ['crs_clientid'] }],
};

export const newsletter: TableDef = {
  logicalName: 'crs_newsletter', schemaName: 'crs_Newsletter', entitySetName: 'crs_newsletters',
  displayName: 'Newsletter', displayNameDe: 'Newsletter',
  pluralDisplayName: 'Newsletters', pluralDisplayNameDe: 'Newsletter',
  description: 'One kind of advertising consent, linked to one Campaign client, recipient list and channel.',
  primaryIdAttribute: 'crs_newsletterid', primaryNameAttribute: 'crs_name', ownership: 'OrganizationOwned',
  columns: [
    pk('crs_newsletterid'),
    name('Name', 'Name'),
    lookup('crs_campaignclientid', 'crs_campaignclient', 'crs_campaignclient_crs_newsletter', 'Campaign Client', 'Campaign-Mandant', 'The Campaign client this newsletter belongs to.', true),
    { logicalName: 'crs_recipientlistid', type: 'text', maxLength: 20, displayName: 'Recipient List ID', displayNameDe: 'Empfängerlisten-ID', description: 'Campaign recipient list ID of this newsletter.' },
    { logicalName: 'crs_channel', type: 'choice', options: channelOptions, defaultValue: CHANNEL.Email, required: true, displayName: 'Channel', displayNameDe: 'Kanal', description: 'Channel of the newsletter.' },
  ],
  alternateKeys: [],
};

export const advertisingConsent: TableDef = {
  logicalName: 'crs_advertisingconsent', schemaName: 'crs_AdvertisingConsent', entitySetName: 'crs_advertisingconsents',
  displayName: 'Advertising Consent', displayNameDe: 'Werbeeinwilligung',
  pluralDisplayName: 'Advertising Consents', pluralDisplayNameDe: 'Werbeeinwilligungen',
  description: "One contact's or lead's consent for one newsletter.",
  primaryIdAttribute: 'crs_advertisingconsentid', primaryNameAttribute: 'crs_name', ownership: 'OrganizationOwned',
  columns: [
    pk('crs_advertisingconsentid'),
    name('Name', 'Name'),
    lookup('crs_contactid', 'contact', 'crs_contact_crs_advertisingconsent', 'Contact', 'Kontakt', 'The contact who gave the consent (exactly one of contact or lead is set).'),
    lookup('crs_leadid', 'lead', 'crs_lead_crs_advertisingconsent', 'Lead', 'Lead', 'The lead who gave the consent (exactly one of contact or lead is set).'),
    lookup('crs_newsletterid', 'crs_newsletter', 'crs_newsletter_crs_advertisingconsent', 'Newsletter', 'Newsletter', 'The newsletter the consent is for.', true),
    { logicalName: 'crs_status', type: 'choice', options: statusOptions, defaultValue: CONSENT_STATUS.OptedIn, displayName: 'Status', displayNameDe: 'Status', description: 'Current state: the latest opt-in history entry (opt-out wins ties).' },
    { logicalName: 'crs_statuschangedon', type: 'datetime', displayName: 'Status Changed On', displayNameDe: 'Status geändert am', description: 'Time of the history entry that decides the status.' },
    { logicalName: 'crs_outbounce', type: 'boolean', defaultValue: false, displayName: 'Outbounce', displayNameDe: 'Outbounce', description: 'Campaign reported the email address as unreachable.' },
    { logicalName: 'crs_outbounceon', type: 'datetime', displayName: 'Outbounce On', displayNameDe: 'Outbounce am', description: 'When the outbounce was reported.' },
  ],
  alternateKeys: [],
};

export const optInHistory: TableDef = {
  logicalName: 'crs_optinhistory', schemaName: 'crs_OptInHistory', entitySetName: 'crs_optinhistories',
  displayName: 'Opt-in History Entry', displayNameDe: 'Opt-in-Verlaufseintrag',
  pluralDisplayName: 'Opt-in History', pluralDisplayNameDe: 'Opt-in-Verlauf',
  description: 'An append-only opt-in or opt-out entry of an advertising consent.',
  primaryIdAttribute: 'crs_optinhistoryid', primaryNameAttribute: 'crs_name', ownership: 'OrganizationOwned',
  columns: [
    pk('crs_optinhistoryid'),
    name('Name', 'Name'),
    lookup('crs_advertisingconsentid', 'crs_advertisingconsent', 'crs_advertisingconsent_crs_optinhistory', 'Advertising Consent', 'Werbeeinwilligung', 'The consent this entry belongs to.', true),
    { logicalName: 'crs_entrytype', type: 'choice', options: entryTypeOptions, required: true, displayName: 'Entry Type', displayNameDe: 'Eintragsart', description: 'Opt-in or opt-out.' },
    { logicalName: 'crs_occurredon', type: 'datetime', required: true, displayName: 'Occurred On', displayNameDe: 'Erfolgt am', description: 'When the opt-in or opt-out happened.' },
    { logicalName: 'crs_source', type: 'choice', options: sourceOptions, displayName: 'Source', displayNameDe: 'Quelle', description: 'Where the entry came from.' },
    { logicalName: 'crs_mailingid', type: 'text', maxLength: 20, displayName: 'Mailing ID', displayNameDe: 'Mailing-ID', description: 'Campaign mailing that caused the entry.' },
    { logicalName: 'crs_reason', type: 'text', maxLength: 400, displayName: 'Reason', displayNameDe: 'Grund', description: 'Reason given (e.g. unsubscribe reason).' },
    { logicalName: 'crs_sourceeventid', type: 'text', maxLength: 100, displayName: 'Source Event ID', displayNameDe: 'Quellereignis-ID', description: 'Id or natural key of the Campaign event.' },
  ],
  alternateKeys: [],
};

export const campaignMailing: TableDef = {
  logicalName: 'crs_campaignmailing', schemaName: 'crs_CampaignMailing', entitySetName: 'crs_campaignmailings',
  displayName: 'Campaign Mailing', displayNameDe: 'Campaign-Mailing',
  pluralDisplayName: 'Campaign Mailings', pluralDisplayNameDe: 'Campaign-Mailings',
  description: 'A Campaign mailing sent for a CRM campaign (campaign management).',
  primaryIdAttribute: 'crs_campaignmailingid', primaryNameAttribute: 'crs_name', ownership: 'OrganizationOwned',
  columns: [
    pk('crs_campaignmailingid'),
    name('Name', 'Name'),
    { logicalName: 'crs_mailingid', type: 'text', maxLength: 20, required: true, displayName: 'Mailing ID', displayNameDe: 'Mailing-ID', description: 'Numeric Campaign mailing ID.' },
    lookup('crs_campaignclientid', 'crs_campaignclient', 'crs_campaignclient_crs_campaignmailing', 'Campaign Client', 'Campaign-Mandant', 'The Campaign client that sent the mailing.', true),
    lookup('crs_campaignid', 'campaign', 'crs_campaign_crs_campaignmailing', 'Campaign', 'Kampagne', 'The CRM campaign the mailing was sent for.', true),
    lookup('crs_newsletterid', 'crs_newsletter', 'crs_newsletter_crs_campaignmailing', 'Newsletter', 'Newsletter', 'The newsletter of the mailing (optional).'),
  ],
  alternateKeys: [{ logicalName: 'crs_client_mailing_key', displayName: 'Client and Mailing ID', columns: ['crs_campaignclientid', 'crs_mailingid'] }],
};

/** The five custom tables, in dependency order. */
export const customTables: readonly TableDef[] = [campaignClient, newsletter, campaignMailing, advertisingConsent, optInHistory];

// ---- platform tables (the parts the product touches) -----------------------------------------

const campaignResponseAdded: ColumnDef[] = [
  { logicalName: 'crs_clientid', type: 'text', maxLength: 20, displayName: 'Campaign Client ID', displayNameDe: 'Campaign-Mandanten-ID', description: 'Optimizely Campaign client ID.' },
  { logicalName: 'crs_mailingid', type: 'text', maxLength: 20, displayName: 'Campaign Mailing ID', displayNameDe: 'Campaign-Mailing-ID', description: 'Optimizely Campaign mailing ID.' },
  { logicalName: 'crs_eventcount', type: 'integer', displayName: 'Event Count', displayNameDe: 'Anzahl Ereignisse', description: 'Distinct Campaign events aggregated in this response.' },
  { logicalName: 'crs_lastoccurredon', type: 'datetime', displayName: 'Last Occurred On', displayNameDe: 'Zuletzt erfolgt am', description: 'Latest event aggregated in this response.' },
  { logicalName: 'crs_linkurl', type: 'memo', maxLength: 2000, displayName: 'Link URL', displayNameDe: 'Link-URL', description: 'Clicked link (clicks only).' },
  { logicalName: 'crs_responsekey', type: 'text', maxLength: 100, displayName: 'Response Key', displayNameDe: 'Antwortschlüssel', description: 'Natural key of the response (client, mailing, person, category, link).' },
];

function platformText(logicalName: string, maxLength: number, displayName: string): ColumnDef {
  return { logicalName, type: 'text', maxLength, displayName, displayNameDe: displayName, description: displayName };
}

export const contact: PlatformTableDef = {
  logicalName: 'contact', schemaName: 'Contact', entitySetName: 'contacts', objectTypeCode: 2,
  displayName: 'Contact', displayNameDe: 'Kontakt', pluralDisplayName: 'Contacts', pluralDisplayNameDe: 'Kontakte',
  description: 'Person with whom a business unit has a relationship.',
  primaryIdAttribute: 'contactid', primaryNameAttribute: 'fullname', ownership: 'UserOwned',
  columns: [
    pk('contactid'),
    platformText('fullname', 160, 'Full Name'),
    platformText('firstname', 50, 'First Name'),
    platformText('lastname', 50, 'Last Name'),
    platformText('emailaddress1', 100, 'Email'),
  ],
  addedColumns: [],
  alternateKeys: [],
};

export const lead: PlatformTableDef = {
  logicalName: 'lead', schemaName: 'Lead', entitySetName: 'leads', objectTypeCode: 4,
  displayName: 'Lead', displayNameDe: 'Lead', pluralDisplayName: 'Leads', pluralDisplayNameDe: 'Leads',
  description: 'Prospect or potential sales opportunity.',
  primaryIdAttribute: 'leadid', primaryNameAttribute: 'fullname', ownership: 'UserOwned',
  columns: [
    pk('leadid'),
    platformText('fullname', 160, 'Name'),
    platformText('firstname', 50, 'First Name'),
    platformText('lastname', 50, 'Last Name'),
    platformText('subject', 300, 'Topic'),
    platformText('emailaddress1', 100, 'Email'),
  ],
  addedColumns: [],
  alternateKeys: [],
};

export const campaign: PlatformTableDef = {
  logicalName: 'campaign', schemaName: 'Campaign', entitySetName: 'campaigns', objectTypeCode: 4400,
  displayName: 'Campaign', displayNameDe: 'Kampagne', pluralDisplayName: 'Campaigns', pluralDisplayNameDe: 'Kampagnen',
  description: 'Container for campaign activities and responses.',
  primaryIdAttribute: 'campaignid', primaryNameAttribute: 'name', ownership: 'UserOwned',
  columns: [pk('campaignid'), platformText('name', 128, 'Name'), platformText('codename', 32, 'Campaign Code')],
  addedColumns: [],
  alternateKeys: [],
};

export const campaignResponse: PlatformTableDef = {
  logicalName: 'campaignresponse', schemaName: 'CampaignResponse', entitySetName: 'campaignresponses', objectTypeCode: 4401,
  isActivity: true,
  displayName: 'Campaign Response', displayNameDe: 'Kampagnenreaktion',
  pluralDisplayName: 'Campaign Responses', pluralDisplayNameDe: 'Kampagnenreaktionen',
  description: 'Response from an existing or a potential new customer for a campaign.',
  primaryIdAttribute: 'activityid', primaryNameAttribute: 'subject', ownership: 'UserOwned',
  columns: [
    pk('activityid'),
    platformText('subject', 200, 'Subject'),
    platformText('category', 250, 'Category'),
    platformText('subcategory', 250, 'Sub-Category'),
    { logicalName: 'channeltypecode', type: 'choice', displayName: 'Channel', displayNameDe: 'Kanal', description: 'Channel of the response.',
      options: [
        { value: 1, label: 'Email', labelDe: 'E-Mail' }, { value: 2, label: 'Phone', labelDe: 'Telefon' },
        { value: 3, label: 'Fax', labelDe: 'Fax' }, { value: 4, label: 'Letter', labelDe: 'Brief' },
        { value: 5, label: 'Appointment', labelDe: 'Termin' }, { value: 6, label: 'Others', labelDe: 'Sonstige' },
      ] },
    { logicalName: 'responsecode', type: 'choice', displayName: 'Response Code', displayNameDe: 'Antwortcode', description: 'Response code.',
      options: [
        { value: 1, label: 'Interested', labelDe: 'Interessiert' }, { value: 2, label: 'Not Interested', labelDe: 'Nicht interessiert' },
        { value: 3, label: 'Do Not Send Marketing Materials', labelDe: 'Keine Marketingmaterialien senden' }, { value: 4, label: 'Error', labelDe: 'Fehler' },
      ] },
    { logicalName: 'receivedon', type: 'datetime', displayName: 'Received On', displayNameDe: 'Empfangen am', description: 'When the response was received.' },
    platformText('emailaddress', 100, 'Email'),
    { logicalName: 'regardingobjectid', type: 'lookup', targets: ['campaign'], relationshipName: 'Campaign_CampaignResponses', validForUpdate: false,
      displayName: 'Parent Campaign', displayNameDe: 'Übergeordnete Kampagne', description: 'The campaign the response belongs to.' },
    ...campaignResponseAdded,
  ],
  addedColumns: campaignResponseAdded,
  alternateKeys: [],
};

export const platformTables: readonly PlatformTableDef[] = [contact, lead, campaign, campaignResponse];

export const allTables: readonly TableDef[] = [...customTables, ...platformTables];

export function tableByLogicalName(logicalName: string): TableDef {
  const t = allTables.find((x) => x.logicalName === logicalName);
  if (!t) throw new Error(`unknown table ${logicalName}`);
  return t;
}

export function column(table: TableDef, logicalName: string): ColumnDef {
  const c = table.columns.find((x) => x.logicalName === logicalName);
  if (!c) throw new Error(`unknown column ${table.logicalName}.${logicalName}`);
  return c;
}

/** Maximum length of a text/memo column, for cutting values to fit (spec §4: cut, never reject). */
export function maxLengthOf(table: TableDef, logicalName: string): number {
  const len = column(table, logicalName).maxLength;
  if (len === undefined) throw new Error(`${table.logicalName}.${logicalName} has no max length`);
  return len;
}
