/**
 * The config in use, and what the stages read from it on every request (limits, trusted
 * proxies, operator access checks, classification options), derived once per config instead
 * of once per request. A reload replaces it whole with `apply`; nothing else changes it.
 */
import { createOperatorHostCheck } from '../common/operator-host.js';
import type { ClassifyOptions } from './classify.js';
import { cgiEnabled, type WebConfig } from './config.js';
import type { LimitOptions } from './limits.js';
import type { LingerOptions } from './lingering-close.js';
import { createPeerAllow } from './peer-allow.js';
import { appPrefixes } from './proxy/routes.js';

export interface LiveConfig {
  readonly config: WebConfig;
  readonly limits: LimitOptions;
  readonly linger: LingerOptions;
  readonly trusted: ReadonlySet<string>;
  readonly classifyOptions: ClassifyOptions;
  /** WEB_OPERATOR_ALLOW: may this peer address reach the operator endpoints? */
  allowPeer(address: string): boolean;
  /** WEB_OPERATOR_HOSTS: is this Host an operator name (DNS rebinding)? */
  allowHost(host: string | undefined): boolean;
  apply(next: WebConfig): void;
}

export function limitsOf(config: WebConfig): LimitOptions {
  const { maxBodyBytes, maxUrlBytes, maxHeaderBytes, maxHeaderFields, headersTimeoutMs, requestTimeoutMs } = config.limits;
  return { maxBodyBytes, maxUrlBytes, maxHeaderBytes, maxHeaderFields, headersTimeoutMs, requestTimeoutMs, serverNames: config.server.serverNames, keepAliveTimeoutMs: config.server.keepAliveTimeoutMs };
}

function lingerOf(config: WebConfig): LingerOptions {
  const { lingeringTimeMs, lingeringTimeoutMs, lingeringMaxBytes } = config.limits;
  return { lingeringTimeMs, lingeringTimeoutMs, lingeringMaxBytes };
}

export function createLiveConfig(initial: WebConfig): LiveConfig {
  const derive = (config: WebConfig) => ({
    config,
    limits: limitsOf(config),
    linger: lingerOf(config),
    trusted: new Set(config.server.trustedProxies) as ReadonlySet<string>,
    // WEB_ROUTES' prefixes are app paths too (their groups are picked in the proxy: proxy/routed.ts).
    classifyOptions: { dynamicPrefixes: appPrefixes(config.server.dynamicPrefixes, config.routes), cgi: cgiEnabled(config) },
    allowPeer: createPeerAllow(config.operator.allow),
    allowHost: createOperatorHostCheck(config.operator.hosts),
  });
  let current = derive(initial);
  return {
    get config() { return current.config; },
    get limits() { return current.limits; },
    get linger() { return current.linger; },
    get trusted() { return current.trusted; },
    get classifyOptions() { return current.classifyOptions; },
    allowPeer: (address) => current.allowPeer(address),
    allowHost: (host) => current.allowHost(host),
    apply(next) {
      current = derive(next);
    },
  };
}
