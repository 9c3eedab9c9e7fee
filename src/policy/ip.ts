/**
 * IP literal text ↔ numbers: the one IPv4/IPv6 parser in dfp. Host
 * normalisation (dns/name.ts), the destination classifier (address.ts), CIDR
 * rules, listen addresses and the config all read addresses through here, so
 * what normalisation calls an IP literal and what the guard classifies cannot
 * disagree. Strict forms only, byte loops, no RegExp; imports nothing.
 *
 * - IPv4: exactly four decimal octets 0-255 without leading zeros. Short
 *   (`127.1`), hex (`0x7f.0.0.1`), octal (`0177.0.0.1`) and 32-bit number
 *   spellings are not IPv4 here: resolvers disagree on them.
 * - IPv6: RFC 4291 text (1-4 hex digits a group, one `::` for at least one
 *   group, an optional dotted-quad tail). A non-empty `%zone` suffix is
 *   ignored by parseIPv6; callers that refuse zones check hasZone.
 */

const CH_DOT = 0x2e;
const CH_COLON = 0x3a;
const CH_PERCENT = 0x25;

/**
 * Parse a dotted-quad IPv4 literal in text[from, to) into an unsigned 32-bit
 * number; -1 when it is not one.
 */
export function parseIPv4(text: string, from = 0, to = text.length): number {
  let value = 0;
  let parts = 0;
  let i = from;
  while (parts < 4) {
    let octet = 0;
    let digits = 0;
    const start = i;
    while (i < to) {
      const c = text.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      octet = octet * 10 + (c - 0x30);
      digits++;
      i++;
    }
    if (digits === 0 || digits > 3 || octet > 255) return -1;
    if (digits > 1 && text.charCodeAt(start) === 0x30) return -1; // leading zero: ambiguous (octal)
    value = value * 256 + octet;
    parts++;
    if (parts < 4) {
      if (i >= to || text.charCodeAt(i) !== CH_DOT) return -1;
      i++;
    }
  }
  return i === to ? value : -1;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const f = c | 0x20;
  if (f >= 0x61 && f <= 0x66) return f - 0x61 + 10;
  return -1;
}

/**
 * Parse an IPv6 literal in text[from, to) (RFC 4291 text forms, optional
 * trailing dotted IPv4, optional non-empty "%zone" which is ignored) into
 * `out` (16 bytes, network order). False when invalid.
 */
export function parseIPv6(text: string, out: Uint8Array, from = 0, to = text.length): boolean {
  let end = to;
  for (let k = from; k < end; k++) {
    if (text.charCodeAt(k) === CH_PERCENT) {
      if (k === end - 1) return false; // empty zone
      end = k;
      break;
    }
  }
  out.fill(0);
  let i = from;
  let pos = 0; // next byte to write
  let gap = -1; // byte index where "::" was
  if (end - from >= 2 && text.charCodeAt(from) === CH_COLON) {
    if (text.charCodeAt(from + 1) !== CH_COLON) return false;
    gap = 0;
    i = from + 2;
    if (i === end) return true; // "::"
  }
  while (i < end) {
    if (pos >= 16) return false;
    // One group: up to 4 hex digits, or a dotted IPv4 tail.
    let group = 0;
    let digits = 0;
    const start = i;
    while (i < end && digits <= 4) {
      const h = hexValue(text.charCodeAt(i));
      if (h < 0) break;
      group = (group << 4) | h;
      digits++;
      i++;
    }
    if (i < end && text.charCodeAt(i) === CH_DOT) {
      if (pos > 12) return false;
      const v4 = parseIPv4(text, start, end);
      if (v4 < 0) return false;
      out[pos] = v4 >>> 24;
      out[pos + 1] = (v4 >>> 16) & 0xff;
      out[pos + 2] = (v4 >>> 8) & 0xff;
      out[pos + 3] = v4 & 0xff;
      pos += 4;
      i = end;
      break;
    }
    if (digits === 0 || digits > 4) return false;
    out[pos] = group >>> 8;
    out[pos + 1] = group & 0xff;
    pos += 2;
    if (i === end) break;
    if (text.charCodeAt(i) !== CH_COLON) return false;
    i++;
    if (i < end && text.charCodeAt(i) === CH_COLON) {
      if (gap >= 0) return false; // second "::"
      gap = pos;
      i++;
      if (i === end) break;
    } else if (i === end) {
      return false; // trailing single ':'
    }
  }
  if (gap < 0) return pos === 16;
  if (pos === 16) return false; // "::" must stand for at least one group
  // Move the bytes after the gap to the end.
  const tail = pos - gap;
  for (let k = tail - 1; k >= 0; k--) {
    out[16 - tail + k] = out[gap + k]!;
  }
  for (let k = gap; k < 16 - tail; k++) out[k] = 0;
  return true;
}

/** An IPv6 zone suffix (`%eth0`) is not accepted in request hosts, rules or listen addresses. */
export function hasZone(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === CH_PERCENT) return true;
  return false;
}

/** ::ffff:0:0/96: an IPv4 address carried in IPv6. */
export function isIPv4Mapped(b: Uint8Array): boolean {
  for (let k = 0; k < 10; k++) if (b[k] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/**
 * RFC 5952 canonical text of 16 bytes: lower-case, no leading zeros, the
 * longest zero run (>= 2 groups, the first if tied) as `::`; IPv4-mapped
 * addresses as ::ffff:a.b.c.d.
 */
export function formatIPv6(b: Uint8Array): string {
  if (isIPv4Mapped(b)) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  let bestStart = -1;
  let bestLength = 1;
  for (let k = 0; k < 8; ) {
    if (b[2 * k] !== 0 || b[2 * k + 1] !== 0) {
      k++;
      continue;
    }
    let j = k;
    while (j < 8 && b[2 * j] === 0 && b[2 * j + 1] === 0) j++;
    if (j - k > bestLength) {
      bestStart = k;
      bestLength = j - k;
    }
    k = j;
  }
  let out = '';
  for (let k = 0; k < 8; k++) {
    if (k === bestStart) {
      out += k === 0 ? '::' : ':';
      k += bestLength - 1;
      continue;
    }
    out += ((b[2 * k]! << 8) | b[2 * k + 1]!).toString(16);
    if (k < 7) out += ':';
  }
  return out;
}
