/** Display labels of response categories, from the schema model. */
import { RESPONSE_CATEGORIES } from '../../../solution/model/tables.js';
import type { Lang } from './i18n.js';

export function categoryLabel(category: string, lang: Lang): string {
  const def = RESPONSE_CATEGORIES.find((c) => c.value === category);
  if (!def) return category;
  return lang === 'de' ? def.labelDe : def.value;
}

/** CSS modifier of a category chip (fixed set; anything else is "other"). */
export function categoryClass(category: string): string {
  const def = RESPONSE_CATEGORIES.find((c) => c.value === category);
  return `crs-chip crs-chip--${def ? def.value.toLowerCase() : 'other'}`;
}
