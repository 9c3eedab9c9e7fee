/**
 * What an incomplete request head has shown so far, for the log line of a 408: the mode once the target is
 * read, the destination once the target (forward, CONNECT) or the Host field (gateway) is. Rare path.
 */
import { FORM_ABSOLUTE, FORM_AUTHORITY, HEADER_STRIDE, type HeadParser } from '../http/index.js';
import type { Destination } from './destination-choice.js';
import { parseAbsoluteTarget, parseHostPort } from './target.js';

export function describePartialHead(p: HeadParser, d: Destination): void {
  d.mode = 'forward';
  d.authority = null;
  d.host = null;
  // A head that did not complete in one read was copied into the parser's own buffer (offsets point there).
  const buf = p.spilled ? p.own : p.buf;
  if (p.targetEnd < 0 || p.targetEnd > buf.length) return;
  try {
    if (p.targetForm === FORM_AUTHORITY) {
      d.mode = 'connect';
      d.authority = parseHostPort(buf, p.targetStart, p.targetEnd, 0, true);
    } else if (p.targetForm === FORM_ABSOLUTE) {
      d.authority = parseAbsoluteTarget(buf, p.targetStart, p.targetEnd);
    } else {
      d.mode = 'gateway';
      const k = p.hostIndex;
      if (k >= 0) d.authority = parseHostPort(buf, p.headers[k * HEADER_STRIDE + 2]!, p.headers[k * HEADER_STRIDE + 3]!, 80, false);
    }
  } catch {
    // a malformed destination: the log shows the mode only
  }
}
