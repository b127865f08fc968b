import { describe, expect, it } from 'vitest';
import { BodyError, MAX_ELEMENTS, parseBody, splitTopLevelArray, toIncomingEvents } from '../../service/ingest/ingest.js';

describe('parseBody', () => {
  it('keeps each element of an array as its exact text', () => {
    const body = ' [ {"type":"open", "n": 1.50, "s":"a,b]}\\"x"} ,\n{"type":"click","nested":{"a":[1,{"b":"]"}]}} ]';
    const elements = parseBody(body);
    expect(elements.map((e) => e.raw)).toEqual([
      '{"type":"open", "n": 1.50, "s":"a,b]}\\"x"}',
      '{"type":"click","nested":{"a":[1,{"b":"]"}]}}',
    ]);
    expect(elements[0]!.value).toEqual({ type: 'open', n: 1.5, s: 'a,b]}"x' });
  });

  it('accepts one object as a one-element list', () => {
    expect(parseBody('\n{"type":"open"}\n')).toEqual([{ raw: '{"type":"open"}', value: { type: 'open' } }]);
  });

  it('accepts an empty array', () => {
    expect(parseBody('[]')).toEqual([]);
    expect(parseBody('[ ]')).toEqual([]);
  });

  it('keeps non-object elements (they are quarantined later)', () => {
    expect(parseBody('[1,"x",null,[2]]').map((e) => e.raw)).toEqual(['1', '"x"', 'null', '[2]']);
  });

  it('tolerates a UTF-8 byte order mark', () => {
    expect(parseBody('\ufeff[{"a":1}]')).toHaveLength(1);
  });

  it('keeps unicode and escapes exactly', () => {
    const raw = '{"reason":"M\\u00fcller \u00fc \ud83d\ude00 \\\\"}';
    expect(parseBody(`[${raw}]`)[0]!.raw).toBe(raw);
  });

  it.each([
    ['', /empty body/],
    ['   ', /empty body/],
    ['{bad', /^invalid JSON: /],
    ['[1,]', /^invalid JSON: /],
    ['"text"', /got string/],
    ['42', /got number/],
    ['null', /got null/],
    ['true', /got boolean/],
  ])('%j → BodyError %s', (body, reason) => {
    let error: unknown;
    try {
      parseBody(body);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(BodyError);
    expect((error as Error).message).toMatch(reason);
    expect((error as Error).message).not.toContain('\n');
  });

  it('parses hostile keys as plain data without touching prototypes', () => {
    const [element] = parseBody('[{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":2}},"type":"open"}]');
    expect(Object.hasOwn(element!.value as object, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(element!.raw).toContain('__proto__');
  });

  it('refuses more than MAX_ELEMENTS elements with 413, accepts exactly MAX_ELEMENTS', () => {
    expect(parseBody(`[${'0,'.repeat(MAX_ELEMENTS - 1)}0]`)).toHaveLength(MAX_ELEMENTS);
    let error: unknown;
    try {
      parseBody(`[${'0,'.repeat(MAX_ELEMENTS)}0]`);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(BodyError);
    expect((error as BodyError).status).toBe(413);
    expect((error as Error).message).toMatch(/too many events in one request: 50001/);
  });

  it('handles deep nesting without a stack overflow', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(parseBody(deep)).toHaveLength(1);
  });
});

describe('splitTopLevelArray', () => {
  it('splits at top-level commas only', () => {
    expect(splitTopLevelArray('[{"a":[1,2]},{"b":"x,y"},3]')).toEqual(['{"a":[1,2]}', '{"b":"x,y"}', '3']);
  });
});

describe('toIncomingEvents', () => {
  it('normalizes good elements and quarantines bad ones with their reason, keeping the raw text', () => {
    const elements = parseBody('[{"type":"open","recipientId":"a@b.de","timestamp":"2026-11-26T10:00:00Z"},{"type":"nope"}]');
    const [good, bad] = toIncomingEvents(elements, '77', 'webhook');
    expect(good).toMatchObject({ clientId: '77', normalized: { type: 'open', clientId: '77', origin: 'webhook' } });
    expect(good!.quarantineReason).toBeUndefined();
    expect(bad).toEqual({ clientId: '77', raw: '{"type":"nope"}', quarantineReason: 'unknown event type "nope"' });
  });
});
