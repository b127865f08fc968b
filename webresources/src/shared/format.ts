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

export function formatDateTime(iso: string | undefined, ctx: DateContext, formatted?: string): string | undefined {
  if (formatted) return formatted;
  if (!iso) return undefined;
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return undefined;
  const options: Intl.DateTimeFormatOptions = { dateStyle: 'medium', timeStyle: 'short' };
  if (ctx.timeZoneOffsetMinutes !== undefined && Number.isFinite(ctx.timeZoneOffsetMinutes)) {
    return new Intl.DateTimeFormat(ctx.locale, { ...options, timeZone: 'UTC' }).format(new Date(ms + ctx.timeZoneOffsetMinutes * 60_000));
  }
  return new Intl.DateTimeFormat(ctx.locale, options).format(new Date(ms));
}

export function formatNumber(n: number, locale: string): string {
  return new Intl.NumberFormat(locale).format(n);
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
