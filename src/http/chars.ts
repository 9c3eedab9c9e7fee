/**
 * Byte classes for the HTTP/1.1 scanner, as 256-entry tables built once at load from sets named after the ABNF
 * rules of RFC 9110 / RFC 9112 / RFC 3986. One table, one bit per class, so a hot loop does a single lookup.
 */

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;
export const COLON = 0x3a;
export const COMMA = 0x2c;
export const SEMI = 0x3b;
export const DQUOTE = 0x22;
export const BACKSLASH = 0x5c;
export const EQUALS = 0x3d;

/** tchar (RFC 9110 §5.6.2): the bytes of a token (method, header name, coding, chunk-ext-name). */
export const C_TCHAR = 1;
/** field-vchar / SP / HTAB (RFC 9110 §5.5): VCHAR and obs-text, plus the whitespace allowed inside a value. */
export const C_FIELD_CONTENT = 2;
/** request-target bytes accepted: visible ASCII 0x21-0x7E (what llhttp accepts); no CTL, SP, DEL or >= 0x80. */
export const C_TARGET = 4;
/** DIGIT (RFC 5234). */
export const C_DIGIT = 8;
/** HEXDIG (case-insensitive, as RFC 9112 §7.1 chunk-size). */
export const C_HEXDIG = 16;
/** reg-name bytes of an authority (RFC 3986 §3.2.2): unreserved / sub-delims / "%" (pct-encoded). */
export const C_REG_NAME = 32;
/** qdtext (RFC 9110 §5.6.4): HTAB / SP / 0x21 / 0x23-0x5B / 0x5D-0x7E / obs-text. */
export const C_QDTEXT = 64;
/** OWS bytes: SP / HTAB. */
export const C_OWS = 128;

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let b = from; b <= to; b++) out.push(b);
  return out;
}
function bytesOf(s: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i));
  return out;
}

const ALPHA = [...range(0x41, 0x5a), ...range(0x61, 0x7a)];
const DIGIT = range(0x30, 0x39);
const VCHAR = range(0x21, 0x7e);
const OBS_TEXT = range(0x80, 0xff);
const OWS = [SP, HTAB];
const TCHAR = [...bytesOf("!#$%&'*+-.^_`|~"), ...DIGIT, ...ALPHA];
const FIELD_CONTENT = [...VCHAR, ...OBS_TEXT, ...OWS];
const TARGET = VCHAR;
const HEXDIG = [...DIGIT, ...range(0x41, 0x46), ...range(0x61, 0x66)];
const UNRESERVED = [...ALPHA, ...DIGIT, ...bytesOf('-._~')];
const SUB_DELIMS = bytesOf("!$&'()*+,;=");
const REG_NAME = [...UNRESERVED, ...SUB_DELIMS, 0x25];
const QDTEXT = [HTAB, SP, 0x21, ...range(0x23, 0x5b), ...range(0x5d, 0x7e), ...OBS_TEXT];

function buildClassTable(): Uint8Array {
  const t = new Uint8Array(256);
  const add = (set: number[], bit: number): void => {
    for (const b of set) t[b] |= bit;
  };
  add(TCHAR, C_TCHAR);
  add(FIELD_CONTENT, C_FIELD_CONTENT);
  add(TARGET, C_TARGET);
  add(DIGIT, C_DIGIT);
  add(HEXDIG, C_HEXDIG);
  add(REG_NAME, C_REG_NAME);
  add(QDTEXT, C_QDTEXT);
  add(OWS, C_OWS);
  return t;
}

/** CHAR_CLASS[byte] = OR of the C_* bits whose set contains byte. */
export const CHAR_CLASS: Uint8Array = buildClassTable();

function tableOf(bit: number): Uint8Array {
  const t = new Uint8Array(256);
  for (let b = 0; b < 256; b++) t[b] = (CHAR_CLASS[b] & bit) !== 0 ? 1 : 0;
  return t;
}

/** 1 for tchar, else 0 (the hottest classes get their own table: one load and a compare with 0). */
export const TCHAR_TABLE: Uint8Array = tableOf(C_TCHAR);
/** 1 for field-vchar / SP / HTAB, else 0. */
export const FIELD_CONTENT_TABLE: Uint8Array = tableOf(C_FIELD_CONTENT);
/** 1 for accepted request-target bytes, else 0. */
export const TARGET_TABLE: Uint8Array = tableOf(C_TARGET);

function buildHexValues(): Int8Array {
  const t = new Int8Array(256).fill(-1);
  for (let d = 0; d < 10; d++) t[0x30 + d] = d;
  for (let d = 0; d < 6; d++) {
    t[0x41 + d] = 10 + d;
    t[0x61 + d] = 10 + d;
  }
  return t;
}

/** HEX_VALUE[byte] = 0..15 for HEXDIG, -1 otherwise. */
export const HEX_VALUE: Int8Array = buildHexValues();

/**
 * Compare buf[start, end) with an ASCII-lowercase word, folding the buffer bytes with | 0x20.
 * Only safe when the word consists of letters, digits and '-' (no other byte folds onto those).
 */
export function equalsFolded(buf: Buffer, start: number, end: number, lowerWord: Uint8Array): boolean {
  const n = lowerWord.length;
  if (end - start !== n) return false;
  for (let j = 0; j < n; j++) {
    if ((buf[start + j] | 0x20) !== lowerWord[j]) return false;
  }
  return true;
}

export function asciiBytes(s: string): Uint8Array {
  return Uint8Array.from(bytesOf(s));
}
