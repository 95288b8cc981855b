/**
 * Counts failed store calls for `app_store_errors_total` without the store or the application
 * knowing: main.ts hands createApp() this wrapper instead of the store itself.
 */
import type { Store } from './store/types.js';

export type OnStoreError = (operation: string, code: string) => void;

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  // Driver codes (SQLITE_BUSY, ECONNREFUSED, …) are a small fixed set; anything else is "other".
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(code) ? code : 'other';
}

export function instrumentStore(store: Store, onError: OnStoreError): Store {
  function wrap<K extends keyof Store>(name: K): Store[K] {
    const original = store[name] as (...values: unknown[]) => Promise<unknown>;
    return (async (...args: unknown[]): Promise<unknown> => {
      try {
        return await original.apply(store, args);
      } catch (error) {
        onError(name, codeOf(error));
        throw error;
      }
    }) as Store[K];
  }
  // Spelled out (not a loop over the prototype) so a method added to Store is a type error here.
  return {
    listArticles: wrap('listArticles'),
    countArticles: wrap('countArticles'),
    getArticle: wrap('getArticle'),
    listArticlesByDate: wrap('listArticlesByDate'),
    getArticleBySlug: wrap('getArticleBySlug'),
    archive: wrap('archive'),
    createArticle: wrap('createArticle'),
    replaceArticle: wrap('replaceArticle'),
    patchArticle: wrap('patchArticle'),
    deleteArticle: wrap('deleteArticle'),
    articlesAfter: wrap('articlesAfter'),
    maxArticleId: wrap('maxArticleId'),
    createJob: wrap('createJob'),
    getJob: wrap('getJob'),
    claimJob: wrap('claimJob'),
    finishJobStep: wrap('finishJobStep'),
    getOrCreateSetting: wrap('getOrCreateSetting'),
    close: wrap('close'),
  };
}
