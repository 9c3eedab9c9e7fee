/**
 * BodyParser: message body framing (RFC 9112 §6.3, §7.1). Content-Length and close-delimited bodies are counted;
 * chunked bodies are validated as they stream (sizes, extensions, CRLFs, trailer fields) without re-encoding: the
 * caller forwards buf[start, forwardEnd) as received (forwardEnd === i unless filterTrailers holds a trailer
 * section back). Decoded data, chunk headers and trailers are reported only when a test or fuzzer sets the
 * callbacks.
 */
import {
  asciiBytes, BACKSLASH, CHAR_CLASS, C_FIELD_CONTENT, C_OWS, C_QDTEXT, C_TCHAR, COLON, CR, DQUOTE, EQUALS,
  HEX_VALUE, HTAB, LF, SEMI, SP,
} from './chars.js';
import { BODY_CHUNKED, BODY_EOF, BODY_LENGTH, ERROR } from './constants.js';
import { statusOfReason } from './reasons.js';

export interface BodyLimits {
  /** bytes of chunk-ext per chunk header; default 4096 → CHUNK_EXTENSION_TOO_LARGE */
  maxChunkExtBytes?: number;
  /** bytes of the trailer section; default 16384 → TRAILER_TOO_LARGE */
  maxTrailerBytes?: number;
}

/** 2^49 - 1: the largest chunk size that can take one more hex digit and stay <= 2^53 - 1. */
const CHUNK_SHIFT_BOUND = 562949953421311;
/**
 * Hex digits in one chunk-size, leading zeros included, as Go's net/http (parseHexUint: "http chunk length too
 * large" at the 17th). The value bound alone lets "000…0001" run on forever; this bounds the line.
 */
const MAX_CHUNK_SIZE_DIGITS = 16;

/**
 * Trailer fields that frame, route or authenticate (RFC 9110 §6.5.1: not allowed as trailers; a recipient that
 * merges trailers into the header section could be misled). Dropped when filterTrailers is set.
 */
const DROPPED_TRAILER_NAMES = [
  'content-length', 'transfer-encoding', 'host', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer',
  'upgrade', 'proxy-authorization', 'proxy-authenticate', 'via',
];
/** DROPPED_BY_LENGTH[n]: the dropped names of n bytes, lowercase (letters and '-' only: | 0x20 folding is safe). */
const DROPPED_BY_LENGTH: Uint8Array[][] = [];
for (const name of DROPPED_TRAILER_NAMES) {
  while (DROPPED_BY_LENGTH.length <= name.length) DROPPED_BY_LENGTH.push([]);
  DROPPED_BY_LENGTH[name.length].push(asciiBytes(name));
}

const B_DONE = 0;
const B_LENGTH = 1;
const B_EOF = 2;
const B_SIZE_FIRST = 3; // first hex digit of a chunk-size
const B_SIZE = 4; // further hex digits
const B_EXT_NAME_FIRST = 5; // after ';'
const B_EXT_NAME = 6;
const B_EXT_VALUE_FIRST = 7; // after '='
const B_EXT_TOKEN = 8;
const B_EXT_QUOTED = 9;
const B_EXT_QUOTED_PAIR = 10;
const B_EXT_AFTER_QUOTED = 11;
const B_SIZE_LF = 12; // CR seen at the end of the chunk header
const B_DATA = 13;
const B_DATA_CR = 14;
const B_DATA_LF = 15;
const B_TRAILER_START = 16;
const B_TRAILER_NAME = 17;
const B_TRAILER_OWS = 18;
const B_TRAILER_VALUE = 19;
const B_TRAILER_LF = 20;
const B_END_LF = 21;
const B_FAILED = 22;

export class BodyParser {
  readonly maxChunkExtBytes: number;
  readonly maxTrailerBytes: number;
  done: boolean;
  error: string | null;
  errorStatus: number;
  remaining: number;
  onData: ((buf: Buffer, start: number, end: number) => void) | null;
  onTrailer: ((name: string, value: string) => void) | null;
  onChunk: ((size: number, extensions: string) => void) | null;
  /**
   * Hold the trailer section back and drop framing / routing fields from it (DROPPED_TRAILER_NAMES). Set by the
   * caller; reset() keeps it (one setting per connection); read when the first trailer field starts.
   */
  filterTrailers: boolean;
  /**
   * After each execute(): forward buf[start, forwardEnd) of that call. Equal to execute()'s result (ERROR
   * included) except with filterTrailers once a trailer field has started: from its first byte on, bytes are
   * consumed and held (copied), not forwarded; when done, takeTrailerSection() gives what to send after them.
   */
  forwardEnd: number;

  private state: number;
  private chunkSize: number;
  private sizeDigits: number;
  private extBytes: number;
  private trailerBytes: number;
  private extText: string;
  private trailerName: string;
  private trailerValue: string;
  /** filterTrailers: copies of the trailer bytes held so far; null until the first trailer field starts */
  private heldParts: Buffer[] | null;
  /** filterTrailers: the filtered trailer section once done, until taken */
  private trailerSection: Buffer | null;

  constructor(limits?: BodyLimits) {
    this.maxChunkExtBytes = limits?.maxChunkExtBytes ?? 4096;
    this.maxTrailerBytes = limits?.maxTrailerBytes ?? 16384;
    this.done = true;
    this.error = null;
    this.errorStatus = 0;
    this.remaining = 0;
    this.onData = null;
    this.onTrailer = null;
    this.onChunk = null;
    this.filterTrailers = false;
    this.forwardEnd = 0;
    this.state = B_DONE;
    this.chunkSize = 0;
    this.sizeDigits = 0;
    this.extBytes = 0;
    this.trailerBytes = 0;
    this.extText = '';
    this.trailerName = '';
    this.trailerValue = '';
    this.heldParts = null;
    this.trailerSection = null;
  }

  /**
   * Start a body of kind BODY_*; length is used for BODY_LENGTH. BODY_NONE and LENGTH 0 are done at once.
   * Callbacks and filterTrailers are kept; a trailer section not taken is dropped.
   */
  reset(kind: number, length: number): void {
    this.error = null;
    this.errorStatus = 0;
    this.remaining = 0;
    this.forwardEnd = 0;
    this.chunkSize = 0;
    this.sizeDigits = 0;
    this.extBytes = 0;
    this.trailerBytes = 0;
    this.extText = '';
    this.trailerName = '';
    this.trailerValue = '';
    this.heldParts = null;
    this.trailerSection = null;
    this.done = false;
    if (kind === BODY_LENGTH) {
      this.remaining = length > 0 ? length : 0;
      this.state = length > 0 ? B_LENGTH : B_DONE;
      this.done = length <= 0;
    } else if (kind === BODY_CHUNKED) {
      this.state = B_SIZE_FIRST;
    } else if (kind === BODY_EOF) {
      this.state = B_EOF;
    } else {
      this.state = B_DONE;
      this.done = true;
    }
  }

  /** End of input. True when that ends the body validly (close-delimited, or already done). */
  finish(): boolean {
    if (this.state === B_EOF) {
      this.state = B_DONE;
      this.done = true;
    }
    return this.done;
  }

  /**
   * Scan body bytes buf[start, end). Returns the index just past this body's last byte in buf, or ERROR; sets
   * forwardEnd (the end of what to forward from this call).
   */
  execute(buf: Buffer, start: number, end: number): number {
    const state = this.state;
    if (state === B_LENGTH) {
      const n = end - start < this.remaining ? end - start : this.remaining;
      this.remaining -= n;
      if (this.onData !== null && n > 0) this.onData(buf, start, start + n);
      if (this.remaining === 0) {
        this.state = B_DONE;
        this.done = true;
      }
      return (this.forwardEnd = start + n);
    }
    if (state === B_EOF) {
      if (this.onData !== null && end > start) this.onData(buf, start, end);
      return (this.forwardEnd = end);
    }
    if (state === B_DONE) return (this.forwardEnd = start);
    if (state === B_FAILED) return (this.forwardEnd = ERROR);
    return this.scanChunked(buf, start, end);
  }

  /**
   * filterTrailers: the trailer section to send after the forwarded bytes once done (the kept field lines as
   * received, then the final CRLF); null when none was held, or already taken.
   */
  takeTrailerSection(): Buffer | null {
    const s = this.trailerSection;
    this.trailerSection = null;
    return s;
  }

  private fail(code: string): number {
    this.error = code;
    this.errorStatus = statusOfReason(code);
    this.state = B_FAILED;
    return (this.forwardEnd = ERROR);
  }

  /** chunked-body = *chunk last-chunk trailer-section CRLF (RFC 9112 §7.1). */
  private scanChunked(buf: Buffer, start: number, end: number): number {
    const cls = CHAR_CLASS;
    let state = this.state;
    let i = start;
    while (i < end) {
      switch (state) {
        case B_DATA: {
          const avail = end - i;
          const n = avail < this.remaining ? avail : this.remaining;
          if (this.onData !== null) this.onData(buf, i, i + n);
          i += n;
          this.remaining -= n;
          if (this.remaining === 0) state = B_DATA_CR;
          continue;
        }
        case B_DATA_CR:
          if (buf[i++] !== CR) return this.fail('CHUNK_MISSING_CRLF');
          state = B_DATA_LF;
          continue;
        case B_DATA_LF:
          if (buf[i++] !== LF) return this.fail('CHUNK_MISSING_CRLF');
          state = B_SIZE_FIRST;
          continue;
        case B_SIZE_FIRST: {
          const d = HEX_VALUE[buf[i++]];
          if (d < 0) return this.fail('INVALID_CHUNK_SIZE');
          this.chunkSize = d;
          this.sizeDigits = 1;
          this.extBytes = 0;
          this.extText = '';
          state = B_SIZE;
          continue;
        }
        case B_SIZE: {
          const c = buf[i];
          const d = HEX_VALUE[c];
          if (d >= 0) {
            if (++this.sizeDigits > MAX_CHUNK_SIZE_DIGITS) return this.fail('CHUNK_SIZE_TOO_LONG');
            if (this.chunkSize > CHUNK_SHIFT_BOUND) return this.fail('CHUNK_SIZE_OVERFLOW');
            this.chunkSize = this.chunkSize * 16 + d;
            i++;
            continue;
          }
          if (c === CR) {
            i++;
            state = B_SIZE_LF;
          } else if (c === SEMI) {
            state = this.extByte(buf, i++, B_EXT_NAME_FIRST);
            if (state === B_FAILED) return ERROR;
          } else {
            // includes whitespace after the size: BWS is not accepted (llhttp rejects it too)
            return this.fail('INVALID_CHUNK_SIZE');
          }
          continue;
        }
        case B_EXT_NAME_FIRST:
        case B_EXT_NAME: {
          const c = buf[i];
          if ((cls[c] & C_TCHAR) !== 0) {
            state = this.extByte(buf, i++, B_EXT_NAME);
          } else if (state === B_EXT_NAME_FIRST) {
            return this.fail('INVALID_CHUNK_EXTENSION');
          } else if (c === EQUALS) {
            state = this.extByte(buf, i++, B_EXT_VALUE_FIRST);
          } else if (c === SEMI) {
            state = this.extByte(buf, i++, B_EXT_NAME_FIRST);
          } else if (c === CR) {
            i++;
            state = B_SIZE_LF;
          } else {
            return this.fail('INVALID_CHUNK_EXTENSION');
          }
          if (state === B_FAILED) return ERROR;
          continue;
        }
        case B_EXT_VALUE_FIRST:
        case B_EXT_TOKEN: {
          const c = buf[i];
          if ((cls[c] & C_TCHAR) !== 0) {
            state = this.extByte(buf, i++, B_EXT_TOKEN);
          } else if (state === B_EXT_VALUE_FIRST) {
            if (c !== DQUOTE) return this.fail('INVALID_CHUNK_EXTENSION');
            state = this.extByte(buf, i++, B_EXT_QUOTED);
          } else if (c === SEMI) {
            state = this.extByte(buf, i++, B_EXT_NAME_FIRST);
          } else if (c === CR) {
            i++;
            state = B_SIZE_LF;
          } else {
            return this.fail('INVALID_CHUNK_EXTENSION');
          }
          if (state === B_FAILED) return ERROR;
          continue;
        }
        case B_EXT_QUOTED: {
          const c = buf[i];
          if (c === DQUOTE) state = this.extByte(buf, i++, B_EXT_AFTER_QUOTED);
          else if (c === BACKSLASH) state = this.extByte(buf, i++, B_EXT_QUOTED_PAIR);
          else if ((cls[c] & C_QDTEXT) !== 0) state = this.extByte(buf, i++, B_EXT_QUOTED);
          else return this.fail('INVALID_CHUNK_EXTENSION');
          if (state === B_FAILED) return ERROR;
          continue;
        }
        case B_EXT_QUOTED_PAIR: {
          const c = buf[i];
          // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
          if ((cls[c] & C_FIELD_CONTENT) === 0) return this.fail('INVALID_CHUNK_EXTENSION');
          state = this.extByte(buf, i++, B_EXT_QUOTED);
          if (state === B_FAILED) return ERROR;
          continue;
        }
        case B_EXT_AFTER_QUOTED: {
          const c = buf[i];
          if (c === SEMI) {
            state = this.extByte(buf, i++, B_EXT_NAME_FIRST);
            if (state === B_FAILED) return ERROR;
          } else if (c === CR) {
            i++;
            state = B_SIZE_LF;
          } else {
            return this.fail('INVALID_CHUNK_EXTENSION');
          }
          continue;
        }
        case B_SIZE_LF: {
          if (buf[i++] !== LF) return this.fail(this.extBytes > 0 ? 'INVALID_CHUNK_EXTENSION' : 'INVALID_CHUNK_SIZE');
          if (this.onChunk !== null) this.onChunk(this.chunkSize, this.extText);
          if (this.chunkSize === 0) {
            this.trailerBytes = 0;
            state = B_TRAILER_START;
          } else {
            this.remaining = this.chunkSize;
            state = B_DATA;
          }
          continue;
        }
        default:
          this.state = state;
          return this.scanTrailers(buf, i, end);
      }
    }
    this.state = state;
    return (this.forwardEnd = end);
  }

  /** Count one byte of chunk-ext (and keep its text when onChunk listens); returns next or B_FAILED. */
  private extByte(buf: Buffer, at: number, next: number): number {
    if (++this.extBytes > this.maxChunkExtBytes) {
      this.fail('CHUNK_EXTENSION_TOO_LARGE');
      return B_FAILED;
    }
    if (this.onChunk !== null) this.extText += String.fromCharCode(buf[at]);
    return next;
  }

  /**
   * trailer-section = *( field-line CRLF ) then CRLF; validated like header fields (RFC 9112 §7.1.2). With
   * filterTrailers, bytes from the first field's first byte on are held (buf[hold, …) of this call).
   */
  private scanTrailers(buf: Buffer, start: number, end: number): number {
    const cls = CHAR_CLASS;
    let state = this.state;
    let i = start;
    const listening = this.onTrailer !== null;
    // Holding since an earlier call: that call ended in the trailer section, so this one starts in it.
    let hold = this.heldParts !== null ? start : -1;
    while (i < end) {
      if (++this.trailerBytes > this.maxTrailerBytes) return this.fail('TRAILER_TOO_LARGE');
      const c = buf[i++];
      switch (state) {
        case B_TRAILER_START:
          if (c === CR) {
            state = B_END_LF;
          } else if ((cls[c] & C_TCHAR) !== 0) {
            if (listening) {
              this.trailerName = String.fromCharCode(c);
              this.trailerValue = '';
            }
            if (hold < 0 && this.filterTrailers) {
              hold = i - 1;
              this.heldParts = [];
            }
            state = B_TRAILER_NAME;
          } else {
            return this.fail('INVALID_TRAILER');
          }
          continue;
        case B_TRAILER_NAME:
          if ((cls[c] & C_TCHAR) !== 0) {
            if (listening) this.trailerName += String.fromCharCode(c);
          } else if (c === COLON) {
            state = B_TRAILER_OWS;
          } else {
            return this.fail('INVALID_TRAILER');
          }
          continue;
        case B_TRAILER_OWS:
        case B_TRAILER_VALUE:
          if (state === B_TRAILER_OWS && (c === SP || c === HTAB)) continue;
          if ((cls[c] & C_FIELD_CONTENT) !== 0) {
            state = B_TRAILER_VALUE;
            if (listening) this.trailerValue += String.fromCharCode(c);
          } else if (c === CR) {
            state = B_TRAILER_LF;
          } else {
            return this.fail('INVALID_TRAILER');
          }
          continue;
        case B_TRAILER_LF:
          if (c !== LF) return this.fail('INVALID_TRAILER');
          if (listening) this.emitTrailer();
          state = B_TRAILER_START;
          continue;
        case B_END_LF:
          if (c !== LF) return this.fail('INVALID_TRAILER');
          this.state = B_DONE;
          this.done = true;
          return hold < 0 ? (this.forwardEnd = i) : this.holdTrailerBytes(buf, hold, i);
        default:
          return this.fail('INVALID_TRAILER');
      }
    }
    this.state = state;
    return hold < 0 ? (this.forwardEnd = end) : this.holdTrailerBytes(buf, hold, end);
  }

  /** filterTrailers: copy buf[from, to) (trailer bytes consumed, not forwarded); when done, filter them. Returns to. */
  private holdTrailerBytes(buf: Buffer, from: number, to: number): number {
    const parts = this.heldParts as Buffer[];
    this.forwardEnd = from;
    if (to > from) parts.push(Buffer.from(buf.subarray(from, to)));
    if (this.done) {
      this.trailerSection = filterTrailerSection(parts.length === 1 ? parts[0] : Buffer.concat(parts));
      this.heldParts = null;
    }
    return to;
  }

  private emitTrailer(): void {
    let v = this.trailerValue;
    let n = v.length;
    while (n > 0 && (CHAR_CLASS[v.charCodeAt(n - 1)] & C_OWS) !== 0) n--;
    if (n !== v.length) v = v.slice(0, n);
    (this.onTrailer as (name: string, value: string) => void)(this.trailerName, v);
  }
}

/** True when buf[start, end) (a validated token) is one of DROPPED_TRAILER_NAMES, compared folded. */
function isDroppedTrailerName(buf: Buffer, start: number, end: number): boolean {
  const n = end - start;
  if (n >= DROPPED_BY_LENGTH.length) return false;
  const candidates = DROPPED_BY_LENGTH[n];
  for (let k = 0; k < candidates.length; k++) {
    const name = candidates[k];
    let j = 0;
    while (j < n && (buf[start + j] | 0x20) === name[j]) j++;
    if (j === n) return true;
  }
  return false;
}

/**
 * A held, validated trailer section (field lines, then CRLF) without its dropped field lines; the same Buffer
 * when none is dropped. Rare path: only bodies with trailer fields and filterTrailers get here.
 */
function filterTrailerSection(held: Buffer): Buffer {
  let kept: Buffer[] | null = null;
  let keptFrom = 0;
  let p = 0;
  while (held[p] !== CR) {
    // a field line: tchar name, ':', value without CR or LF, CRLF
    const next = held.indexOf(LF, p) + 1;
    if (isDroppedTrailerName(held, p, held.indexOf(COLON, p))) {
      (kept ??= []).push(held.subarray(keptFrom, p));
      keptFrom = next;
    }
    p = next;
  }
  if (kept === null) return held;
  kept.push(held.subarray(keptFrom));
  return Buffer.concat(kept);
}
