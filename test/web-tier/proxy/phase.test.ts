/**
 * The exchange's lifecycle (web-tier/proxy/phase.ts): the table allows exactly the documented
 * transitions, an illegal one throws under test and is logged (phase kept) in a running tier.
 * The rest of the proxy suite runs with throwing on (helpers.ts startFront), so any pass that
 * moved an exchange illegally fails its test.
 */
import t from 'tap';
import { IllegalPhaseError, isSettled, moveTo, throwOnIllegalPhase, TRANSITIONS, type Phase } from '../../../web-tier/proxy/phase.js';
import { captureLogger } from './helpers.js';

const PHASES = Object.keys(TRANSITIONS) as Phase[];

function exchangeAt(phase: Phase, logger = captureLogger().logger): { phase: Phase; ctx: { logger: typeof logger } } {
  return { phase, ctx: { logger } };
}

t.test('the table: queued → dispatched → responding → done | failed, a retry back to queued, done and failed final', async (t) => {
  const edges = PHASES.flatMap((from) => TRANSITIONS[from].map((to) => `${from} → ${to}`));
  t.same(edges, [
    'received → queued', 'received → failed', 'queued → dispatched', 'queued → failed',
    'dispatched → queued', 'dispatched → responding', 'dispatched → failed', 'responding → done', 'responding → failed',
  ]);
  t.same(PHASES.filter(isSettled), ['responding', 'done', 'failed']);
});

t.test('every allowed transition moves; every other one throws under test and leaves the phase', async (t) => {
  throwOnIllegalPhase(true);
  t.teardown(() => throwOnIllegalPhase(false));
  for (const from of PHASES) {
    for (const to of PHASES) {
      const exchange = exchangeAt(from);
      if (TRANSITIONS[from].includes(to)) {
        t.equal(moveTo(exchange, to), true, `${from} → ${to}`);
        t.equal(exchange.phase, to);
      } else {
        t.throws(() => moveTo(exchange, to), IllegalPhaseError, `${from} → ${to} is illegal`);
        t.equal(exchange.phase, from);
      }
    }
  }
});

t.test('in a running tier an illegal transition is logged at error level, not thrown', async (t) => {
  throwOnIllegalPhase(false);
  const capture = captureLogger();
  const exchange = exchangeAt('failed', capture.logger);
  t.equal(moveTo(exchange, 'responding'), false);
  t.equal(exchange.phase, 'failed');
  const line = capture.lines().find((entry) => entry.code === 'WEB_ERR_ILLEGAL_PHASE');
  t.match(line, { level: 50, from: 'failed', to: 'responding' });
});
