/**
 * Path converters, after Django's (django/urls/converters.py): each has the regular expression
 * a segment must match, how the matched text becomes a typed value, and how a value goes back
 * into a URL for reverse().
 */

export type ParamValue = string | number;

export interface Converter {
  /** A regular-expression source without capturing groups. */
  readonly regex: string;
  /** Turns matched (already decoded) text into the value; throws RangeError to reject the match. */
  toValue(text: string): ParamValue;
  /** Turns a value into URL text (percent-encoded); throws TypeError when the value does not fit. */
  toUrl(value: ParamValue): string;
}

function fullMatch(regex: string): RegExp {
  return new RegExp(`^(?:${regex})$`, 'u');
}

function stringConverter(regex: string, what: string, encode: (text: string) => string, accepts = regex): Converter {
  const whole = fullMatch(accepts);
  return {
    regex,
    toValue: (text) => text,
    toUrl(value) {
      const text = String(value);
      if (!whole.test(text)) throw new TypeError(`${JSON.stringify(text)} is not a valid ${what}`);
      return encode(text);
    },
  };
}

const intRegex = '[0-9]+';
const intWhole = fullMatch(intRegex);

/** `int`: digits, converted to a number. Past Number.MAX_SAFE_INTEGER the route does not match (Django's to_python raising ValueError). */
const int: Converter = {
  regex: intRegex,
  toValue(text) {
    const value = Number(text);
    if (!Number.isSafeInteger(value)) throw new RangeError(`${text} is too large`);
    return value;
  },
  toUrl(value) {
    // A digit string is kept as given so reverse() can build zero-padded months ("05").
    if (typeof value === 'string' && intWhole.test(value)) return value;
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
    throw new TypeError(`${JSON.stringify(value)} is not a non-negative integer`);
  },
};

const encodeSegments = (text: string): string => text.split('/').map(encodeURIComponent).join('/');

export const CONVERTERS: Readonly<Record<string, Converter>> = Object.freeze({
  int,
  /**
   * `str`: one non-empty segment. A value may hold "/" when it came from %2F, which never
   * separates segments, so reverse() accepts it and writes it back as %2F.
   */
  str: stringConverter('[^/]+', 'str', encodeURIComponent, '[\\s\\S]+'),
  slug: stringConverter('[-a-zA-Z0-9_]+', 'slug', encodeURIComponent),
  uuid: stringConverter('[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', 'uuid', encodeURIComponent),
  /** `path`: like str but may contain "/"; reverse() keeps its slashes. */
  path: stringConverter('.+', 'path', encodeSegments),
});
