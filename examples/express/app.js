/**
 * A small Express app deployed on twotier: the same Express code you would hand to
 * http.createServer, turned into a twotier Application by fromNodeHandler, so it runs as persistent
 * workers, embedded in the web tier, and as CGI. Its routes live under /api/ (one of the web tier's
 * default dynamic prefixes). It keeps no state between requests: under CGI every request is a
 * new process.
 */
import { Readable } from 'node:stream';
import express from 'express';
import { fromNodeHandler } from 'twotier';

/** The Express app itself; also what bench/ and the tests hand to a plain http.createServer. */
export function createExpressApp() {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '64kb' }));

  const api = express.Router();
  api.get('/hello', (req, res) => {
    res.json({ hello: typeof req.query.name === 'string' ? req.query.name : 'world' });
  });
  // JSON body parser.
  api.post('/greetings', (req, res) => {
    const name = req.body?.name;
    if (typeof name !== 'string' || name === '') {
      res.status(400).json({ error: 'name must be a non-empty string' });
      return;
    }
    res.status(201).location(`/api/hello?name=${encodeURIComponent(name)}`).json({ greeting: `Hello, ${name}!` });
  });
  // A cookie set, and read back from the Cookie header.
  api.post('/login', (req, res) => {
    const user = typeof req.body?.user === 'string' ? req.body.user : 'guest';
    res.cookie('user', user, { httpOnly: true, sameSite: 'lax', path: '/api/' }).json({ user });
  });
  api.get('/whoami', (req, res) => {
    const match = /(?:^|;\s*)user=([^;]*)/.exec(req.headers.cookie ?? '');
    res.json({ user: match === null ? null : decodeURIComponent(match[1]) });
  });
  // A redirect.
  api.get('/old-hello', (req, res) => res.redirect(301, '/api/hello'));
  // A streamed response: a line at a time, through pipe() and its back-pressure.
  api.get('/count', (req, res) => {
    const to = Math.min(Number(req.query.to) || 5, 10_000);
    res.type('text/plain');
    Readable.from((function* lines() {
      for (let n = 1; n <= to; n += 1) yield `${n}\n`;
    })()).pipe(res);
  });
  app.use('/api', api);

  // Errors as JSON, the same in every mode (Express's own page shows a stack outside production).
  app.use((req, res) => res.status(404).json({ error: 'not found' }));
  // eslint-disable-next-line no-unused-vars
  app.use((error, req, res, next) => res.status(error.status ?? 500).json({ error: error.expose ? error.message : 'internal error' }));
  return app;
}

/** @type {import('twotier').CreateApp} */
export default function createApp() {
  return fromNodeHandler(createExpressApp());
}
