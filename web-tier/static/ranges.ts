/**
 * Range requests (RFC 9110 §14) parsed by `range-parser`, decided once: the whole
 * representation, one byte range, or unsatisfiable.
 *
 * Several ranges are coalesced first (`combine`); if more than one remains, the whole file is
 * sent with 200, which §14.2 allows ("a server MAY ignore the Range header field"). No
 * multipart/byteranges is ever built, so a request for many small or overlapping ranges can
 * never make the answer larger than the file (the amplification behind CVE-2011-3192).
 */
import parseRange from 'range-parser';

export type RangeDecision =
  | { readonly kind: 'full' }
  | { readonly kind: 'partial'; readonly start: number; readonly end: number }
  | { readonly kind: 'unsatisfiable' };

const FULL: RangeDecision = Object.freeze({ kind: 'full' });
const UNSATISFIABLE: RangeDecision = Object.freeze({ kind: 'unsatisfiable' });

/** More ranges than this in one header is a scan or an attack: the whole file is cheaper for both. */
export const MAX_RANGES = 32;

export function decideRange(size: number, rangeHeader: string | undefined): RangeDecision {
  if (rangeHeader === undefined) return FULL;
  // An empty file has no byte to point at; §14.1.1 makes every range unsatisfiable, but a 200
  // with the (empty) whole is what a client can use.
  if (size === 0) return FULL;
  const equals = rangeHeader.indexOf('=');
  // §14.1: range units are case-insensitive; a unit we do not know means the field is ignored.
  if (equals === -1 || rangeHeader.slice(0, equals).trim().toLowerCase() !== 'bytes') return FULL;
  const specs = rangeHeader.slice(equals + 1).split(',', MAX_RANGES + 1);
  if (specs.length > MAX_RANGES) return FULL;
  // RFC 9110 §14.1.3: a suffix longer than the representation means all of it; range-parser
  // 1.x computes a negative start and calls it unsatisfiable, so such a suffix becomes "0-".
  const spec = specs.map((part) => (/^\s*-\d+\s*$/.test(part) && Number(part.trim().slice(1)) > size ? '0-' : part)).join(',');
  const ranges = parseRange(size, `bytes=${spec}`, { combine: true });
  // -2: syntactically invalid, which §14.2 says to ignore; -1: nothing in it overlaps the file.
  if (ranges === -2) return FULL;
  if (ranges === -1) return UNSATISFIABLE;
  const only = ranges[0];
  if (ranges.length !== 1 || only === undefined) return FULL;
  return { kind: 'partial', start: only.start, end: only.end };
}
