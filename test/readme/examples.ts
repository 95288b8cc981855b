/**
 * README's checked examples: finding them in the markdown and comparing what a command printed
 * with what README shows.
 *
 * The marker is an HTML comment (invisible on GitHub) right before a fenced block with the
 * command; the next fenced block is the output README shows:
 *
 *     <!-- check -->                      run with the tiers as `npm start` starts them
 *     <!-- check start="WEB_CGI=on npm start" -->    the tiers as that command starts them
 *     ```sh
 *     curl -i http://127.0.0.1:8080/api/echo
 *     ```
 *     ```text
 *     HTTP/1.1 200 OK
 *     …
 *     ```
 *
 * Examples that share a start command run in README order in one shell, as a reader's terminal
 * would (a variable set by one, like `LOC`, is there for the next).
 *
 * What "the same" means (compareOutput): the status line exactly; each header README shows is
 * present (names case-insensitive, order free: RFC 9110 §5.3 lets a sender order fields as it
 * likes) with the value shown, except for values that change on every request (VOLATILE_HEADERS);
 * other headers are allowed only where README writes a `…` line among the headers. Body lines
 * match in order; a `…` line stands for any number of lines, a `…` inside a line for any text.
 * Request ids, timestamps, pids and curl's version are compared by shape (normalizeTokens).
 */

export interface ReadmeExample {
  /** 1-based line of the command block in README.md, for messages. */
  readonly line: number;
  /** The start command README gives for these examples (default `npm start`). */
  readonly start: string;
  readonly command: string;
  readonly expected: string;
}

const MARKER = /^<!--\s*check(?:\s+start="([^"]*)")?\s*-->\s*$/;
const FENCE = /^(```+|~~~+)\s*([\w-]*)\s*$/;

/** Every marked example in a markdown text; a marker not followed by two fenced blocks is an error. */
export function extractExamples(markdown: string): ReadmeExample[] {
  const lines = markdown.split('\n');
  const examples: ReadmeExample[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    const marker = MARKER.exec(lines[i]!.trim());
    if (marker === null) continue;
    const command = readFence(lines, i + 1, i + 1);
    const output = readFence(lines, command.end + 1, i + 1);
    examples.push({ line: command.start + 1, start: marker[1] ?? 'npm start', command: command.body, expected: output.body });
    i = output.end;
  }
  return examples;
}

function readFence(lines: readonly string[], from: number, markerLine: number): { start: number; end: number; body: string } {
  let start = from;
  while (start < lines.length && lines[start]!.trim() === '') start += 1;
  const open = FENCE.exec(lines[start] ?? '');
  if (open === null) throw new Error(`README.md:${markerLine}: a check marker must be followed by a command block and an output block`);
  for (let end = start + 1; end < lines.length; end += 1) {
    if (lines[end]!.trim() === open[1]) return { start, end, body: lines.slice(start + 1, end).join('\n') };
  }
  throw new Error(`README.md:${markerLine}: unclosed code block`);
}

/** The tiers a start command asks for: which launcher, and the env it sets (`A=1 B=2 npm start`). */
export function parseStart(start: string): { entry: 'start' | 'web' | 'app'; env: Record<string, string> } {
  const words = start.trim().split(/\s+/);
  const env: Record<string, string> = {};
  while (words.length > 0 && /^[A-Z_][A-Z0-9_]*=/.test(words[0]!)) {
    const word = words.shift()!;
    const eq = word.indexOf('=');
    env[word.slice(0, eq)] = word.slice(eq + 1);
  }
  const rest = words.join(' ');
  if (rest === 'npm start') return { entry: 'start', env };
  if (rest === 'npm run web') return { entry: 'web', env };
  if (rest === 'npm run app') return { entry: 'app', env };
  throw new Error(`unknown start command: ${start}`);
}

/** Values that differ on every request or every run; README's value is an example of the shape. */
export const VOLATILE_HEADERS: ReadonlySet<string> = new Set([
  'date', 'x-request-id', 'etag', 'last-modified', 'content-length', 'set-cookie', 'expires', 'age',
]);

/** Replaces what changes between runs with its kind, in README's text and in the real output alike. */
export function normalizeTokens(text: string): string {
  return text
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<uuid>')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z/g, '<time>')
    .replace(/("?pid"?\s*[:=]\s*)\d+/gi, '$1<pid>')
    .replace(/curl\/[\d.]+/g, 'curl/<version>');
}

interface HttpPart {
  readonly statusLine: string | undefined;
  readonly headers: readonly string[];
  readonly body: readonly string[];
}

/** Splits output into responses (a line `HTTP/1.x NNN` starts one) or one plain part. */
function splitParts(text: string): HttpPart[] {
  const lines = text.replace(/\r/g, '').split('\n');
  const starts = lines.flatMap((line, index) => (/^HTTP\/\d(?:\.\d)? \d{3}/.test(line) ? [index] : []));
  if (starts.length === 0) return [{ statusLine: undefined, headers: [], body: trimEnd(lines) }];
  const parts: HttpPart[] = [];
  const head = trimEnd(lines.slice(0, starts[0]));
  if (head.length > 0) parts.push({ statusLine: undefined, headers: [], body: head });
  starts.forEach((start, k) => {
    const chunk = lines.slice(start, starts[k + 1] ?? lines.length);
    const blank = chunk.indexOf('');
    const headerEnd = blank === -1 ? chunk.length : blank;
    parts.push({ statusLine: chunk[0]!.trimEnd(), headers: chunk.slice(1, headerEnd), body: trimEnd(chunk.slice(headerEnd + 1)) });
  });
  return parts;
}

function trimEnd(lines: readonly string[]): string[] {
  const out = lines.map((line) => line.trimEnd());
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out;
}

const ELLIPSIS = '…';

function linePattern(expected: string): RegExp {
  const parts = normalizeTokens(expected.trim()).split(ELLIPSIS).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.*')}$`, 's');
}

/** Matches body lines in order; a `…` line matches any run of lines (a small glob over lines). */
function matchLines(expected: readonly string[], actual: readonly string[]): boolean {
  const memo = new Map<string, boolean>();
  const go = (e: number, a: number): boolean => {
    const key = `${e},${a}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let result: boolean;
    if (e === expected.length) result = a === actual.length;
    else if (expected[e]!.trim() === ELLIPSIS) result = go(e + 1, a) || (a < actual.length && go(e, a + 1));
    else result = a < actual.length && linePattern(expected[e]!).test(normalizeTokens(actual[a]!.trim())) && go(e + 1, a + 1);
    memo.set(key, result);
    return result;
  };
  return go(0, 0);
}

/** The differences between README's output and the real one; empty when they agree. */
export function compareOutput(expected: string, actual: string): string[] {
  const want = splitParts(expected);
  const got = splitParts(actual);
  const problems: string[] = [];
  if (want.length !== got.length) {
    return [`README shows ${want.length} part(s) (responses or plain output), the command printed ${got.length}`];
  }
  want.forEach((w, k) => {
    const g = got[k]!;
    const which = want.length > 1 ? `response ${k + 1}: ` : '';
    if (w.statusLine !== g.statusLine) problems.push(`${which}status line: README "${w.statusLine}", got "${g.statusLine}"`);
    const actualHeaders = g.headers.map((line) => {
      const colon = line.indexOf(':');
      return { name: line.slice(0, colon).trim().toLowerCase(), value: line.slice(colon + 1).trim() };
    });
    const allowOthers = w.headers.some((line) => line.trim() === ELLIPSIS);
    const seen = new Set<number>();
    for (const line of w.headers) {
      if (line.trim() === ELLIPSIS) continue;
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      const index = actualHeaders.findIndex((h, i) => !seen.has(i) && h.name === name && (VOLATILE_HEADERS.has(name) || linePattern(value).test(normalizeTokens(h.value))));
      if (index === -1) {
        const other = actualHeaders.find((h) => h.name === name);
        problems.push(`${which}header ${name}: README "${value}", got ${other === undefined ? 'no such header' : `"${other.value}"`}`);
      } else seen.add(index);
    }
    if (!allowOthers) {
      const extra = actualHeaders.filter((_, i) => !seen.has(i)).map((h) => h.name);
      if (extra.length > 0) problems.push(`${which}headers README does not show (add them or a "…" line): ${extra.join(', ')}`);
    }
    if (!matchLines(w.body, g.body)) problems.push(`${which}body differs:\n--- README\n${w.body.join('\n')}\n--- got\n${g.body.join('\n')}`);
  });
  return problems;
}

/** README's ports replaced by the ones the test's tiers listen on (commands), and back (output). */
export function withPorts(text: string, from: ReadonlyMap<string, string>): string {
  let out = text;
  for (const [a, b] of from) out = out.replace(new RegExp(`\\b${a}\\b`, 'g'), b);
  return out;
}
