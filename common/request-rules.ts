/**
 * The HTTP/1.1 syntax rules a hand-typed request most often breaks, in words a learner at a
 * terminal can act on. Both tiers answer such a request with 400 and put the rule in the error
 * body's `message`, so `nc` or `telnet` shows what to fix instead of a bare "Bad Request".
 */

export const RULES = Object.freeze({
  crlf: 'every line of the request head must end with CR LF ("\\r\\n"), not a bare LF (RFC 9112 §2.2); with nc use -C, with printf write \\r\\n',
  missingHost: 'an HTTP/1.1 request must carry a Host header (RFC 9112 §3.2); add a line such as "Host: localhost" after the request line',
  duplicateHost: 'a request must carry exactly one Host header (RFC 9112 §3.2)',
  invalidHost: 'the Host header must be a host name or address with an optional port (RFC 9110 §7.2, RFC 3986 §3.2.2)',
});

/** What node's parser hands a 'clientError' listener. */
export interface ParserErrorLike {
  readonly code?: string | undefined;
  readonly reason?: string | undefined;
  readonly rawPacket?: Buffer | undefined;
  readonly bytesParsed?: number | undefined;
}

/**
 * The rule a parse error broke, when it is one of RULES. llhttp names a bare LF differently by
 * where it is (HPE_INVALID_VERSION "Expected CRLF after version", HPE_CR_EXPECTED, or
 * HPE_INVALID_HEADER_TOKEN for the blank line), so the bytes up to the error are looked at too.
 */
export function parserErrorRule(error: ParserErrorLike): string | undefined {
  if (error.code === 'HPE_CR_EXPECTED' || error.code === 'HPE_LF_EXPECTED' || /\bCRLF\b/.test(error.reason ?? '')) return RULES.crlf;
  const packet = error.rawPacket;
  if (packet !== undefined && error.code?.startsWith('HPE_') === true) {
    const end = Math.min(packet.length, (error.bytesParsed ?? packet.length) + 1);
    for (let index = packet.indexOf(0x0a); index !== -1 && index < end; index = packet.indexOf(0x0a, index + 1)) {
      if (index === 0 || packet[index - 1] !== 0x0d) return RULES.crlf;
    }
  }
  return undefined;
}

/** The web tier's refusal reasons (web-tier/limits.ts checkRequest) that have a rule to show. */
const REASON_RULES: Readonly<Record<string, string>> = {
  'missing Host': RULES.missingHost,
  'duplicate Host': RULES.duplicateHost,
  'invalid Host': RULES.invalidHost,
};

export function reasonRule(reason: string): string | undefined {
  return REASON_RULES[reason];
}
