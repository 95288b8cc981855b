/**
 * Fault 7 (issue 12 item 3): slow uploads. ~70 connections each start a 1 MB POST, send its first
 * 100 KiB (past the in-memory buffer, so the web tier spills it to a temp file) and then trickle
 * a byte a second, while normal clients keep making dynamic requests. The web tier reads a body
 * whole before the request takes an upstream slot (nginx `proxy_request_buffering on`), so the
 * trickling uploads hold only their own sockets: 0 normal requests fail. A few uploads then
 * finish and are answered 200 with every byte; the rest leave mid-body, and no temp file, nor an
 * open descriptor of one, is left behind.
 */
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fetchOnce, startStack } from '../helpers/load.js';

const UPLOADS = 70;
const COMPLETING = 4;
const BODY_BYTES = 1_000_000;
const FIRST_BYTES = 100 * 1024;
const TRICKLE_MS = 15_000;
const TRICKLE_EVERY_MS = 1_000;
const NORMAL_CLIENTS = 4;
/** Pace of each normal client: load shaping, not a wait for anything. */
const NORMAL_EVERY_MS = 100;
const SLOTS = 8;

interface Upload {
  readonly socket: Socket;
  sent: number;
  /** Everything the web tier sent back until it closed the connection. */
  readonly reply: Promise<string>;
}

function startUpload(port: number): Upload {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined); // a socket the web tier cuts, or the test destroys
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const reply = once(socket, 'close').then(() => Buffer.concat(chunks).toString('latin1'));
  socket.write(`POST /api/echo/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: ${BODY_BYTES}\r\nConnection: close\r\n\r\n`);
  socket.write(Buffer.alloc(FIRST_BYTES, 0x61));
  return { socket, sent: FIRST_BYTES, reply };
}

/** Descriptors of process `pid` that point into `dir` (a spilled body still open). */
function openInto(pid: number, dir: string): string[] {
  const found: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (target.startsWith(dir)) found.push(target);
    } catch {
      // closed between readdir and readlink
    }
  }
  return found;
}

/** Regular files anywhere under `dir`. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

t.test('slow 1 MB uploads hold no upstream slot: normal dynamic requests keep succeeding', { timeout: 90_000 }, async (t) => {
  const bodyDir = mkdtempSync(join(tmpdir(), 'twotier-slow-upload-'));
  t.teardown(() => rmSync(bodyDir, { recursive: true, force: true }));
  const { web } = await startStack(t, {
    appWorkers: 1,
    webEnv: { WEB_PROXY_MAX_SOCKETS: String(SLOTS), WEB_PROXY_BODY_TEMP_DIR: bodyDir },
  });

  const uploads = Array.from({ length: UPLOADS }, () => startUpload(web.port));
  t.teardown(() => {
    for (const upload of uploads) upload.socket.destroy();
  });
  await Promise.all(uploads.map((upload) => once(upload.socket, 'connect')));

  const started = Date.now();
  const trickling = (async () => {
    while (Date.now() - started < TRICKLE_MS) {
      await delay(TRICKLE_EVERY_MS);
      for (const upload of uploads) {
        if (upload.socket.destroyed) continue;
        upload.socket.write('b');
        upload.sent += 1;
      }
    }
  })();

  const outcomes: Record<string, number> = {};
  let slowestMs = 0;
  const normalClient = async (): Promise<void> => {
    while (Date.now() - started < TRICKLE_MS) {
      const begun = Date.now();
      let outcome: string;
      try {
        const answer = await fetchOnce(`${web.url}/api/articles/`, { headers: { Accept: 'application/json' }, timeoutMs: 10_000 });
        outcome = String(answer.status);
      } catch (error) {
        outcome = (error as Error).message.includes('timed out') ? 'timeout' : 'error';
      }
      slowestMs = Math.max(slowestMs, Date.now() - begun);
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      await delay(NORMAL_EVERY_MS);
    }
  };
  await Promise.all([trickling, ...Array.from({ length: NORMAL_CLIENTS }, normalClient)]);
  const total = Object.values(outcomes).reduce((sum, count) => sum + count, 0);
  t.comment(`normal requests while ${UPLOADS} uploads trickled for ${TRICKLE_MS} ms: ${JSON.stringify(outcomes)}, slowest ${slowestMs} ms`);
  t.ok(total >= NORMAL_CLIENTS, 'normal clients made requests throughout');
  t.equal(outcomes['200'], total, '0 normal requests failed');
  t.equal(openInto(web.pid, bodyDir).length, UPLOADS, 'each upload past the memory buffer is held in its own temp file in the configured dir');
  const turnedAway = uploads.filter((upload) => upload.socket.destroyed);
  if (turnedAway.length > 0) t.comment(`turned away: ${(await turnedAway[0]!.reply).slice(0, 300)}`);
  t.equal(turnedAway.length, 0, 'no upload was turned away while it arrived');

  // A few uploads finish: each is sent upstream whole, from its temp file, and answered.
  const completing = uploads.slice(0, COMPLETING);
  for (const upload of completing) upload.socket.write(Buffer.alloc(BODY_BYTES - upload.sent, 0x63));
  const replies = await Promise.all(completing.map((upload) => upload.reply));
  for (const [index, reply] of replies.entries()) {
    if (!reply.startsWith('HTTP/1.1 200')) t.comment(`upload ${index}: ${reply.slice(0, 300)}`);
    t.match(reply, /^HTTP\/1\.1 200 /, `completed upload ${index} answered 200`);
    t.match(reply, new RegExp(`"bodyLength":\\s*${BODY_BYTES}\\b`), `completed upload ${index}: the app read all ${BODY_BYTES} bytes`);
  }

  // The rest leave mid-body: nothing of theirs may stay on disk or open.
  for (const upload of uploads.slice(COMPLETING)) upload.socket.destroy();
  let open = openInto(web.pid, bodyDir);
  for (let tries = 0; open.length > 0 && tries < 100; tries += 1) {
    await delay(50);
    open = openInto(web.pid, bodyDir);
  }
  t.same(open, [], 'no spilled body is still open in the web tier');
  t.same(filesUnder(bodyDir), [], 'no spilled body is left in the temp dir');
});
