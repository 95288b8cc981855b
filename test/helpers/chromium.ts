/**
 * Real headless Chromium for the browser tests (Debian's /usr/bin/chromium, driven by
 * playwright-core): why a test is skipped where it is absent, and a persistent context on a
 * throwaway profile that the test's teardown closes and removes.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
/** No background fetches of the browser's own (updates, sync) among the requests a test watches. */
const ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

interface Teardown {
  teardown(fn: () => unknown): void;
}

/** Where Chromium is missing: the skip reason a browser test passes to tap; false where it is installed. */
export function chromiumSkipReason(): string | false {
  return existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium; .ci/run installs it)`;
}

export interface LaunchOptions {
  /** More flags after the common ones (a host-resolver rule). */
  readonly args?: readonly string[];
  readonly viewport?: { readonly width: number; readonly height: number };
  /** The browser's environment (a $HOME holding an NSS database); the test's own by default. */
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
}

export async function launchChromium(t: Teardown, options: LaunchOptions = {}): Promise<BrowserContext> {
  const profile = mkdtempSync(join(tmpdir(), 'twotier-chromium-'));
  t.teardown(() => rmSync(profile, { recursive: true, force: true }));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: [...ARGS, ...(options.args ?? [])],
    headless: true,
    timeout: options.timeoutMs ?? 30_000,
    ...(options.viewport === undefined ? {} : { viewport: options.viewport }),
    ...(options.env === undefined ? {} : { env: options.env }),
  });
  t.teardown(() => context.close());
  return context;
}
