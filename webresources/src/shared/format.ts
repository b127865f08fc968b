/**
 * Dates in the user's time zone and locale. First choice is Dataverse's own formatted value
 * (the `@OData.Community.Display.V1.FormattedValue` annotation Xrm.WebApi returns): it uses the
 * user's Dynamics time zone including daylight saving and the user's date format. Without it, the
 * date is formatted with Intl for the user's locale, shifted by the user's Dynamics time-zone offset
 * (Xrm userSettings.getTimeZoneOffsetMinutes) when known, else in the browser's time zone.
 */
import type { ColumnDef, TableDef } from '../../../solution/model/types.js';
import { column } from '../../../solution/model/tables.js';
import type { Lang } from './i18n.js';

export const FORMATTED = '@OData.Community.Display.V1.FormattedValue';

export interface DateContext {
  locale: string;
  /** The user's Dynamics time-zone offset from UTC in minutes (current), when known. */
  timeZoneOffsetMinutes?: number;
}

// Creating Intl formatters is expensive (about a millisecond each): keep one per locale and mode.
const dateFormatters = new Map<string, Intl.DateTimeFormat>();
const numberFormatters = new Map<string, Intl.NumberFormat>();

function dateFormatter(locale: string, utc: boolean): Intl.DateTimeFormat {
  const key = `${locale}|${utc}`;
  let f = dateFormatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short', ...(utc ? { timeZone: 'UTC' } : {}) });
    dateFormatters.set(key, f);
  }
  return f;
}

export function formatDateTime(iso: string | undefined, ctx: DateContext, formatted?: string): string | undefined {
  if (formatted) return formatted;
  if (!iso) return undefined;
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return undefined;
  if (ctx.timeZoneOffsetMinutes !== undefined && Number.isFinite(ctx.timeZoneOffsetMinutes)) {
    return dateFormatter(ctx.locale, true).format(new Date(ms + ctx.timeZoneOffsetMinutes * 60_000));
  }
  return dateFormatter(ctx.locale, false).format(new Date(ms));
}

export function formatNumber(n: number, locale: string): string {
  let f = numberFormatters.get(locale);
  if (!f) {
    f = new Intl.NumberFormat(locale);
    numberFormatters.set(locale, f);
  }
  return f.format(n);
}

/** The label of a choice value in the user's language, read from the schema model. */
export function choiceLabel(table: TableDef, columnName: string, value: unknown, lang: Lang): string | undefined {
  const def: ColumnDef = column(table, columnName);
  const option = def.options?.find((o) => o.value === value);
  if (!option) return undefined;
  return lang === 'de' ? option.labelDe : option.label;
}

/** A string field of a Web API row, or undefined. */
export function str(row: Record<string, unknown>, key: string): string | undefined {
  const v = row[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export function num(row: Record<string, unknown>, key: string): number | undefined {
  const v = row[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** A column name checked against the model (throws at load time if the model no longer has it). */
export function col(table: TableDef, name: string): string {
  return column(table, name).logicalName;
}

/** A GUID without braces, lower case; undefined when not a GUID (never put unchecked text into a query). */
export function normalizeGuid(raw: string | null | undefined): string | undefined {
  if (!raw) return undefined;
  const s = raw.trim().replace(/^\{|\}$/g, '').toLowerCase();
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(s) ? s : undefined;
}
