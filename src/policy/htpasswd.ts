/**
 * htpasswd files (Apache's format: one `user:hash` a line) for proxy Basic authentication (auth.ts).
 * Accepted are the two formats `htpasswd` writes that can be checked safely here: bcrypt (`htpasswd -B`;
 * `$2y$`, `$2a$` or `$2b$`, the cost read from the hash) and `{SHA}` (`htpasswd -s`: base64 of an unsalted
 * SHA-1). Everything else is refused when the file is read, naming the file, the line, the user and the fix:
 * apr1 (htpasswd's default `-m`), MD5/SHA-256/SHA-512 crypt (`$1$`, `$5$`, `$6$`), DES crypt (`-d`) and
 * plain text (`-p`) would need crypt implementations dfp does not carry, or accept a stolen file as is.
 * Error messages never contain a hash or a password: only what the operator needs to find the line.
 */

export interface HtpasswdEntry {
  readonly username: string;
  readonly kind: 'bcrypt' | 'sha';
  /** The hash as written in the file (`$2y$…` or `{SHA}…`). */
  readonly hash: string;
}

const FIX = 're-create the entry with "htpasswd -B"';

/** Parses an htpasswd file's text; source names the file in errors. Throws on the first bad line. */
export function parseHtpasswd(text: string, source: string): HtpasswdEntry[] {
  const entries: HtpasswdEntry[] = [];
  const firstLine = new Map<string, number>();
  let start = text.charCodeAt(0) === 0xfeff ? 1 : 0; // a byte-order mark some editors add
  for (let lineNo = 1; start <= text.length; lineNo++) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    let line = text.slice(start, end);
    start = end + 1;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    const lead = line.trimStart();
    if (lead.length === 0 || lead.charCodeAt(0) === 0x23 /* # */) continue;

    const at = `${source} line ${lineNo}`;
    const colon = line.indexOf(':');
    if (colon < 0) throw new Error(`${at}: not "user:hash" (no ":"); ${FIX}`);
    const username = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (username.length === 0) throw new Error(`${at}: empty user name`);
    const seen = firstLine.get(username);
    if (seen !== undefined) throw new Error(`${at} (${username}): duplicate user (first on line ${seen}); keep one entry`);
    firstLine.set(username, lineNo);
    const refusal = refuseHash(hash);
    if (refusal !== null) throw new Error(`${at} (${username}): ${refusal}; ${FIX}`);
    entries.push({ username, kind: hash.charCodeAt(0) === 0x24 /* $ */ ? 'bcrypt' : 'sha', hash });
  }
  return entries;
}

/** Why a hash is refused (never quoting it), or null for a well-formed bcrypt or {SHA} hash. */
function refuseHash(hash: string): string | null {
  if (hash.startsWith('$2a$') || hash.startsWith('$2b$') || hash.startsWith('$2y$')) {
    return isBcryptHash(hash) ? null : 'malformed bcrypt hash (expected $2y$, a cost of 04 to 31, "$" and 53 characters of ./A-Za-z0-9)';
  }
  if (hash.startsWith('{SHA}')) return isShaHash(hash) ? null : 'malformed {SHA} hash (expected the base64 of a 20-byte SHA-1)';
  if (hash.startsWith('$apr1$')) return 'apr1 (MD5) hashes are not supported';
  if (hash.startsWith('$1$')) return 'MD5-crypt ($1$) hashes are not supported';
  if (hash.startsWith('$5$')) return 'SHA-256-crypt ($5$, htpasswd -2) hashes are not supported';
  if (hash.startsWith('$6$')) return 'SHA-512-crypt ($6$, htpasswd -5) hashes are not supported';
  if (hash.startsWith('$2')) return 'this bcrypt variant is not supported (only $2y$, $2a$ and $2b$)';
  if (hash.length === 13 && isCryptAlphabet(hash, 0, 13)) return 'DES crypt hashes (htpasswd -d) are not supported';
  return 'not a supported hash (plain-text passwords, htpasswd -p, are not supported)';
}

/** `$2y$NN$` + 22 characters of salt + 31 of hash, bcrypt's base64 alphabet, cost 04–31. */
function isBcryptHash(hash: string): boolean {
  if (hash.length !== 60 || hash.charCodeAt(6) !== 0x24) return false;
  const d1 = hash.charCodeAt(4) - 0x30;
  const d2 = hash.charCodeAt(5) - 0x30;
  if (d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return false;
  const cost = d1 * 10 + d2;
  return cost >= 4 && cost <= 31 && isCryptAlphabet(hash, 7, 60);
}

/** `{SHA}` + the canonical base64 of 20 bytes. */
function isShaHash(hash: string): boolean {
  const b64 = hash.slice(5);
  if (b64.length !== 28) return false;
  const bytes = Buffer.from(b64, 'base64');
  return bytes.length === 20 && bytes.toString('base64') === b64;
}

/** crypt's and bcrypt's base64 alphabet: `./0-9A-Za-z`. */
function isCryptAlphabet(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x2e && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    if (!ok) return false;
  }
  return true;
}

/** The cost of a bcrypt hash parseHtpasswd accepted (`$2y$NN$…`). */
export function bcryptCost(hash: string): number {
  return (hash.charCodeAt(4) - 0x30) * 10 + (hash.charCodeAt(5) - 0x30);
}
