/**
 * Who may reach the operator endpoints (/-/…): peer addresses and Host names. Validated once by
 * web-tier/config.ts; applied live on reload.
 */
import { z } from 'zod';
import type { Frozen } from '../../common/config.js';
import { OPERATOR_HOST_ENTRY } from '../../common/operator-host.js';
import { parseCidr } from '../peer-allow.js';

export const operatorSchema = z.object({
  /** Peers allowed on the operator endpoints: IP addresses or CIDR blocks. Loopback only by default. */
  allow: z.array(z.string().refine((value) => parseCidr(value) !== undefined, 'must be an IP address or CIDR block such as 10.0.0.0/8'), { error: 'must be a list of IP addresses or CIDR blocks' }),
  /** Host names the operator endpoints answer besides loopback names and IP literals; any other Host → 421 (DNS rebinding, common/operator-host.ts). */
  hosts: z.array(z.string().regex(OPERATOR_HOST_ENTRY, 'must be a host name without port (e.g. ops.example.net)'), { error: 'must be a list of host names' }),
}).strict();

export type OperatorAccessConfig = Frozen<z.infer<typeof operatorSchema>>;

export const OPERATOR_DEFAULTS: OperatorAccessConfig = Object.freeze({
  allow: Object.freeze(['127.0.0.0/8', '::1/128']),
  hosts: Object.freeze([]),
});

/** The flat config-file keys used before the sections (issue 14) → their place in this one. */
export const OPERATOR_FORMER_KEYS: Readonly<Record<string, string>> = { operatorAllow: 'allow', operatorHosts: 'hosts' };
