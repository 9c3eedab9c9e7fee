/**
 * An incremental TLS ClientHello scanner: reads the first bytes a client sends
 * (any TCP split, any split over TLS records) and decides whether they are a
 * ClientHello, and if so which server_name and ALPN protocols it offers.
 * The caller keeps its own buffers and replays them upstream; the scanner holds
 * at most the ClientHello body (≤ maxBytes), and none at all when the whole
 * message arrives inside one record of one chunk (it is read in place).
 *
 * Rules (RFC 8446 §4.1.2, §5.1; RFC 5246; RFC 6066 §3; RFC 7301):
 * - First byte not 22 (handshake), or first record major version not 3 → CH_NOT_TLS.
 * - Record version 0x0300 (SSLv3) → CH_INVALID 'SSL3_RECORD_VERSION': it is TLS-family
 *   framing, so the caller should refuse it rather than treat it as another protocol.
 *   Other versions outside 0x0301..0x0304 → CH_INVALID 'BAD_RECORD_VERSION'.
 * - Record length 1..2^14; later records of the message must be type 22 too.
 * - Handshake type 1; body length ≤ maxBytes, else CH_TOO_LARGE.
 * - Extensions may be absent (body ends after compression_methods): CH_DONE with no SNI/ALPN.
 * - SNI: one host_name entry; entries of other name types are skipped (assuming the
 *   16-bit length every implementation uses). One trailing dot is removed (RFC 6066
 *   forbids it, but dns/name.ts drops it too, so policy sees the same name either way).
 *   Letters, digits, hyphen, `_` (as dns/name.ts allows), labels 1..63 without
 *   leading/trailing hyphen, 1..253 bytes. A numeric (or `0x…`) last label or a `:` is an
 *   IP literal → CH_INVALID 'SNI_IP_LITERAL'.
 *
 * Verdicts are sticky: after a terminal code, push() returns it again until reset().
 * Bytes consumed before a verdict are at most 6 × (maxBytes + 4) (1-byte records),
 * so a caller that buffers for replay should bound its wait by that or by time.
 * push() never throws. Byte loops only; rare paths are separate functions.
 */

export const CH_NEED_MORE = 0;
export const CH_DONE = 1;
export const CH_NOT_TLS = 2;
export const CH_INVALID = 3;
export const CH_TOO_LARGE = 4;

export interface ClientHelloLimits {
  /** Largest ClientHello body (the handshake's 24-bit length) accepted; default 16384. */
  maxBytes?: number;
}

export const DEFAULT_MAX_CLIENT_HELLO_BYTES = 16384;
const MAX_RECORD_LENGTH = 16384;
const MAX_HANDSHAKE_LENGTH = 0xffffff;
const CONTENT_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
/** draft-ietf-tls-esni: the SNI seen is then the outer, public name. */
const EXT_ENCRYPTED_CLIENT_HELLO = 0xfe0d;
const NAME_TYPE_HOST_NAME = 0;
const MAX_NAME_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;
const RANDOM_LENGTH = 32;
const MAX_SESSION_ID_LENGTH = 32;
const CH_DOT = 0x2e;
const CH_HYPHEN = 0x2d;
const CH_COLON = 0x3a;

export class ClientHelloScanner {
  private readonly maxBytes: number;
  private code!: number;
  private _reason!: string | null;
  private _serverName!: string | null;
  private _alpn!: string[] | null;
  private _hasEch!: boolean;
  /** Records started so far (the first one decides NOT_TLS versus INVALID). */
  private records!: number;
  /** Bytes of the current record header seen (0..5); 5 once its payload is being read. */
  private recordHeaderGot!: number;
  private recordLength!: number;
  /** Payload bytes of the current record not yet consumed. */
  private recordLeft!: number;
  /** Bytes of the 4-byte handshake header seen. */
  private handshakeHeaderGot!: number;
  private bodyLength!: number;
  private bodyGot!: number;
  /** The body assembled across records or chunks; null while it can still be read in place. */
  private body!: Buffer | null;

  constructor(limits?: ClientHelloLimits) {
    const maxBytes = limits?.maxBytes ?? DEFAULT_MAX_CLIENT_HELLO_BYTES;
    if (!Number.isInteger(maxBytes) || maxBytes < 1 || maxBytes > MAX_HANDSHAKE_LENGTH) {
      throw new RangeError(`maxBytes must be an integer in 1..${MAX_HANDSHAKE_LENGTH}, got ${maxBytes}`);
    }
    this.maxBytes = maxBytes;
    this.reset();
  }

  /** After CH_DONE: the SNI host_name, lower-cased, one trailing dot removed; null when absent. */
  get serverName(): string | null { return this._serverName; }
  /** After CH_DONE: the ALPN protocol names offered (latin1), or null without the extension. */
  get alpn(): readonly string[] | null { return this._alpn; }
  /** A stable reason code after CH_NOT_TLS / CH_INVALID / CH_TOO_LARGE; null otherwise. */
  get reason(): string | null { return this._reason; }
  /** After CH_DONE: an encrypted_client_hello extension was offered, so serverName is only the ECH public name. */
  get hasEncryptedClientHello(): boolean { return this._hasEch; }
  /** The current verdict (CH_NEED_MORE until one is reached). */
  get verdict(): number { return this.code; }

  reset(): void {
    this.code = CH_NEED_MORE;
    this._reason = null;
    this._serverName = null;
    this._alpn = null;
    this._hasEch = false;
    this.records = 0;
    this.recordHeaderGot = 0;
    this.recordLength = 0;
    this.recordLeft = 0;
    this.handshakeHeaderGot = 0;
    this.bodyLength = 0;
    this.bodyGot = 0;
    this.body = null;
  }

  /** Feed the next bytes (not kept unless the body spans chunks or records; then copied). Returns a CH_* code. */
  push(chunk: Uint8Array): number {
    if (this.code !== CH_NEED_MORE) return this.code;
    const n = chunk.length;
    let pos = 0;
    while (pos < n) {
      if (this.recordLeft === 0) {
        if (this.recordHeaderByte(chunk[pos]!) !== CH_NEED_MORE) return this.code;
        pos++;
        continue;
      }
      if (this.handshakeHeaderGot < 4) {
        this.recordLeft--;
        if (this.handshakeHeaderByte(chunk[pos]!) !== CH_NEED_MORE) return this.code;
        pos++;
        continue;
      }
      let take = this.bodyLength - this.bodyGot;
      if (take > this.recordLeft) take = this.recordLeft;
      if (take > n - pos) take = n - pos;
      if (this.bodyGot === 0 && take === this.bodyLength) {
        return this.finish(parseClientHelloBody(chunk, pos, pos + take));
      }
      this.copyBody(chunk, pos, take);
      pos += take;
      this.recordLeft -= take;
      if (this.bodyGot === this.bodyLength) return this.finish(parseClientHelloBody(this.body!, 0, this.bodyLength));
    }
    return CH_NEED_MORE;
  }

  /** Rare path: the body spans chunks or records, so it is assembled in a buffer of its exact length. */
  private copyBody(chunk: Uint8Array, pos: number, take: number): void {
    if (this.body === null) this.body = Buffer.allocUnsafe(this.bodyLength);
    this.body.set(chunk.subarray(pos, pos + take), this.bodyGot);
    this.bodyGot += take;
  }

  /** One byte of a 5-byte record header; decides as early as a byte allows. */
  private recordHeaderByte(b: number): number {
    const at = this.recordHeaderGot++;
    const isFirst = this.records === 0;
    switch (at) {
      case 0:
        if (b !== CONTENT_HANDSHAKE) return isFirst ? this.fail(CH_NOT_TLS, 'NOT_HANDSHAKE_RECORD') : this.fail(CH_INVALID, 'INTERLEAVED_RECORD');
        return CH_NEED_MORE;
      case 1:
        if (b !== 3) return isFirst ? this.fail(CH_NOT_TLS, 'NOT_TLS_RECORD_VERSION') : this.fail(CH_INVALID, 'BAD_RECORD_VERSION');
        return CH_NEED_MORE;
      case 2:
        if (b === 0) return this.fail(CH_INVALID, 'SSL3_RECORD_VERSION');
        if (b > 4) return this.fail(CH_INVALID, 'BAD_RECORD_VERSION');
        return CH_NEED_MORE;
      case 3:
        this.recordLength = b << 8;
        return CH_NEED_MORE;
      default: {
        const length = this.recordLength | b;
        if (length === 0) return this.fail(CH_INVALID, 'EMPTY_RECORD');
        if (length > MAX_RECORD_LENGTH) return this.fail(CH_INVALID, 'RECORD_TOO_LONG');
        this.recordLength = length;
        this.recordLeft = length;
        this.recordHeaderGot = 0;
        this.records++;
        return CH_NEED_MORE;
      }
    }
  }

  /** One byte of the 4-byte handshake header (type, 24-bit length). */
  private handshakeHeaderByte(b: number): number {
    const at = this.handshakeHeaderGot++;
    if (at === 0) {
      if (b !== HANDSHAKE_CLIENT_HELLO) return this.fail(CH_INVALID, 'NOT_CLIENT_HELLO');
      return CH_NEED_MORE;
    }
    this.bodyLength = (this.bodyLength << 8) | b;
    if (at < 3) return CH_NEED_MORE;
    if (this.bodyLength > this.maxBytes) return this.fail(CH_TOO_LARGE, 'CLIENT_HELLO_TOO_LARGE');
    if (this.bodyLength === 0) return this.finish(parseClientHelloBody(EMPTY, 0, 0));
    return CH_NEED_MORE;
  }

  /** Take the body parser's verdict from `parsed`. */
  private finish(code: number): number {
    this.code = code;
    this.body = null;
    this._reason = parsed.reason;
    this._serverName = parsed.serverName;
    this._alpn = parsed.alpn;
    this._hasEch = parsed.hasEch;
    return code;
  }

  private fail(code: number, reason: string): number {
    this.code = code;
    this._reason = reason;
    this.body = null;
    return code;
  }
}

const EMPTY = new Uint8Array(0);

/**
 * Extension types seen in the current body: seen[type] === generation. A generation
 * per parse avoids clearing; the table is refilled when the 16-bit counter wraps.
 * Module scratch is safe because a parse never yields.
 */
const seen = new Uint16Array(65536);
let generation = 0;

function nextGeneration(): number {
  generation++;
  if (generation === 0x10000) {
    seen.fill(0);
    generation = 1;
  }
  return generation;
}

/** The body parser's findings, read by finish() right after a parse (module scratch: a parse never yields). */
const parsed: { reason: string | null; serverName: string | null; alpn: string[] | null; hasEch: boolean } = {
  reason: null, serverName: null, alpn: null, hasEch: false,
};

function invalid(reason: string): number {
  parsed.reason = reason;
  parsed.serverName = null;
  parsed.alpn = null;
  parsed.hasEch = false;
  return CH_INVALID;
}

function found(serverName: string | null, alpn: string[] | null, hasEch: boolean): number {
  parsed.reason = null;
  parsed.hasEch = hasEch;
  parsed.serverName = serverName;
  parsed.alpn = alpn;
  return CH_DONE;
}

function failNull(reason: string): null {
  invalid(reason);
  return null;
}

const u16 = (b: Uint8Array, i: number): number => (b[i]! << 8) | b[i + 1]!;

/** Parse a whole ClientHello body in b[start, end). Returns CH_DONE or CH_INVALID, the details in `parsed`. */
function parseClientHelloBody(b: Uint8Array, start: number, end: number): number {
  let p = start;
  if (end - p < 2 + RANDOM_LENGTH + 1) return invalid('TRUNCATED_CLIENT_HELLO');
  if (b[p] !== 3 || b[p + 1]! < 1) return invalid('BAD_CLIENT_VERSION');
  p += 2 + RANDOM_LENGTH;
  const sessionIdLength = b[p++]!;
  if (sessionIdLength > MAX_SESSION_ID_LENGTH) return invalid('BAD_SESSION_ID');
  p += sessionIdLength;
  if (end - p < 2) return invalid('TRUNCATED_CLIENT_HELLO');
  const suitesLength = u16(b, p);
  p += 2;
  if (suitesLength < 2 || (suitesLength & 1) !== 0) return invalid('BAD_CIPHER_SUITES');
  if (end - p < suitesLength + 1) return invalid('TRUNCATED_CLIENT_HELLO');
  p += suitesLength;
  const compressionLength = b[p++]!;
  if (compressionLength < 1) return invalid('BAD_COMPRESSION_METHODS');
  if (end - p < compressionLength) return invalid('TRUNCATED_CLIENT_HELLO');
  p += compressionLength;
  if (p === end) {
    return found(null, null, false); // no extensions: allowed before TLS 1.3 (RFC 5246 §7.4.1.2)
  }
  if (end - p < 2) return invalid('TRUNCATED_EXTENSIONS');
  const extensionsLength = u16(b, p);
  p += 2;
  if (extensionsLength > end - p) return invalid('TRUNCATED_EXTENSIONS');
  if (extensionsLength < end - p) return invalid('TRAILING_BYTES');
  return parseExtensions(b, p, end);
}

function parseExtensions(b: Uint8Array, start: number, end: number): number {
  const gen = nextGeneration();
  let serverName: string | null = null;
  let alpn: string[] | null = null;
  let hasEch = false;
  let p = start;
  while (p < end) {
    if (end - p < 4) return invalid('TRUNCATED_EXTENSION');
    const type = u16(b, p);
    const length = u16(b, p + 2);
    p += 4;
    if (length > end - p) return invalid('TRUNCATED_EXTENSION');
    if (seen[type] === gen) return invalid('DUPLICATE_EXTENSION');
    seen[type] = gen;
    if (type === EXT_SERVER_NAME) {
      serverName = parseServerName(b, p, p + length);
      if (serverName === null) return CH_INVALID;
    } else if (type === EXT_ALPN) {
      alpn = parseAlpn(b, p, p + length);
      if (alpn === null) return CH_INVALID;
    } else if (type === EXT_ENCRYPTED_CLIENT_HELLO) {
      hasEch = true;
    }
    p += length;
  }
  return found(serverName, alpn, hasEch);
}

/** RFC 6066 §3 ServerNameList. Returns the host name, or null after invalid(). */
function parseServerName(b: Uint8Array, start: number, end: number): string | null {
  if (end - start < 2 || u16(b, start) !== end - start - 2) return failNull('BAD_SNI_LENGTH');
  let p = start + 2;
  if (p === end) return failNull('SNI_EMPTY_LIST');
  let nameStart = -1;
  let nameEnd = -1;
  while (p < end) {
    if (end - p < 3) return failNull('BAD_SNI_LENGTH');
    const nameType = b[p]!;
    const length = u16(b, p + 1);
    p += 3;
    if (length > end - p) return failNull('BAD_SNI_LENGTH');
    if (nameType === NAME_TYPE_HOST_NAME) {
      if (nameStart >= 0) return failNull('SNI_DUPLICATE_HOST_NAME');
      nameStart = p;
      nameEnd = p + length;
    }
    p += length;
  }
  if (nameStart < 0) return failNull('SNI_NOT_HOST_NAME');
  return readHostName(b, nameStart, nameEnd);
}

/** Byte classes: 0 = not allowed, 1 = lower-case letter, hyphen or `_`, 2 = upper-case letter, 3 = digit. */
const HOST_CHAR = buildHostCharTable();

function buildHostCharTable(): Uint8Array {
  const table = new Uint8Array(256);
  for (let c = 0x61; c <= 0x7a; c++) table[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) table[c] = 2;
  for (let c = 0x30; c <= 0x39; c++) table[c] = 3;
  table[CH_HYPHEN] = 1;
  table[0x5f] = 1;
  return table;
}

/** Scratch for folding a name to lower case (at most MAX_NAME_LENGTH bytes). */
const foldBuffer = Buffer.allocUnsafe(MAX_NAME_LENGTH);

function readHostName(b: Uint8Array, start: number, rawEnd: number): string | null {
  let end = rawEnd;
  if (end > start && b[end - 1] === CH_DOT) end--;
  const length = end - start;
  if (length === 0) return failNull('SNI_EMPTY_NAME');
  if (length > MAX_NAME_LENGTH) return failNull('SNI_NAME_TOO_LONG');
  let labelStart = start;
  let isLastLabelNumeric = true;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c === CH_DOT) {
      if (!isGoodLabel(b, labelStart, i)) return failNull('SNI_BAD_NAME');
      foldBuffer[i - start] = CH_DOT;
      labelStart = i + 1;
      isLastLabelNumeric = true;
      continue;
    }
    const cls = HOST_CHAR[c]!;
    if (cls === 0) return failNull(isIPv6Like(b, start, end) ? 'SNI_IP_LITERAL' : 'SNI_BAD_NAME');
    if (cls !== 3) isLastLabelNumeric = false;
    foldBuffer[i - start] = cls === 2 ? c | 0x20 : c;
  }
  if (!isGoodLabel(b, labelStart, end)) return failNull('SNI_BAD_NAME');
  if (isLastLabelNumeric || isHexLabel(b, labelStart, end)) return failNull('SNI_IP_LITERAL');
  return foldBuffer.toString('latin1', 0, length);
}

function isGoodLabel(b: Uint8Array, start: number, end: number): boolean {
  const n = end - start;
  return n > 0 && n <= MAX_LABEL_LENGTH && b[start] !== CH_HYPHEN && b[end - 1] !== CH_HYPHEN;
}

/** `0x…` last label: WHATWG URL parsing reads it as a number (as dns/name.ts does). */
function isHexLabel(b: Uint8Array, start: number, end: number): boolean {
  if (end - start < 2 || b[start] !== 0x30 || (b[start + 1]! | 0x20) !== 0x78) return false;
  for (let i = start + 2; i < end; i++) if (!isHexDigit(b[i]!)) return false;
  return true;
}

/** Rare path: a name with a `:` made only of hex digits, colons and dots reads as IPv6. */
function isIPv6Like(b: Uint8Array, start: number, end: number): boolean {
  let hasColon = false;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c === CH_COLON) hasColon = true;
    else if (c !== CH_DOT && !isHexDigit(c)) return false;
  }
  return hasColon;
}

function isHexDigit(c: number): boolean {
  const l = c | 0x20;
  return (c >= 0x30 && c <= 0x39) || (l >= 0x61 && l <= 0x66);
}

/** RFC 7301 ProtocolNameList: non-empty, each name 1..255 bytes. Returns the names, or null after invalid(). */
function parseAlpn(b: Uint8Array, start: number, end: number): string[] | null {
  if (end - start < 2 || u16(b, start) !== end - start - 2) return failNull('BAD_ALPN_LENGTH');
  let p = start + 2;
  if (p === end) return failNull('ALPN_EMPTY_LIST');
  const names: string[] = [];
  while (p < end) {
    const length = b[p++]!;
    if (length === 0) return failNull('ALPN_EMPTY_NAME');
    if (length > end - p) return failNull('BAD_ALPN_LENGTH');
    names.push(latin1(b, p, p + length));
    p += length;
  }
  return names;
}

function latin1(b: Uint8Array, start: number, end: number): string {
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1');
}
