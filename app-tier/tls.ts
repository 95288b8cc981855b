/**
 * The app tier listening with TLS (issue 15, multi-box): APP_TLS_CERT (PEM chain, leaf first) and
 * APP_TLS_KEY, so web → app can cross an untrusted network; the web tier verifies this
 * certificate against WEB_UPSTREAM_CA (web-tier/proxy/upstream-tls.ts). The protocol and cipher
 * settings are the web tier's HTTPS listener's (TLS 1.2/1.3, ECDHE + AEAD only; their reasons in
 * web-tier/tls/settings.ts). Read by the primary at start (a bad pair is one line, exit 1, before
 * any worker forks) and by each worker when it builds its server.
 */
import { createSecureContext } from 'node:tls';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../common/config.js';
import { TLS_SETTINGS } from '../web-tier/tls/settings.js';
import type { AppConfig } from './config.js';

export interface AppTlsOptions {
  readonly cert: string;
  readonly key: string;
}

/** The server options for https.createServer: the fixed settings plus this box's pair. */
export function appTlsServerOptions(pair: AppTlsOptions): typeof TLS_SETTINGS & AppTlsOptions {
  return { ...TLS_SETTINGS, ...pair };
}

function readPem(key: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(key, `${key}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
  }
}

/**
 * The certificate and key when TLS is configured (loadConfig already refused one without the
 * other), checked to belong together; undefined when the app tier listens in plain HTTP.
 */
export function readAppTls(config: Pick<AppConfig, 'tlsCertFile' | 'tlsKeyFile'>): AppTlsOptions | undefined {
  if (config.tlsCertFile === undefined || config.tlsKeyFile === undefined) return undefined;
  const pair = { cert: readPem('APP_TLS_CERT', config.tlsCertFile), key: readPem('APP_TLS_KEY', config.tlsKeyFile) };
  try {
    // OpenSSL checks here what a handshake would find later: PEM that parses, a key that matches.
    createSecureContext(appTlsServerOptions(pair));
  } catch (error) {
    throw new ConfigError('APP_TLS_KEY', `APP_TLS_CERT/APP_TLS_KEY: ${config.tlsCertFile} and ${config.tlsKeyFile} are not a usable certificate and key (${(error as Error).message})`, { cause: error });
  }
  return pair;
}
