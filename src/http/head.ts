/**
 * HeadParser: incremental, zero-copy scanner for an HTTP/1.1 request or response head (RFC 9112 §2-§5).
 *
 * The hot loop (scan) is a state machine whose states each consume as many bytes as they can with one table
 * lookup per byte. Everything rare lives elsewhere: header semantics in head-fields.ts, the end-of-head checks
 * and target forms in head-finish.ts, failures in fail(), and the copy of a head that spans chunks in spill().
 *
 * Offsets: while a head sits in one chunk they index the caller's buffer. When a chunk ends inside a head, the
 * head's bytes so far are copied once into a parser-owned buffer (offsets shifted once), and from then on each
 * new chunk is appended there and scanning resumes where it stopped: O(n) total, even fed byte by byte.
 */
import { CHAR_CLASS, C_OWS, COLON, CR, HTAB, LF, SP, FIELD_CONTENT_TABLE, TCHAR_TABLE } from './chars.js';
import { ERROR, HEADER_STRIDE, METHOD_GET, NEED_MORE } from './constants.js';
import { HOP_BY_HOP_BY_ID, lookupHeader } from './known-headers.js';
import { statusOfReason } from './reasons.js';
import { applyKnownHeader } from './head-fields.js';
import { finishHead } from './head-finish.js';
import {
  S_DONE, S_FAILED, S_FIELD_START, S_HEAD_LF, S_NAME, S_START, S_VALUE, S_VALUE_LF, S_VALUE_OWS,
} from './states.js';
import { scanStartLine } from './start-line.js';

export interface HeadLimits {
  /** default 65536 → 431 HEAD_TOO_LARGE */
  maxHeadBytes: number;
  /** default 8192 → 414 URI_TOO_LONG for a request line, 400 STATUS_LINE_TOO_LONG for a status line */
  maxStartLineBytes: number;
  /** default 128 → 431 TOO_MANY_HEADERS */
  maxHeaders: number;
}

export const DEFAULT_HEAD_LIMITS: Readonly<HeadLimits> = { maxHeadBytes: 65536, maxStartLineBytes: 8192, maxHeaders: 128 };

const INITIAL_HEADER_SLOTS = 32;


// Module-local copies: the hot loop must not depend on how a loader binds imports (some turn them into getters).
const IS_TCHAR: Uint8Array = TCHAR_TABLE;
const IS_FIELD_CONTENT: Uint8Array = FIELD_CONTENT_TABLE;
const CLASS: Uint8Array = CHAR_CLASS;
const BIT_OWS = C_OWS;
const B_CR = CR;
const B_LF = LF;
const B_SP = SP;
const B_HTAB = HTAB;
const B_COLON = COLON;
/** Appends shorter than this are copied by a JS loop (a native Buffer.copy call costs more). */
const SMALL_COPY = 64;

export class HeadParser {
  readonly isRequest: boolean;
  readonly maxHeadBytes: number;
  readonly maxStartLineBytes: number;
  readonly maxHeaders: number;

  requestMethod: number;

  buf: Buffer;
  headStart: number;
  headEnd: number;
  method: number;
  methodStart: number;
  methodEnd: number;
  targetStart: number;
  targetEnd: number;
  targetForm: number;
  versionMinor: number;
  statusCode: number;
  reasonStart: number;
  reasonEnd: number;
  headerCount: number;
  headers: Int32Array;
  headerIds: Uint8Array;
  hopByHop: Uint8Array;
  contentLength: number;
  chunked: boolean;
  bodyKind: number;
  keepAlive: boolean;
  upgrade: boolean;
  expectContinue: boolean;
  hostIndex: number;
  error: string | null;
  errorStatus: number;

  // ---- scan state (internal, but read by head-fields.ts / head-finish.ts) ----
  state: number;
  /** position in the version literal, or digits of the status code seen */
  pos: number;
  emptyLines: number;
  nameStart: number;
  nameEnd: number;
  valueStart: number;
  /** raw end of the current value (its CR), before trimming trailing OWS */
  valueEndRaw: number;
  spilled: boolean;
  own: Buffer;
  ownLen: number;
  // framing facts gathered from the fields
  hasContentLength: boolean;
  hasTransferEncoding: boolean;
  teChunkedSeen: boolean;
  teLastChunked: boolean;
  connClose: boolean;
  connKeepAlive: boolean;
  connUpgrade: boolean;
  connOther: boolean;
  hasUpgradeHeader: boolean;

  constructor(kind: 'request' | 'response', limits?: Partial<HeadLimits>) {
    this.isRequest = kind === 'request';
    this.maxHeadBytes = limits?.maxHeadBytes ?? DEFAULT_HEAD_LIMITS.maxHeadBytes;
    this.maxStartLineBytes = limits?.maxStartLineBytes ?? DEFAULT_HEAD_LIMITS.maxStartLineBytes;
    this.maxHeaders = limits?.maxHeaders ?? DEFAULT_HEAD_LIMITS.maxHeaders;
    this.requestMethod = METHOD_GET;
    this.buf = EMPTY;
    this.headStart = -1;
    this.headEnd = -1;
    this.method = -1;
    this.methodStart = -1;
    this.methodEnd = -1;
    this.targetStart = -1;
    this.targetEnd = -1;
    this.targetForm = 0;
    this.versionMinor = -1;
    this.statusCode = 0;
    this.reasonStart = -1;
    this.reasonEnd = -1;
    this.headerCount = 0;
    const slots = Math.min(INITIAL_HEADER_SLOTS, Math.max(1, this.maxHeaders));
    this.headers = new Int32Array(slots * HEADER_STRIDE);
    this.headerIds = new Uint8Array(slots);
    this.hopByHop = new Uint8Array(slots);
    this.contentLength = -1;
    this.chunked = false;
    this.bodyKind = 0;
    this.keepAlive = false;
    this.upgrade = false;
    this.expectContinue = false;
    this.hostIndex = -1;
    this.error = null;
    this.errorStatus = 0;
    this.state = S_START;
    this.pos = 0;
    this.emptyLines = 0;
    this.nameStart = -1;
    this.nameEnd = -1;
    this.valueStart = -1;
    this.valueEndRaw = -1;
    this.spilled = false;
    this.own = EMPTY;
    this.ownLen = 0;
    this.hasContentLength = false;
    this.hasTransferEncoding = false;
    this.teChunkedSeen = false;
    this.teLastChunked = false;
    this.connClose = false;
    this.connKeepAlive = false;
    this.connUpgrade = false;
    this.connOther = false;
    this.hasUpgradeHeader = false;
  }

  /** Forget the message; the next execute() starts a new head. No allocation. */
  reset(): void {
    this.buf = EMPTY;
    this.headStart = -1;
    this.headEnd = -1;
    this.method = -1;
    this.methodStart = -1;
    this.methodEnd = -1;
    this.targetStart = -1;
    this.targetEnd = -1;
    this.targetForm = 0;
    this.versionMinor = -1;
    this.statusCode = 0;
    this.reasonStart = -1;
    this.reasonEnd = -1;
    this.headerCount = 0;
    this.contentLength = -1;
    this.chunked = false;
    this.bodyKind = 0;
    this.keepAlive = false;
    this.upgrade = false;
    this.expectContinue = false;
    this.hostIndex = -1;
    this.error = null;
    this.errorStatus = 0;
    this.state = S_START;
    this.pos = 0;
    this.emptyLines = 0;
    this.spilled = false;
    this.ownLen = 0;
    this.hasContentLength = false;
    this.hasTransferEncoding = false;
    this.teChunkedSeen = false;
    this.teLastChunked = false;
    this.connClose = false;
    this.connKeepAlive = false;
    this.connUpgrade = false;
    this.connOther = false;
    this.hasUpgradeHeader = false;
  }

  /** True once the start line has begun (skipped empty lines do not count) and until reset(). */
  isStarted(): boolean {
    return this.headStart >= 0;
  }

  /** True when execute() has returned the end of a complete head (until reset()). */
  isComplete(): boolean {
    return this.state === S_DONE;
  }

  /**
   * Scan buf[start, end). Returns the index just past the head (complete), NEED_MORE (all consumed; what must
   * be kept was copied), or ERROR (see error / errorStatus; sticky until reset()).
   */
  execute(buf: Buffer, start: number, end: number): number {
    if (this.state >= S_DONE) return this.state === S_FAILED ? ERROR : start;
    if (this.spilled) return this.executeSpilled(buf, start, end);
    const r = this.scan(buf, start, end);
    if (r >= 0) {
      this.buf = buf;
      return r;
    }
    if (r === NEED_MORE && this.headStart >= 0) this.spill(buf, end);
    return r;
  }

  /** A head that already spans chunks: append this chunk (at most what the limit allows) and resume. */
  private executeSpilled(buf: Buffer, start: number, end: number): number {
    const oldLen = this.ownLen;
    let n = end - start;
    const room = this.maxHeadBytes + 1 - oldLen;
    if (n > room) n = room;
    if (oldLen + n > this.own.length) this.growOwn(oldLen + n);
    const own = this.own;
    if (n < SMALL_COPY) for (let k = 0; k < n; k++) own[oldLen + k] = buf[start + k];
    else buf.copy(own, oldLen, start, start + n);
    this.ownLen = oldLen + n;
    const r = this.scan(this.own, oldLen, oldLen + n);
    if (r >= 0) {
      this.buf = this.own;
      return start + (r - oldLen);
    }
    return r;
  }

  /** The chunk ended inside the head: copy buf[headStart, end) into the owned buffer, shift offsets once. */
  private spill(buf: Buffer, end: number): void {
    const shift = this.headStart;
    const n = end - shift;
    if (n > this.own.length) this.growOwn(n);
    buf.copy(this.own, 0, shift, end);
    this.ownLen = n;
    this.spilled = true;
    this.headStart = 0;
    if (this.methodStart >= 0) this.methodStart -= shift;
    if (this.methodEnd >= 0) this.methodEnd -= shift;
    if (this.targetStart >= 0) this.targetStart -= shift;
    if (this.targetEnd >= 0) this.targetEnd -= shift;
    if (this.reasonStart >= 0) this.reasonStart -= shift;
    if (this.reasonEnd >= 0) this.reasonEnd -= shift;
    if (this.nameStart >= 0) this.nameStart -= shift;
    if (this.nameEnd >= 0) this.nameEnd -= shift;
    if (this.valueStart >= 0) this.valueStart -= shift;
    if (this.valueEndRaw >= 0) this.valueEndRaw -= shift;
    const h = this.headers;
    const last = this.headerCount * HEADER_STRIDE;
    for (let k = 0; k < last; k++) h[k] -= shift;
  }

  private growOwn(need: number): void {
    let size = this.own.length === 0 ? 1024 : this.own.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    if (this.ownLen > 0) this.own.copy(next, 0, 0, this.ownLen);
    this.own = next;
  }

  private growHeaders(): void {
    const slots = Math.min(this.headerIds.length * 2, this.maxHeaders);
    const headers = new Int32Array(slots * HEADER_STRIDE);
    headers.set(this.headers);
    const ids = new Uint8Array(slots);
    ids.set(this.headerIds);
    const hop = new Uint8Array(slots);
    hop.set(this.hopByHop);
    this.headers = headers;
    this.headerIds = ids;
    this.hopByHop = hop;
  }

  /** Record a failure; the parser stays failed until reset(). */
  fail(code: string): number {
    this.error = code;
    this.errorStatus = statusOfReason(code);
    this.state = S_FAILED;
    return ERROR;
  }

  /** The hot loop. buf holds the whole head from headStart (the caller's chunk or the owned copy). */
  private scan(buf: Buffer, start: number, end: number): number {
    const tchar = IS_TCHAR;
    const content = IS_FIELD_CONTENT;
    let state = this.state;
    let i = start;
    if (state < S_FIELD_START) {
      // once per head: the start line (start-line.ts)
      i = scanStartLine(this, buf, start, end);
      if (i === ERROR) return ERROR;
      state = this.state;
    }
    while (i < end) {
      switch (state) {
        case S_VALUE: {
          // four bytes per step while they are all valid, then byte by byte to the stop byte
          const last4 = end - 4;
          while (i <= last4 && (content[buf[i]] & content[buf[i + 1]] & content[buf[i + 2]] & content[buf[i + 3]]) !== 0) i += 4;
          let c = 0;
          while (i < end && content[(c = buf[i])] !== 0) i++;
          if (i === end) break;
          if (c !== B_CR) return this.fail(c === B_LF ? 'BARE_LF' : 'INVALID_HEADER_VALUE');
          this.valueEndRaw = i++;
          state = S_VALUE_LF;
          continue;
        }
        case S_VALUE_LF: {
          if (buf[i] !== B_LF) return this.fail('BARE_CR');
          i++;
          if (i - this.headStart > this.maxHeadBytes) return this.fail('HEAD_TOO_LARGE');
          if (this.endField(buf, i) === ERROR) return ERROR;
          state = S_FIELD_START;
          continue;
        }
        case S_FIELD_START: {
          let c = buf[i];
          if (tchar[c] !== 0) {
            if (this.headerCount >= this.maxHeaders) return this.fail('TOO_MANY_HEADERS');
            this.nameStart = i++;
            // Fast path: the whole field line is usually in this chunk; scan it straight through and fall back
            // to the per-state cases below only where the chunk ends.
            let last4 = end - 4;
            while (i <= last4 && (tchar[buf[i]] & tchar[buf[i + 1]] & tchar[buf[i + 2]] & tchar[buf[i + 3]]) !== 0) i += 4;
            while (i < end && tchar[(c = buf[i])] !== 0) i++;
            if (i === end) {
              state = S_NAME;
              break;
            }
            if (c !== B_COLON) return this.fail(c === B_SP || c === B_HTAB ? 'SPACE_BEFORE_COLON' : 'INVALID_HEADER_NAME');
            this.nameEnd = i++;
            while (i < end && ((c = buf[i]) === B_SP || c === B_HTAB)) i++;
            if (i === end) {
              state = S_VALUE_OWS;
              break;
            }
            this.valueStart = i;
            last4 = end - 4;
            while (i <= last4 && (content[buf[i]] & content[buf[i + 1]] & content[buf[i + 2]] & content[buf[i + 3]]) !== 0) i += 4;
            while (i < end && content[(c = buf[i])] !== 0) i++;
            if (i === end) {
              state = S_VALUE;
              break;
            }
            if (c !== B_CR) return this.fail(c === B_LF ? 'BARE_LF' : 'INVALID_HEADER_VALUE');
            this.valueEndRaw = i++;
            if (i === end) {
              state = S_VALUE_LF;
              break;
            }
            if (buf[i] !== B_LF) return this.fail('BARE_CR');
            i++;
            if (i - this.headStart > this.maxHeadBytes) return this.fail('HEAD_TOO_LARGE');
            if (this.endField(buf, i) === ERROR) return ERROR;
            continue;
          }
          if (c === B_CR) {
            i++;
            state = S_HEAD_LF;
            continue;
          }
          return this.failFieldStart(c);
        }
        case S_NAME: {
          const last4 = end - 4;
          while (i <= last4 && (tchar[buf[i]] & tchar[buf[i + 1]] & tchar[buf[i + 2]] & tchar[buf[i + 3]]) !== 0) i += 4;
          let c = 0;
          while (i < end && tchar[(c = buf[i])] !== 0) i++;
          if (i === end) break;
          if (c !== B_COLON) return this.fail(c === B_SP || c === B_HTAB ? 'SPACE_BEFORE_COLON' : 'INVALID_HEADER_NAME');
          this.nameEnd = i++;
          state = S_VALUE_OWS;
          continue;
        }
        case S_VALUE_OWS: {
          while (i < end && (CLASS[buf[i]] & BIT_OWS) !== 0) i++;
          if (i === end) break;
          this.valueStart = i;
          state = S_VALUE;
          continue;
        }
        case S_HEAD_LF: {
          if (buf[i] !== B_LF) return this.fail('BARE_CR');
          i++;
          if (i - this.headStart > this.maxHeadBytes) return this.fail('HEAD_TOO_LARGE');
          this.headEnd = i;
          if (finishHead(this, buf) === ERROR) return ERROR;
          this.state = S_DONE;
          return i;
        }
        default:
          return this.fail('INVALID_STATE');
      }
    }
    this.state = state;
    return this.needMore(end);
  }

  /** Every byte consumed without completing the head: enforce the limits on what is retained. */
  private needMore(end: number): number {
    if (this.headStart < 0) return NEED_MORE;
    const size = end - this.headStart;
    if (size > this.maxHeadBytes) return this.fail('HEAD_TOO_LARGE');
    if (this.state < S_FIELD_START && size > this.maxStartLineBytes) {
      return this.fail(this.isRequest ? 'URI_TOO_LONG' : 'STATUS_LINE_TOO_LONG');
    }
    return NEED_MORE;
  }

  private failFieldStart(c: number): number {
    if (c === B_LF) return this.fail('BARE_LF');
    if (c === B_SP || c === B_HTAB) return this.fail('OBS_FOLD');
    if (c === B_COLON) return this.fail('EMPTY_HEADER_NAME');
    return this.fail('INVALID_HEADER_NAME');
  }

  /** A field line ended at lineEnd (just past its LF): record its offsets, then apply known-header semantics. */
  private endField(buf: Buffer, lineEnd: number): number {
    const k = this.headerCount;
    if (k >= this.headerIds.length) this.growHeaders();
    const vs = this.valueStart;
    let ve = this.valueEndRaw;
    while (ve > vs && (CLASS[buf[ve - 1]] & BIT_OWS) !== 0) ve--;
    const b = k * HEADER_STRIDE;
    const h = this.headers;
    h[b] = this.nameStart;
    h[b + 1] = this.nameEnd;
    h[b + 2] = vs;
    h[b + 3] = ve;
    h[b + 4] = lineEnd;
    const id = lookupHeader(buf, this.nameStart, this.nameEnd);
    this.headerIds[k] = id;
    this.hopByHop[k] = HOP_BY_HOP_BY_ID[id];
    this.headerCount = k + 1;
    return id === 0 ? 0 : applyKnownHeader(this, buf, id, k, vs, ve);
  }

  // ---- convenience (allocates strings) ----
  methodName(): string {
    return this.methodStart < 0 ? '' : this.buf.toString('latin1', this.methodStart, this.methodEnd);
  }
  target(): string {
    return this.targetStart < 0 ? '' : this.buf.toString('latin1', this.targetStart, this.targetEnd);
  }
  reason(): string {
    return this.reasonStart < 0 ? '' : this.buf.toString('latin1', this.reasonStart, this.reasonEnd);
  }
  headerName(i: number): string {
    const b = i * HEADER_STRIDE;
    return this.buf.toString('latin1', this.headers[b], this.headers[b + 1]);
  }
  headerValue(i: number): string {
    const b = i * HEADER_STRIDE;
    return this.buf.toString('latin1', this.headers[b + 2], this.headers[b + 3]);
  }
  findHeader(id: number, from = 0): number {
    const ids = this.headerIds;
    for (let k = from < 0 ? 0 : from; k < this.headerCount; k++) if (ids[k] === id) return k;
    return -1;
  }
}

const EMPTY = Buffer.alloc(0);
