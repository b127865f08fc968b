/**
 * English and German strings of both panels. The language comes from the user's LCID (userlcid
 * query parameter or Xrm user settings): any German LCID (primary language 0x07: 1031, 2055, 3079,
 * 4103, 5127) gives German, everything else English.
 */
export type Lang = 'en' | 'de';

export function langFromLcid(lcid: number | undefined): Lang {
  return lcid !== undefined && Number.isFinite(lcid) && (lcid & 0x3ff) === 0x07 ? 'de' : 'en';
}

const LOCALES: Record<number, string> = { 1031: 'de-DE', 2055: 'de-CH', 3079: 'de-AT', 4103: 'de-LU', 5127: 'de-LI', 1033: 'en-US', 2057: 'en-GB', 3081: 'en-AU', 4105: 'en-CA', 6153: 'en-IE' };

/** BCP 47 locale for Intl formatting. */
export function localeFromLcid(lcid: number | undefined): string {
  if (lcid !== undefined && LOCALES[lcid]) return LOCALES[lcid];
  return langFromLcid(lcid) === 'de' ? 'de-DE' : 'en-US';
}

const en = {
  loading: 'Loading…',
  retry: 'Try again',
  loadMore: 'Load more',
  loadingMore: 'Loading more…',
  errorTitle: 'Something went wrong',
  errorBody: 'The data could not be loaded: {message}',
  forbiddenTitle: 'No permission',
  forbiddenBody: 'You do not have permission to read this data. Ask your administrator for the "Campaign Response Sync Reader" security role.',
  noRecord: 'Save the record first; the data appears once it exists.',
  notAvailable: '—',
  // campaign responses
  responsesTitle: 'Campaign responses',
  responsesEmpty: 'No campaign responses yet.',
  responsesEmptyFiltered: 'No campaign responses in this category.',
  filterLabel: 'Filter by category',
  filterAll: 'All',
  totalsLabel: 'Totals per category',
  totalsResponses: '{count} responses',
  totalsResponsesOne: '1 response',
  totalsEvents: '{count} events',
  totalsEventsOne: '1 event',
  noCampaign: 'No campaign',
  colCategory: 'Category',
  colCount: 'Count',
  colFirst: 'First',
  colLast: 'Last',
  colLink: 'Link',
  colMailing: 'Mailing',
  shownOf: '{shown} shown',
  groupSummary: '{count} responses',
  groupSummaryOne: '1 response',
  // opt-in history
  optinTitle: 'Opt-in history',
  optinEmpty: 'No advertising consents yet.',
  stateOptedIn: 'Opted in',
  stateOptedOut: 'Opted out',
  stateNone: 'No history',
  storedStatus: 'stored status: {stored}',
  since: 'since {date}',
  outbounce: 'Outbounce',
  outbounceSince: 'Outbounce since {date}',
  storedStatusStale: 'The stored status ({stored}) is out of date; the state shown follows the history.',
  client: 'Client',
  channel: 'Channel',
  historyCaption: 'History of {name}, newest first',
  historyEmpty: 'No history entries.',
  colEntryType: 'Entry',
  colOccurredOn: 'Occurred on',
  colSource: 'Source',
  colReason: 'Reason',
  loadMoreHistory: 'Load more history',
  unknownNewsletter: 'Unknown newsletter',
} as const;

export type StringKey = keyof typeof en;

const de: Record<StringKey, string> = {
  loading: 'Wird geladen…',
  retry: 'Erneut versuchen',
  loadMore: 'Weitere laden',
  loadingMore: 'Weitere werden geladen…',
  errorTitle: 'Etwas ist schiefgelaufen',
  errorBody: 'Die Daten konnten nicht geladen werden: {message}',
  forbiddenTitle: 'Keine Berechtigung',
  forbiddenBody: 'Sie haben keine Berechtigung, diese Daten zu lesen. Bitten Sie Ihre Administration um die Sicherheitsrolle „Campaign Response Sync Reader“.',
  noRecord: 'Speichern Sie den Datensatz zuerst; die Daten erscheinen, sobald er existiert.',
  notAvailable: '—',
  responsesTitle: 'Kampagnenreaktionen',
  responsesEmpty: 'Noch keine Kampagnenreaktionen.',
  responsesEmptyFiltered: 'Keine Kampagnenreaktionen in dieser Kategorie.',
  filterLabel: 'Nach Kategorie filtern',
  filterAll: 'Alle',
  totalsLabel: 'Summen je Kategorie',
  totalsResponses: '{count} Reaktionen',
  totalsResponsesOne: '1 Reaktion',
  totalsEvents: '{count} Ereignisse',
  totalsEventsOne: '1 Ereignis',
  noCampaign: 'Keine Kampagne',
  colCategory: 'Kategorie',
  colCount: 'Anzahl',
  colFirst: 'Erstmals',
  colLast: 'Zuletzt',
  colLink: 'Link',
  colMailing: 'Mailing',
  shownOf: '{shown} angezeigt',
  groupSummary: '{count} Reaktionen',
  groupSummaryOne: '1 Reaktion',
  optinTitle: 'Opt-in-Verlauf',
  optinEmpty: 'Noch keine Werbeeinwilligungen.',
  stateOptedIn: 'Eingewilligt',
  stateOptedOut: 'Abgemeldet',
  stateNone: 'Kein Verlauf',
  storedStatus: 'gespeicherter Status: {stored}',
  since: 'seit {date}',
  outbounce: 'Outbounce',
  outbounceSince: 'Outbounce seit {date}',
  storedStatusStale: 'Der gespeicherte Status ({stored}) ist veraltet; der angezeigte Zustand folgt dem Verlauf.',
  client: 'Mandant',
  channel: 'Kanal',
  historyCaption: 'Verlauf von {name}, neueste zuerst',
  historyEmpty: 'Keine Verlaufseinträge.',
  colEntryType: 'Eintrag',
  colOccurredOn: 'Erfolgt am',
  colSource: 'Quelle',
  colReason: 'Grund',
  loadMoreHistory: 'Weiteren Verlauf laden',
  unknownNewsletter: 'Unbekannter Newsletter',
};

const TABLES: Record<Lang, Record<StringKey, string>> = { en, de };

export type Translate = (key: StringKey, vars?: Record<string, string | number>) => string;

export function translator(lang: Lang): Translate {
  const table = TABLES[lang];
  return (key, vars) => table[key].replace(/\{(\w+)\}/g, (m, name: string) => (vars && name in vars ? String(vars[name]) : m));
}
