/**
 * Fault routes, only with APP_FAULT_ROUTES=true (off by default): views that fail on purpose so
 * a learner (and the tests) can watch each tier's answer to a failing application. A throwing
 * view is the app tier's 500; a view slower than the web tier's WEB_PROXY_RESPONSE_TIMEOUT_MS is
 * the web tier's 504 (RFC 9110 §15.6.5), produced where it belongs: at the gateway.
 */
import { TwotierError } from '../../../common/errors.js';
import type { View } from '../context.js';
import { json } from '../responses.js';

/** The longest /api/_fault/slow may be asked to wait: long enough to pass any proxy timeout a learner sets, short enough to end. */
export const SLOW_MAX_MS = 120_000;

export const throwingView: View = async () => {
  throw new Error('deliberate fault from /api/_fault/throw');
};

export const slowView: View = async ({ query }) => {
  const raw = query.get('ms') ?? '5000';
  const ms = /^\d{1,6}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(ms >= 0 && ms <= SLOW_MAX_MS)) throw new TwotierError('APP_ERR_VALIDATION', `ms must be an integer from 0 to ${SLOW_MAX_MS}`, { field: 'ms' });
  await new Promise((resolve) => setTimeout(resolve, ms));
  return json(200, { sleptMs: ms });
};
