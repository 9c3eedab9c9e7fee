/**
 * Which protocol switches pass through (access.upgrades, default [websocket], like Envoy's upgrade_configs).
 *
 * A 101 turns the connection into a raw tunnel that no per-request rule sees again: an `Upgrade: h2c` accepted
 * by the origin would carry requests past route and policy checks. So the request keeps only the Upgrade
 * protocols on the list; with none left it goes as an ordinary request (rewrite.ts drops Upgrade,
 * HTTP2-Settings and the upgrade option), and a 101 must name a protocol that was offered.
 *
 * Upgrade = #protocol, protocol = protocol-name ["/" protocol-version] (RFC 9110 §7.8). Upgrade requests are
 * rare: strings are fine here.
 */
import { CHAR_CLASS, C_OWS, C_TCHAR } from '../http/chars.js';
import { H_UPGRADE, HEADER_STRIDE, type HeadParser } from '../http/index.js';

/** What the request may switch to: the Upgrade line to forward and the protocol names it offers. */
export interface UpgradeOffer {
  readonly line: Buffer;
  /** Lower-case protocol names offered. */
  readonly protocols: readonly string[];
}

/** The allowed part of the request's Upgrade fields, or null when no protocol named there is allowed. */
export function offeredUpgrade(p: HeadParser, allowed: readonly string[]): UpgradeOffer | null {
  if (allowed.length === 0) return null;
  const kept: string[] = [];
  const protocols: string[] = [];
  forEachProtocol(p, (name, text) => {
    if (allowed.includes(name)) {
      kept.push(text);
      if (!protocols.includes(name)) protocols.push(name);
    }
  });
  if (kept.length === 0) return null;
  return { line: Buffer.from(`Upgrade: ${kept.join(', ')}\r\n`, 'latin1'), protocols };
}

/** Whether a 101's Upgrade names protocols, all of them offered (RFC 9110 §7.8: it says what it switches to). */
export function isAcceptedUpgrade(p: HeadParser, offer: UpgradeOffer): boolean {
  let named = 0;
  let unknown = 0;
  forEachProtocol(p, (name) => {
    named++;
    if (!offer.protocols.includes(name)) unknown++;
  });
  return named > 0 && unknown === 0;
}

/**
 * Calls `each(lowerCaseName, asWritten)` for every well-formed protocol of every Upgrade field; members that
 * are not `token ["/" token]` are skipped (they cannot be allowed, so they are never forwarded).
 */
function forEachProtocol(p: HeadParser, each: (name: string, text: string) => void): void {
  const buf = p.buf;
  const h = p.headers;
  for (let k = p.findHeader(H_UPGRADE); k >= 0; k = p.findHeader(H_UPGRADE, k + 1)) {
    const ve = h[k * HEADER_STRIDE + 3]!;
    let i = h[k * HEADER_STRIDE + 2]!;
    while (i < ve) {
      const c = buf[i]!;
      if (c === 0x2c || (CHAR_CLASS[c]! & C_OWS) !== 0) {
        i++;
        continue;
      }
      const ms = i;
      while (i < ve && buf[i] !== 0x2c) i++;
      let me = i;
      while (me > ms && (CHAR_CLASS[buf[me - 1]!]! & C_OWS) !== 0) me--;
      let j = ms;
      while (j < me && (CHAR_CLASS[buf[j]!]! & C_TCHAR) !== 0) j++;
      const nameEnd = j;
      if (nameEnd === ms) continue;
      if (j < me) {
        if (buf[j] !== 0x2f) continue;
        j++;
        const vs = j;
        while (j < me && (CHAR_CLASS[buf[j]!]! & C_TCHAR) !== 0) j++;
        if (j === vs || j < me) continue;
      }
      each(buf.toString('latin1', ms, nameEnd).toLowerCase(), buf.toString('latin1', ms, me));
    }
  }
}
