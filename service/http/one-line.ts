/** What every route shares: the body limit and the one-line form of an error message. */

/** Spec §5: bodies over 5 MB get 413. */
export const BODY_LIMIT_BYTES = 5 * 1024 * 1024;

/** An error answer is one line of JSON: whitespace runs collapse, long texts are cut with an ellipsis. */
export function oneLine(message: string, max = 300): string {
  const s = message.replace(/\s+/g, ' ').trim();
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
