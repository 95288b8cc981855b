/**
 * How `npm start` passes its children's log lines on. Piped (scripts, `| jq`, a log shipper):
 * each JSON line untouched; its `service` field ("web" | "app") already says which tier wrote
 * it, so nothing is added and every line stays parseable. For a person (stdout is a TTY, or
 * LOG_PRETTY=1): pino-pretty renders the line and a fixed-width tier label goes in front, so
 * two tiers' interleaved lines stay easy to tell apart. The children always write JSON to the
 * launcher (it reads their "listening" lines); only the launcher decides how lines look.
 */
import type { prettyFactory as PrettyFactory } from 'pino-pretty';

export type LineWriter = (tier: 'web' | 'app' | 'start', line: string) => void;

export async function createLineWriter(options: { pretty: boolean; colors: boolean; write: (text: string) => void }): Promise<LineWriter> {
  if (!options.pretty) return (_tier, line) => options.write(`${line}\n`);
  // Loaded only for a person at a terminal: not in the JSON path.
  const { prettyFactory } = (await import('pino-pretty')) as { prettyFactory: typeof PrettyFactory };
  const render = prettyFactory({ colorize: options.colors, translateTime: 'SYS:HH:MM:ss.l', ignore: 'hostname,service,tier' });
  const labels = { web: 'web', app: 'app', start: 'npm' } as const;
  const colors = { web: '\u001b[36m', app: '\u001b[35m', start: '\u001b[2m' } as const;
  return (tier, line) => {
    let text: string;
    try {
      text = render(JSON.parse(line)).trimEnd();
    } catch {
      text = line;
    }
    const label = options.colors ? `${colors[tier]}${labels[tier]}\u001b[0m` : labels[tier];
    options.write(`${label} | ${text.replace(/\n/g, `\n${' '.repeat(labels[tier].length)} | `)}\n`);
  };
}
