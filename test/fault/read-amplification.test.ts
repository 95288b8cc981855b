/**
 * Issue 12.6, read amplification: articles with large bodies and concurrent list queries must
 * not make a worker's memory (or a list response) grow with the bodies. The articles are
 * written straight into the store, past the API's body maximum, as rows written before the
 * maximum existed (or under a larger APP_MAX_ARTICLE_BODY_BYTES) would be. The figures are
 * the worker's own: VmHWM (peak resident set) and VmRSS from /proc/<pid>/status.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { createLogger } from '../../common/logger.js';
import { openStore } from '../../app-tier/store/index.js';
import { SEED_ARTICLES } from '../../app-tier/store/seed.js';
import { send, startAppTier, tempDataDir } from '../helpers/app-tier.js';

const ARTICLES = 60;
const BODY_BYTES = 1024 * 1024;
const CONCURRENT_LISTS = 4;
const ROUNDS = 3;
/** A list item is its fields and a bounded excerpt; 2 KiB each is generous. */
const LIST_RESPONSE_MAX_BYTES = 100 * 2048;
/** An archive page lists titles: a few hundred bytes per article. */
const PAGE_RESPONSE_MAX_BYTES = ARTICLES * 1024 + 16 * 1024;
/** A worker at rest is well under 150 MiB; the load may add some, never the bodies (60 MiB × 4 × copies). */
const WORKER_PEAK_MAX_KIB = 256 * 1024;
const REQUEST_TIMEOUT_MS = 15_000;
/** Rounds stop starting after this (the old code took longer than a request timeout per round). */
const LOAD_DEADLINE_MS = 25_000;
/** What a response may hold in the test before it is only counted (the old code sent ~60 MiB). */
const KEEP_BYTES = 4 * 1024 * 1024;

interface Measured {
  /** 0 when the request failed or timed out. */
  readonly status: number;
  readonly bytes: number;
  /** The body, when it was at most KEEP_BYTES. */
  readonly text: string | undefined;
}

/** Never rejects: a failed or timed-out request is status 0, so the figures are still reported. */
function measure(url: string, timeoutMs = REQUEST_TIMEOUT_MS): Promise<Measured> {
  return new Promise((resolve) => {
    const failed = (): void => resolve({ status: 0, bytes: 0, text: undefined });
    const req = request(url, { agent: false }, (res) => {
      const kept: Buffer[] = [];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes <= KEEP_BYTES) kept.push(chunk);
      });
      res.on('error', failed);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, text: bytes <= KEEP_BYTES ? Buffer.concat(kept).toString('utf8') : undefined }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${url} took over ${timeoutMs} ms`)));
    req.on('error', failed);
    req.end();
  });
}

/** VmHWM and VmRSS of a process, in KiB. */
function memoryOf(pid: number): { peakKiB: number; rssKiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { peakKiB: field('VmHWM'), rssKiB: field('VmRSS') };
}

const mib = (kib: number): string => `${(kib / 1024).toFixed(1)} MiB`;

t.test('concurrent list queries over large articles: bounded responses, bounded worker memory, other requests served', { timeout: 60_000 }, async (t) => {
  const dataDir = tempDataDir(t);
  const seeding = Date.now();
  const store = await openStore(`sqlite:${join(dataDir, 'twotier.db')}`, { logger: createLogger({ tier: 'app', level: 'silent' }) });
  const filler = 'All work and no play makes Jack a dull boy. ';
  const body = filler.repeat(Math.ceil(BODY_BYTES / filler.length)).slice(0, BODY_BYTES);
  let large = 0;
  for (let i = 0; i < ARTICLES; i += 1) {
    const month = String((i % 12) + 1).padStart(2, '0');
    const day = String((i % 28) + 1).padStart(2, '0');
    large = (await store.createArticle({ title: `Large article ${i}`, body, published: `2020-${month}-${day}T10:00:00Z` })).id;
  }
  const small = await store.createArticle({ title: 'A small article', body: 'Short.', published: '2021-01-01T00:00:00Z' });
  await store.close();
  t.comment(`seeded ${ARTICLES} articles of ${BODY_BYTES} B in ${Date.now() - seeding} ms`);

  // One worker, so every request lands on the process whose memory is read.
  const app = await startAppTier(t, { dataDir, workers: 1 });
  const [pid] = app.workerPids;
  if (pid === undefined) throw new Error('the app tier reported no worker');
  t.equal((await send(`${app.url}/api/articles/${small.id}/`)).status, 200, 'warm-up request answered');
  const before = memoryOf(pid);

  const normal = [`/api/articles/${small.id}/`, '/articles/', '/articles/2021/', '/articles/2021/01/', '/healthz'];
  const normalStatuses: number[] = [];
  let listBytesMax = 0;
  let pageBytesMax = 0;
  const started = Date.now();
  let rounds = 0;
  for (; rounds < ROUNDS && Date.now() - started < LOAD_DEADLINE_MS; rounds += 1) {
    const lists = Array.from({ length: CONCURRENT_LISTS }, () => measure(`${app.url}/api/articles/?limit=100`));
    const pages = [measure(`${app.url}/articles/2020/`), measure(`${app.url}/articles/2020/01/`)];
    const others = Promise.all(normal.map((path) => measure(`${app.url}${path}`)));
    const [listAnswers, pageAnswers, otherAnswers] = await Promise.all([Promise.all(lists), Promise.all(pages), others]);
    for (const answer of listAnswers) {
      t.equal(answer.status, 200, 'list answered');
      listBytesMax = Math.max(listBytesMax, answer.bytes);
      if (answer.text !== undefined && rounds === 0 && answer === listAnswers[0]) {
        const list = JSON.parse(answer.text) as { articles: Record<string, unknown>[]; total: number; limit: number; offset: number };
        const total = ARTICLES + 1 + SEED_ARTICLES.length;
        t.match(list, { total, limit: 100, offset: 0 }, 'the list shape is kept');
        t.equal(list.articles.length, total, 'every article is listed');
        t.notOk('body' in (list.articles[0] ?? {}), 'list items carry no body');
      }
    }
    for (const answer of pageAnswers) {
      t.equal(answer.status, 200, 'archive page answered');
      pageBytesMax = Math.max(pageBytesMax, answer.bytes);
    }
    normalStatuses.push(...otherAnswers.map((answer) => answer.status));
  }
  const after = memoryOf(pid);
  const seconds = (Date.now() - started) / 1000;

  t.comment(`worker ${pid}: before VmRSS ${mib(before.rssKiB)} VmHWM ${mib(before.peakKiB)}; after ${rounds} rounds of ${CONCURRENT_LISTS} concurrent ?limit=100 lists over ${ARTICLES} × ${BODY_BYTES} B bodies: VmRSS ${mib(after.rssKiB)} VmHWM ${mib(after.peakKiB)}; largest list ${listBytesMax} B, largest archive page ${pageBytesMax} B; ${seconds.toFixed(1)} s`);
  t.ok(listBytesMax <= LIST_RESPONSE_MAX_BYTES, `a list of 100 is bounded (${listBytesMax} B ≤ ${LIST_RESPONSE_MAX_BYTES} B)`);
  t.ok(pageBytesMax <= PAGE_RESPONSE_MAX_BYTES, `an archive page is bounded (${pageBytesMax} B ≤ ${PAGE_RESPONSE_MAX_BYTES} B)`);
  t.ok(after.peakKiB <= WORKER_PEAK_MAX_KIB, `the worker's peak memory stays bounded (VmHWM ${mib(after.peakKiB)} ≤ ${mib(WORKER_PEAK_MAX_KIB)})`);
  t.same([...new Set(normalStatuses)], [200], 'every other request during the load was answered 200');

  const detail = await measure(`${app.url}/api/articles/${large}/`);
  t.equal(detail.status, 200, 'a large article is still read whole from its own URL');
  t.ok(detail.bytes > BODY_BYTES, 'with its body');
});

t.test('the maxima reach a real worker from the env: APP_MAX_ARTICLE_BODY_BYTES → 400 on body, APP_MAX_REQUEST_BODY_BYTES → 413', async (t) => {
  const app = await startAppTier(t, { workers: 1, env: { APP_MAX_ARTICLE_BODY_BYTES: '100', APP_MAX_REQUEST_BODY_BYTES: '1000' } });
  const json = { 'Content-Type': 'application/json' };
  const fits = await send(`${app.url}/api/articles/`, { method: 'POST', headers: json, body: JSON.stringify({ title: 'Fits', body: 'x'.repeat(100) }) });
  t.equal(fits.status, 201);
  const over = await send(`${app.url}/api/articles/`, { method: 'POST', headers: json, body: JSON.stringify({ title: 'Over', body: 'x'.repeat(101) }) });
  t.equal(over.status, 400);
  t.match(over.json(), { error: { code: 'APP_ERR_VALIDATION', field: 'body' } });
  const tooLarge = await send(`${app.url}/api/articles/`, { method: 'POST', headers: json, body: JSON.stringify({ title: 'Huge', body: 'x'.repeat(2000) }) });
  t.equal(tooLarge.status, 413);
  t.match(tooLarge.json(), { error: { code: 'APP_ERR_BODY_TOO_LARGE' } });
});
