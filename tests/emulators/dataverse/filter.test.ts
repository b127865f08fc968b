import { describe, expect, it } from 'vitest';
import { badRequest } from './errors.js';
import { checkFilter, evaluate, parseFilter, type CollectionResolver, type CollectionTypeResolver, type Resolver, type TypeResolver } from './filter.js';
import type { EdmType } from './schema.js';
import { parsePrefer, parseResourcePath } from './query.js';

const COLUMNS: Record<string, EdmType> = {
  name: 'Edm.String', email: 'Edm.String', count: 'Edm.Int32', flag: 'Edm.Boolean', on: 'Edm.DateTimeOffset', _ref_value: 'Edm.Guid', missing: 'Edm.String',
};
const ROW: Record<string, unknown> = {
  name: "O'Brien Ltd", email: 'Sales@Example.com', count: 5, flag: true, on: '2026-03-14T09:12:00Z', _ref_value: '0f8fad5b-d9cb-469f-a165-70867728950e', missing: null,
};
const types = (p: string[]): EdmType => {
  const t = COLUMNS[p.join('/')];
  if (!t) throw new Error(`unknown ${p.join('/')}`);
  return t;
};
const resolve: Resolver = (p) => ({ value: ROW[p.join('/')] ?? null, edm: types(p) });
const matches = (f: string): boolean => {
  const n = parseFilter(f);
  checkFilter(n, types);
  return evaluate(n, resolve);
};

describe('$filter evaluation (table-driven)', () => {
  const cases: [string, boolean][] = [
    ["name eq 'O''Brien Ltd'", true],
    ["name eq 'o''brien ltd'", true], // case-insensitive
    ["name ne 'x'", true],
    ['count gt 4', true], ['count ge 5', true], ['count lt 5', false], ['count le 5', true],
    ['count eq 5 and flag eq true', true],
    ['count eq 6 or flag eq false', false],
    ['not (count eq 6)', true],
    ['(count eq 6 or count eq 5) and not flag eq false', true],
    ["contains(email,'example')", true],
    ["startswith(email,'sales@')", true],
    ["endswith(email,'.COM')", true],
    ["contains(email,'ex_mple')", true], // SQL wildcard _
    ["contains(email,'s%le')", true], // SQL wildcard %
    ["startswith(email,'[rs]ales')", true], // SQL character class
    ['missing eq null', true],
    ['missing ne null', false],
    ['count gt null', false],
    ['_ref_value eq 0F8FAD5B-D9CB-469F-A165-70867728950E', true],
    ['on gt 2026-03-14T09:00:00Z', true],
    ['on lt 2026-03-14', false],
    ["Microsoft.Dynamics.CRM.In(PropertyName='count',PropertyValues=['1','5'])", true],
    ["Microsoft.Dynamics.CRM.NotIn(PropertyName='email',PropertyValues=[\"sales@example.com\"])", false],
    ["Microsoft.Dynamics.CRM.Null(PropertyName='missing')", true],
  ];
  it.each(cases)('%s → %s', (f, expected) => {
    expect(matches(f)).toBe(expected);
  });

  const errors: [string, RegExp][] = [
    ["_ref_value eq '0f8fad5b-d9cb-469f-a165-70867728950e'", /incompatible types.*'Edm.Guid' and 'Edm.String'/],
    ["count eq '5'", /incompatible types/],
    ["on gt '2026-01-01'", /incompatible types/],
    ['contains(count,5)', /No function signature/],
    ["name eq 'unterminated", /unterminated/],
    ['name eq', /expression expected/],
    ["substringof('a',name)", /unknown function/],
    ['(count eq 5', /'\)' expected/],
  ];
  it.each(errors)('%s is a 400', (f, re) => {
    let err: unknown;
    try {
      matches(f);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ status: 400 });
    expect((err as Error).message).toMatch(re);
  });
});

describe('lambda any/all over a collection-valued navigation property (table-driven)', () => {
  // The current row has two parties (the customer A with mask 11, B as To Recipient) and no notes.
  const A = '0f8fad5b-d9cb-469f-a165-70867728950e';
  const B = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
  const C = '16fd2706-8baf-433b-82eb-8c7fada847da';
  const PARTY_COLUMNS: Record<string, EdmType> = { _partyid_value: 'Edm.Guid', participationtypemask: 'Edm.Int32', addressused: 'Edm.String' };
  const CHILDREN: Record<string, Record<string, unknown>[]> = {
    parties: [
      { _partyid_value: A, participationtypemask: 11, addressused: 'anna@example.com' },
      { _partyid_value: B, participationtypemask: 2, addressused: null },
    ],
    notes: [],
  };
  const childTypes: TypeResolver = (p) => {
    const t = PARTY_COLUMNS[p.join('/')];
    if (!t) throw badRequest(`Could not find a property named '${p.join('/')}'.`);
    return t;
  };
  const collectionTypes: CollectionTypeResolver = (nav) => {
    if (!(nav in CHILDREN)) throw badRequest(`Could not find a property named '${nav}'.`);
    return childTypes;
  };
  const collections: CollectionResolver = (nav) => CHILDREN[nav]!.map((row): Resolver => (p) => ({ value: row[p.join('/')] ?? null, edm: childTypes(p) }));
  const matchesLambda = (f: string): boolean => {
    const n = parseFilter(f);
    checkFilter(n, types, collectionTypes);
    return evaluate(n, resolve, collections);
  };

  const cases: [string, boolean][] = [
    [`parties/any(p:p/_partyid_value eq ${A} and p/participationtypemask eq 11)`, true],
    [`parties/any(p:p/_partyid_value eq ${A.toUpperCase()} and p/participationtypemask eq 11)`, true], // GUIDs case-insensitive
    [`parties/any(p:p/_partyid_value eq ${B} and p/participationtypemask eq 11)`, false], // B is a party, not the customer
    [`parties/any(p:p/_partyid_value eq ${C})`, false],
    [`parties/any(x: x/participationtypemask eq 2)`, true],
    ['parties/all(p:p/participationtypemask eq 11)', false],
    ['parties/all(p:p/participationtypemask ge 2)', true],
    ['parties/all(p:p/addressused ne null)', false],
    ['parties/any()', true],
    ['notes/any()', false],
    ['notes/all(p:p/participationtypemask eq 1)', true], // all over nothing
    [`not parties/any(p:p/_partyid_value eq ${C})`, true],
    ["count eq 5 and parties/any(p:contains(p/addressused,'example'))", true],
    [`count eq 6 or parties/any(p:(p/_partyid_value eq ${A}))`, true],
    [`count eq 6 and parties/any(p:p/_partyid_value eq ${A})`, false],
  ];
  it.each(cases)('%s → %s', (f, expected) => {
    expect(matchesLambda(f)).toBe(expected);
  });

  const errors: [string, RegExp][] = [
    ['parties/all()', /'all' needs a lambda expression/],
    ["parties/any(p:name eq 'x')", /only 'p\/<property>' paths/],
    ['parties/any(p:p eq 1)', /cannot be used on its own/],
    ['parties/any(p:p/children/any(c:c/participationtypemask eq 1))', /Nested lambda/],
    ['owner/parties/any(p:p/participationtypemask eq 1)', /only a collection-valued navigation property of the queried table/],
    ["parties/any(p:p/_partyid_value eq '0f8fad5b-d9cb-469f-a165-70867728950e')", /incompatible types.*'Edm.Guid' and 'Edm.String'/],
    ['parties/any(p:p/participationtypemask)', /must be a Boolean expression/],
    ['parties/any(p:p/unknown eq 1)', /Could not find a property named 'unknown'/],
    ['nothing/any(p:p/participationtypemask eq 1)', /Could not find a property named 'nothing'/],
    ['parties/any(p p/participationtypemask eq 1)', /range variable and ':' expected/],
    ['parties/any(p:p/participationtypemask eq 1', /'\)' expected/],
    ["parties/any(p:Microsoft.Dynamics.CRM.In(PropertyName='participationtypemask',PropertyValues=['1']))", /inside a lambda expression is not supported/],
  ];
  it.each(errors)('%s is a 400', (f, re) => {
    let err: unknown;
    try {
      matchesLambda(f);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ status: 400 });
    expect((err as Error).message).toMatch(re);
  });

  it('is a 400 where no collection resolver is given (e.g. a query shape without lambda support)', () => {
    expect(() => checkFilter(parseFilter('parties/any()'), types)).toThrow(expect.objectContaining({ status: 400, message: expect.stringMatching(/not supported by the emulator/) }));
  });
});

describe('URL and header parsing', () => {
  it.each([
    ['contacts', { segment: 'contacts', key: null, rest: [] }],
    ['contacts(0f8fad5b-d9cb-469f-a165-70867728950e)', { segment: 'contacts', key: { kind: 'id', id: '0f8fad5b-d9cb-469f-a165-70867728950e' } }],
    ["accounts(accountnumber='A''1')", { key: { kind: 'alt', values: { accountnumber: "A'1" } } }],
    ["crs_campaignmailings(_crs_campaignclientid_value=0f8fad5b-d9cb-469f-a165-70867728950e,crs_mailingid='1001')", { key: { kind: 'alt', values: { _crs_campaignclientid_value: '0f8fad5b-d9cb-469f-a165-70867728950e', crs_mailingid: '1001' } } }],
    ['things(k1=1,k2=2)/name', { key: { kind: 'alt', values: { k1: 1, k2: 2 } }, rest: ['name'] }],
    ['contacts/Microsoft.Dynamics.CRM.CreateMultiple', { key: null, rest: ['Microsoft.Dynamics.CRM.CreateMultiple'] }],
  ])('%s', (path, expected) => {
    expect(parseResourcePath(path)).toMatchObject(expected);
  });

  it('parses Prefer with several comma-separated preferences and quoted values', () => {
    const p = parsePrefer('return=representation, odata.include-annotations="OData.Community.Display.V1.FormattedValue,Microsoft.Dynamics.CRM.*", odata.maxpagesize=50');
    expect(p.get('return')).toBe('representation');
    expect(p.get('odata.include-annotations')).toBe('OData.Community.Display.V1.FormattedValue,Microsoft.Dynamics.CRM.*');
    expect(p.get('odata.maxpagesize')).toBe('50');
  });
});
