/**
 * A failed job says that it failed, never why: the job's JSON is answered to anyone who knows its
 * URL (no token is needed to poll), and an exception's message can carry a file path, a SQL
 * fragment or a value from the store (OWASP ASVS V7.4.1: a generic message to the client, the
 * detail in the log). The log line keeps the detail and the job id that ties the two together.
 */
import t from 'tap';
import { Writable } from 'node:stream';
import { createLogger } from '../../../common/logger.js';
import { createJobRunner } from '../../../app-tier/app/jobs/runner.js';
import { createMemoryStore } from '../../helpers/memory-store.js';

t.test('a step that throws: the job is failed, its error generic; the detail is only in the log', async (t) => {
  const store = createMemoryStore();
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const logger = createLogger({ tier: 'app', level: 'info', destination });
  const runner = createJobRunner({
    store,
    logger,
    stepDelayMs: 1,
    leaseMs: 5_000,
    pid: process.pid,
    kinds: {
      boom: {
        step: async () => {
          throw new Error('ENOENT: /srv/secret/db-password.txt (token=hunter2)');
        },
      },
    },
  });
  t.teardown(() => runner.close());
  const job = await store.createJob({ id: 'a2b9c1e0-0000-4000-8000-000000000001', kind: 'boom', total: 1, data: '{}', nextStepAt: 0 });
  await runner.advance(job.id, 1_000);
  const failed = await store.getJob(job.id);
  t.equal(failed?.state, 'failed');
  t.notMatch(failed?.error ?? '', /hunter2|secret|ENOENT/, 'nothing of the exception reaches the stored, public error');
  t.match(failed?.error ?? '', /failed/, 'it still says what happened');
  const logged = lines.find((line) => line.msg === 'job step failed');
  t.match(logged, { job: job.id, err: { message: /hunter2/ } }, 'the operator gets the detail, by job id');
});
