import t from 'tap';
import { createRetryBudget } from '../../../web-tier/proxy/retry-budget.js';

t.test('retries are capped at the floor plus percent × requests over the window', async (t) => {
  let clock = 0;
  const budget = createRetryBudget({ percent: 20, minPerWindow: 2, windowMs: 10_000 }, () => clock);
  t.same([budget.tryRetry(), budget.tryRetry(), budget.tryRetry()], [true, true, false], 'the floor alone: 2');
  for (let index = 0; index < 10; index += 1) budget.recordRequest();
  t.same([budget.tryRetry(), budget.tryRetry(), budget.tryRetry()], [true, true, false], '2 + 20 % of 10 = 4 in all');
});

t.test('the window slides: old requests and retries stop counting', async (t) => {
  let clock = 0;
  const budget = createRetryBudget({ percent: 0, minPerWindow: 1, windowMs: 1_000 }, () => clock);
  t.equal(budget.tryRetry(), true);
  t.equal(budget.tryRetry(), false);
  clock = 500;
  t.equal(budget.tryRetry(), false, 'half a window later the retry still counts');
  clock = 1_000;
  t.equal(budget.tryRetry(), true, 'a whole window later it has slid out');
  clock = 1_000_000;
  t.equal(budget.tryRetry(), true, 'a long quiet time clears everything');
  t.equal(budget.tryRetry(), false);
});

t.test('0 % and floor 0: no retry ever', async (t) => {
  const budget = createRetryBudget({ percent: 0, minPerWindow: 0, windowMs: 1_000 });
  budget.recordRequest();
  t.equal(budget.tryRetry(), false);
});
