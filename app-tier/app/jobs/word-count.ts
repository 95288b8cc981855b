/**
 * The report job behind POST /api/reports/: word counts over all articles. It reads the
 * articles that existed when it was accepted (ids up to `maxId`) in batches by id, so the
 * whole body of only one batch is in memory at a time, and keeps its running counts in the
 * job's data: a step that is run again after its process died starts from the same state.
 */
import type { NewJob } from '../../store/jobs.js';
import type { Store } from '../../store/types.js';
import type { JobKind } from './runner.js';

export const WORD_COUNT = 'word-count';

/** A report takes this many steps at least, so a learner can watch it run; more when batches would be large. */
const STEPS = 4;
/** Articles read in one step at most (bodies are up to APP_MAX_ARTICLE_BODY_BYTES each). */
const MAX_BATCH = 200;
/** Words the report lists, most frequent first. */
export const TOP_WORDS = 20;

interface WordCountData {
  /** The last article id counted. */
  readonly cursor: number;
  /** The highest article id when the job was accepted. */
  readonly maxId: number;
  readonly batch: number;
  readonly articles: number;
  readonly words: number;
  readonly counts: Record<string, number>;
  /** The pids of the processes that ran its steps, in order (a pid once per run of steps). */
  readonly workers: number[];
}

export interface WordCountReport {
  readonly articles: number;
  readonly words: number;
  readonly distinctWords: number;
  readonly topWords: { readonly word: string; readonly count: number }[];
  readonly counts: Record<string, number>;
}

/** Words as letters and digits (any script), with inner apostrophes and hyphens: "don't", "e-mail". */
const WORD = /[\p{L}\p{N}]+(?:['’-][\p{L}\p{N}]+)*/gu;

export function countWords(text: string, into: Map<string, number>): number {
  let words = 0;
  for (const [found] of text.toLowerCase().matchAll(WORD)) {
    words += 1;
    into.set(found, (into.get(found) ?? 0) + 1);
  }
  return words;
}

export async function newWordCountJob(store: Store, id: string, firstStepAt: number): Promise<NewJob> {
  const [total, maxId] = await Promise.all([store.countArticles(), store.maxArticleId()]);
  const batch = Math.min(MAX_BATCH, Math.max(1, Math.ceil(total / STEPS)));
  const data: WordCountData = { cursor: 0, maxId, batch, articles: 0, words: 0, counts: {}, workers: [] };
  return { id, kind: WORD_COUNT, total, data: JSON.stringify(data), nextStepAt: firstStepAt };
}

export function workersOf(data: string): number[] {
  return (JSON.parse(data) as WordCountData).workers;
}

export const wordCount: JobKind = {
  async step(job, store, pid) {
    const data = JSON.parse(job.data) as WordCountData;
    const articles = (await store.articlesAfter(data.cursor, data.batch)).filter((article) => article.id <= data.maxId);
    const counts = new Map(Object.entries(data.counts));
    let words = data.words;
    for (const article of articles) words += countWords(`${article.title}\n${article.body}`, counts);
    const cursor = articles.at(-1)?.id ?? data.maxId;
    const workers = data.workers.at(-1) === pid ? data.workers : [...data.workers, pid];
    const next: WordCountData = { ...data, cursor, articles: data.articles + articles.length, words, counts: Object.fromEntries(counts), workers };
    const done = Math.min(job.total, next.articles);
    if (articles.length < data.batch || cursor >= data.maxId) {
      const topWords = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, TOP_WORDS).map(([word, count]) => ({ word, count }));
      const report: WordCountReport = { articles: next.articles, words, distinctWords: counts.size, topWords, counts: next.counts };
      return { data: JSON.stringify({ ...next, counts: {} }), done, result: JSON.stringify(report) };
    }
    return { data: JSON.stringify(next), done };
  },
};
