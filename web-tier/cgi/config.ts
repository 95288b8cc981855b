/**
 * The CGI gateway's settings (/cgi-bin/NAME runs a program per request). Validated once by
 * web-tier/config.ts; createCgiHandler trusts them.
 */
import { z } from 'zod';
import { fields, type Frozen } from '../../common/config.js';

export const cgiSchema = z.object({
  /**
   * WEB_CGI. Off by default: off, /cgi-bin/ is an ordinary static path and no script ever runs.
   * WEB_DYNAMIC=cgi turns the gateway on too (cgiEnabled).
   */
  enabled: z.boolean({ error: 'must be true or false' }),
  /** CGI scripts; relative → against the package root. */
  dir: z.string({ error: 'must be a directory path' }).min(1, 'must be a directory path'),
  /** The whole process group is killed after this; the client gets 504. */
  timeoutMs: fields.positiveInt('a number of milliseconds (1 or more)'),
  /** Live CGI processes at most; one more request gets 503 with Retry-After. */
  maxProcesses: fields.positiveInt('a positive integer'),
}).strict();

export type CgiConfig = Frozen<z.infer<typeof cgiSchema>>;

export const CGI_DEFAULTS: CgiConfig = Object.freeze({
  enabled: false,
  dir: 'web-tier/cgi-bin',
  timeoutMs: 30_000,
  maxProcesses: 32,
});

/** Whether /cgi-bin/ runs scripts: WEB_CGI=on, or WEB_DYNAMIC=cgi (which needs the gateway for the app). */
export function cgiEnabled(config: { readonly cgi: Pick<CgiConfig, 'enabled'>; readonly server: { readonly dynamic: string } }): boolean {
  return config.cgi.enabled || config.server.dynamic === 'cgi';
}

/** The flat config-file keys used before the sections (issue 14) → their place in this one. */
export const CGI_FORMER_KEYS: Readonly<Record<string, string>> = {
  cgi: 'enabled', cgiDir: 'dir', cgiTimeoutMs: 'timeoutMs', cgiMaxProcesses: 'maxProcesses',
};
