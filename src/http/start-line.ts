/**
 * The start line of a head (RFC 9112 §3 request-line, §4 status-line), scanned once per message, separately
 * from the hot field loop in head.ts. Skips up to MAX_EMPTY_LINES empty lines first (RFC 9112 §2.2).
 */
import { CHAR_CLASS, C_DIGIT, CR, FIELD_CONTENT_TABLE, LF, SP, TARGET_TABLE, TCHAR_TABLE } from './chars.js';
import { ERROR } from './constants.js';
import type { HeadParser } from './head.js';
import { classifyTarget } from './head-finish.js';
import { lookupMethod } from './known-headers.js';
import {
  S_FIELD_START, S_METHOD, S_REASON, S_REQ_VERSION, S_RES_VERSION, S_START, S_START_LF, S_START_LINE_LF, S_STATUS,
  S_STATUS_END, S_TARGET,
} from './states.js';

const IS_TCHAR: Uint8Array = TCHAR_TABLE;
const IS_TARGET: Uint8Array = TARGET_TABLE;
const IS_FIELD_CONTENT: Uint8Array = FIELD_CONTENT_TABLE;
const CLASS: Uint8Array = CHAR_CLASS;
const BIT_DIGIT = C_DIGIT;
const B_CR = CR;
const B_LF = LF;
const B_SP = SP;

/** Empty lines (CRLF) skipped before a start line; more is TOO_MANY_EMPTY_LINES. */
const MAX_EMPTY_LINES = 8;

/** "HTTP/1." */
const HTTP_1_DOT = [0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e];
const VERSION_DIGIT_POS = 7;

function hasHttp1Prefix(buf: Buffer, i: number): boolean {
  return buf[i] === 0x48 && buf[i + 1] === 0x54 && buf[i + 2] === 0x54 && buf[i + 3] === 0x50 &&
    buf[i + 4] === 0x2f && buf[i + 5] === 0x31 && buf[i + 6] === 0x2e;
}

/**
 * Scan the start line from buf[start]. Returns the index after it with p.state === S_FIELD_START, or end with
 * p.state still a start-line state (more input needed), or ERROR.
 */
export function scanStartLine(p: HeadParser, buf: Buffer, start: number, end: number): number {
  const tchar = IS_TCHAR;
  const content = IS_FIELD_CONTENT;
  let state = p.state;
  let i = start;
  while (i < end && state < S_FIELD_START) {
    switch (state) {
      case S_START: {
        const c = buf[i];
        if (c === B_CR) {
          i++;
          state = S_START_LF;
          continue;
        }
        if (c === B_LF) return p.fail('BARE_LF');
        p.headStart = i;
        if (p.isRequest) {
          p.methodStart = i;
          state = S_METHOD;
        } else {
          p.pos = 0;
          state = S_RES_VERSION;
        }
        continue;
      }
      case S_START_LF: {
        if (buf[i] !== B_LF) return p.fail('BARE_CR');
        i++;
        if (++p.emptyLines > MAX_EMPTY_LINES) return p.fail('TOO_MANY_EMPTY_LINES');
        state = S_START;
        continue;
      }
      case S_METHOD: {
        let c = 0;
        while (i < end && tchar[(c = buf[i])] !== 0) i++;
        if (i === end) break;
        if (c !== B_SP || i === p.methodStart) return p.fail('INVALID_METHOD');
        p.methodEnd = i;
        p.method = lookupMethod(buf, p.methodStart, i);
        p.targetStart = ++i;
        state = S_TARGET;
        continue;
      }
      case S_TARGET: {
        const target = IS_TARGET;
        const last4 = end - 4;
        while (i <= last4 && (target[buf[i]] & target[buf[i + 1]] & target[buf[i + 2]] & target[buf[i + 3]]) !== 0) i += 4;
        let c = 0;
        while (i < end && target[(c = buf[i])] !== 0) i++;
        if (i === end) break;
        if (i - p.headStart > p.maxStartLineBytes) return p.fail('URI_TOO_LONG');
        if (c !== B_SP) return p.fail(c === B_CR || c === B_LF ? 'INVALID_VERSION' : 'INVALID_TARGET');
        if (i === p.targetStart) return p.fail('INVALID_TARGET');
        p.targetEnd = i++;
        if (classifyTarget(p, buf) === ERROR) return ERROR;
        p.pos = 0;
        state = S_REQ_VERSION;
        continue;
      }
      case S_REQ_VERSION:
      case S_RES_VERSION: {
        if (p.pos === 0 && end - i > VERSION_DIGIT_POS && hasHttp1Prefix(buf, i)) {
          // fast path: "HTTP/1.0" or "HTTP/1.1" in one go; the byte after it goes the byte-by-byte way below
          const d = buf[i + VERSION_DIGIT_POS];
          if (d === 0x30 || d === 0x31) {
            p.versionMinor = d - 0x30;
            p.pos = VERSION_DIGIT_POS + 1;
            i += VERSION_DIGIT_POS + 1;
            continue;
          }
        }
        const c = buf[i++];
        const at = p.pos++;
        if (at < VERSION_DIGIT_POS) {
          if (c !== HTTP_1_DOT[at]) return p.fail('INVALID_VERSION');
        } else if (at === VERSION_DIGIT_POS) {
          if (c !== 0x30 && c !== 0x31) return p.fail('INVALID_VERSION');
          p.versionMinor = c - 0x30;
        } else if (state === S_REQ_VERSION) {
          if (c !== B_CR) return p.fail(c === B_LF ? 'BARE_LF' : 'INVALID_VERSION');
          state = S_START_LINE_LF;
        } else {
          if (c !== B_SP) return p.fail('INVALID_VERSION');
          p.pos = 0;
          p.statusCode = 0;
          state = S_STATUS;
        }
        continue;
      }
      case S_STATUS: {
        const c = buf[i++];
        if ((CLASS[c] & BIT_DIGIT) === 0) return p.fail('INVALID_STATUS');
        p.statusCode = p.statusCode * 10 + (c - 0x30);
        if (++p.pos === 3) {
          if (p.statusCode < 100) return p.fail('INVALID_STATUS');
          state = S_STATUS_END;
        }
        continue;
      }
      case S_STATUS_END: {
        const c = buf[i];
        if (c === B_SP) {
          p.reasonStart = ++i;
          state = S_REASON;
        } else if (c === B_CR) {
          p.reasonStart = p.reasonEnd = i++;
          state = S_START_LINE_LF;
        } else {
          return p.fail(c === B_LF ? 'BARE_LF' : 'INVALID_STATUS');
        }
        continue;
      }
      case S_REASON: {
        let c = 0;
        while (i < end && content[(c = buf[i])] !== 0) i++;
        if (i === end) break;
        if (c !== B_CR) return p.fail(c === B_LF ? 'BARE_LF' : 'INVALID_REASON');
        p.reasonEnd = i++;
        state = S_START_LINE_LF;
        continue;
      }
      case S_START_LINE_LF: {
        if (buf[i] !== B_LF) return p.fail('BARE_CR');
        i++;
        if (i - p.headStart > p.maxStartLineBytes) {
          return p.fail(p.isRequest ? 'URI_TOO_LONG' : 'STATUS_LINE_TOO_LONG');
        }
        state = S_FIELD_START;
        continue;
      }      default:
        return p.fail('INVALID_STATE');
    }
  }
  p.state = state;
  return i;
}
