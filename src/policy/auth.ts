/**
 * Proxy authentication, Basic scheme (RFC 7617 over RFC 9110's Proxy-Authorization), as a value: a check
 * answers an AuthVerdict and never throws. Users come inline from the config (plain passwords, kept only as
 * an HMAC under a per-instance key) and from an htpasswd file (htpasswd.ts: bcrypt or {SHA}).
 *
 * The common case costs one HMAC and one cache lookup: every verdict reached by hashing is kept in an LRU
 * keyed by an HMAC-SHA256 of the whole header value (never the value: the cache holds no credentials), a
 * success under `cacheSize`, a failure under a smaller bound so a client repeating one wrong header does not
 * cost a bcrypt each time. A reload builds a new instance, dropping the cache with the old one.
 *
 * bcrypt (bcryptjs in a worker thread: bcrypt-thread.ts) is the only slow path:
 * `checkNow` answers everything else synchronously and `check` runs the bcrypt. Concurrent checks of one
 * header share one verification; past `maxPending` distinct verifications in flight the answer is `busy`.
 *
 * Timing: an unknown user gets the same kind of work as a known one (a dummy bcrypt at the file's most
 * common cost when the file has bcrypt users, else a dummy HMAC compare), and secrets are compared as
 * equal-length digests with timingSafeEqual.
 */
import bcrypt from 'bcryptjs';
import { LRUCache } from 'lru-cache';
import { isUtf8 } from 'node:buffer';
import { createHash, createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { bcryptCost, type HtpasswdEntry } from './htpasswd.js';
import { compareOffThread } from './bcrypt-thread.js';

export type AuthVerdict = { readonly ok: true; readonly user: string } | { readonly ok: false; readonly reason: 'missing' | 'malformed' | 'wrong' | 'busy' };

export interface BasicAuthOptions {
  realm: string;
  /** Inline users (config `auth.basic.users`), plain passwords. */
  users: readonly { username: string; password: string }[];
  /** Users from the htpasswd file (parseHtpasswd). */
  entries: readonly HtpasswdEntry[];
  /** Cached successes (distinct header values); 0 turns the caches off. Default 10000. */
  cacheSize?: number;
  /** Concurrent bcrypt verifications of distinct header values; beyond it `busy`. Default 16. */
  maxPending?: number;
}

/** Longer Proxy-Authorization values are malformed without hashing (a header value is latin1: length = bytes). */
export const MAX_CREDENTIALS_LENGTH = 4096;
/** Bound of the failure cache (below cacheSize when that is smaller). */
const FAILURE_CACHE_MAX = 1000;

const MISSING: AuthVerdict = Object.freeze({ ok: false, reason: 'missing' });
const MALFORMED: AuthVerdict = Object.freeze({ ok: false, reason: 'malformed' });
const WRONG: AuthVerdict = Object.freeze({ ok: false, reason: 'wrong' });
const BUSY: AuthVerdict = Object.freeze({ ok: false, reason: 'busy' });

/** How one user's password is checked; `success` is that user's verdict, made once. */
type Verifier =
  | { readonly kind: 'inline'; readonly digest: Buffer; readonly success: AuthVerdict }
  | { readonly kind: 'sha'; readonly digest: Buffer; readonly success: AuthVerdict }
  | { readonly kind: 'bcrypt'; readonly hash: string; readonly success: AuthVerdict };

/** A verification that needs bcrypt: `success` is null for an unknown user (a dummy compare). */
class BcryptJob {
  constructor(
    readonly key: string,
    readonly password: string,
    readonly hash: string,
    readonly success: AuthVerdict | null,
  ) {}
}

export class BasicAuth {
  readonly realm: string;
  /** `Basic realm="dfp"` — the Proxy-Authenticate value (prebuilt). */
  readonly challenge: string;
  readonly #cacheKey: KeyObject;
  readonly #passwordKey: KeyObject;
  readonly #users: Map<string, Verifier>;
  /** For unknown users: a bcrypt-shaped hash at the most common cost, or null when no user is bcrypt. */
  readonly #dummyHash: string | null;
  readonly #dummyDigest: Buffer;
  readonly #successes: LRUCache<string, AuthVerdict> | null;
  readonly #failures: LRUCache<string, AuthVerdict> | null;
  readonly #pending: Map<string, Promise<AuthVerdict>>;
  readonly #maxPending: number;
  #verificationsStarted: number;

  constructor(opts: BasicAuthOptions) {
    const cacheSize = opts.cacheSize ?? 10_000;
    const maxPending = opts.maxPending ?? 16;
    if (!Number.isSafeInteger(cacheSize) || cacheSize < 0) throw new RangeError(`auth: cacheSize must be an integer >= 0, not ${cacheSize}`);
    if (!Number.isSafeInteger(maxPending) || maxPending < 1) throw new RangeError(`auth: maxPending must be an integer >= 1, not ${maxPending}`);
    checkRealm(opts.realm);
    this.realm = opts.realm;
    this.challenge = `Basic realm="${opts.realm}"`;
    this.#cacheKey = createSecretKey(randomBytes(32));
    this.#passwordKey = createSecretKey(randomBytes(32));
    this.#users = new Map();
    for (const u of opts.users) {
      this.#addUser(u.username, { kind: 'inline', digest: this.#digestPassword(u.password), success: successFor(u.username) });
    }
    const costs = new Map<number, number>();
    for (const e of opts.entries) {
      const success = successFor(e.username);
      if (e.kind === 'sha') {
        this.#addUser(e.username, { kind: 'sha', digest: Buffer.from(e.hash.slice(5), 'base64'), success });
      } else {
        this.#addUser(e.username, { kind: 'bcrypt', hash: e.hash, success });
        const cost = bcryptCost(e.hash);
        costs.set(cost, (costs.get(cost) ?? 0) + 1);
      }
    }
    this.#dummyHash = costs.size === 0 ? null : dummyBcryptHash(mostCommon(costs));
    this.#dummyDigest = randomBytes(32);
    this.#successes = cacheSize === 0 ? null : new LRUCache({ max: cacheSize });
    this.#failures = cacheSize === 0 ? null : new LRUCache({ max: Math.min(cacheSize, FAILURE_CACHE_MAX) });
    this.#pending = new Map();
    this.#maxPending = maxPending;
    this.#verificationsStarted = 0;
  }

  /** bcrypt verifications started so far (dummy ones for unknown users included). */
  get verificationsStarted(): number {
    return this.#verificationsStarted;
  }

  /**
   * The verdict when it can be given without hashing (missing/malformed header, cached success, cached
   * failure, inline or {SHA} users); undefined when a bcrypt verification is needed. value: the
   * Proxy-Authorization field value, or null when absent.
   */
  checkNow(value: string | null): AuthVerdict | undefined {
    const r = this.#evaluate(value);
    return r instanceof BcryptJob ? undefined : r;
  }

  /**
   * The full check (bcrypt through bcryptjs' async compare); concurrent checks of the same value share one
   * verification (the same promise); beyond maxPending distinct verifications in flight: busy.
   */
  check(value: string | null): Promise<AuthVerdict> {
    const r = this.#evaluate(value);
    return r instanceof BcryptJob ? this.#verify(r) : Promise.resolve(r);
  }

  /** The hot path: the cached-success case is one HMAC and one lookup. */
  #evaluate(value: string | null): AuthVerdict | BcryptJob {
    if (value === null) return MISSING;
    if (value.length > MAX_CREDENTIALS_LENGTH) return MALFORMED;
    // utf8, not latin1: latin1 would fold a character above U+00FF onto its low byte, so a forged value
    // could share a cached success's key. UTF-8 is injective on anything the cache holds (ASCII values).
    const key = createHmac('sha256', this.#cacheKey).update(value, 'utf8').digest('base64');
    if (this.#successes !== null) {
      const hit = this.#successes.get(key) ?? this.#failures!.get(key);
      if (hit !== undefined) return hit;
    }
    return this.#evaluateMiss(value, key);
  }

  /** Not cached: parse the header and verify what can be verified without bcrypt. */
  #evaluateMiss(value: string, key: string): AuthVerdict | BcryptJob {
    const credentials = decodeBasicCredentials(value);
    if (credentials === null) return MALFORMED;
    const { user, password } = credentials;
    const v = this.#users.get(user);
    if (v === undefined) {
      if (this.#dummyHash !== null) return new BcryptJob(key, password, this.#dummyHash, null);
      timingSafeEqual(this.#digestPassword(password), this.#dummyDigest); // the work of an inline check
      return this.#remember(key, WRONG);
    }
    switch (v.kind) {
      case 'inline':
        return this.#remember(key, timingSafeEqual(this.#digestPassword(password), v.digest) ? v.success : WRONG);
      case 'sha':
        return this.#remember(key, timingSafeEqual(createHash('sha1').update(password, 'utf8').digest(), v.digest) ? v.success : WRONG);
      case 'bcrypt':
        return new BcryptJob(key, password, v.hash, v.success);
    }
  }

  #verify(job: BcryptJob): Promise<AuthVerdict> {
    const pending = this.#pending.get(job.key);
    if (pending !== undefined) return pending;
    if (this.#pending.size >= this.#maxPending) return Promise.resolve(BUSY);
    this.#verificationsStarted++;
    const p = compareOffThread(job.password, job.hash).then(
      (isMatch) => {
        this.#pending.delete(job.key);
        return this.#remember(job.key, isMatch && job.success !== null ? job.success : WRONG);
      },
      () => {
        // Not reached for a hash parseHtpasswd accepted; refuse, and do not cache, if it ever is.
        this.#pending.delete(job.key);
        return WRONG;
      },
    );
    this.#pending.set(job.key, p);
    return p;
  }

  #remember(key: string, verdict: AuthVerdict): AuthVerdict {
    if (this.#successes !== null) (verdict.ok ? this.#successes : this.#failures!).set(key, verdict);
    return verdict;
  }

  #digestPassword(password: string): Buffer {
    return createHmac('sha256', this.#passwordKey).update(password, 'utf8').digest();
  }

  #addUser(username: string, v: Verifier): void {
    if (username.length === 0) throw new Error('auth.basic: empty user name');
    if (username.includes(':')) throw new Error(`auth.basic: user "${username}" contains ":"`);
    if (this.#users.has(username)) throw new Error(`auth.basic: user "${username}" is defined twice (inline users and passwordFile together must name each user once)`);
    this.#users.set(username, v);
  }
}

function successFor(user: string): AuthVerdict {
  return Object.freeze({ ok: true, user });
}

/** The realm goes into a quoted-string of a response header: printable ASCII without `"` or `\`. */
function checkRealm(realm: string): void {
  for (let i = 0; i < realm.length; i++) {
    const c = realm.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) throw new Error('auth.basic.realm: must be printable ASCII without " or \\');
  }
}

function mostCommon(counts: Map<number, number>): number {
  let best = 0;
  let bestCount = 0;
  for (const [cost, n] of counts) {
    if (n > bestCount) [best, bestCount] = [cost, n];
  }
  return best;
}

/** A syntactically valid bcrypt hash at `cost` that no password is checked against for its result. */
function dummyBcryptHash(cost: number): string {
  return bcrypt.genSaltSync(cost) + '.'.repeat(31);
}

// ---- the header: `Basic` 1*SP token68 (RFC 9110 §11.6.2), the token base64 of `user-id ":" password` ----

/** The standard base64 alphabet (RFC 4648 §4), without `=`. */
const BASE64 = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') BASE64[c.charCodeAt(0)] = 1;
const BASIC = 'basic';
const SP = 0x20;
const EQUALS = 0x3d;
const COLON = 0x3a;

/**
 * user and password of a Basic Proxy-Authorization value, or null when it is not one: another scheme, no
 * space, base64 that is not canonical (alphabet, padding, unused bits: the decode must round-trip), bytes
 * that are not UTF-8 or contain a control character (RFC 7617 §2), or no `:`. Split at the first colon
 * (a user-id has none); the password may be empty.
 */
export function decodeBasicCredentials(value: string): { user: string; password: string } | null {
  if (value.length < 7) return null;
  for (let i = 0; i < 5; i++) if ((value.charCodeAt(i) | 0x20) !== BASIC.charCodeAt(i)) return null;
  if (value.charCodeAt(5) !== SP) return null;
  let start = 6;
  while (value.charCodeAt(start) === SP) start++;
  const n = value.length - start;
  if (n === 0 || n % 4 !== 0) return null;
  let end = value.length;
  if (value.charCodeAt(end - 1) === EQUALS) end--;
  if (value.charCodeAt(end - 1) === EQUALS) end--;
  for (let i = start; i < end; i++) {
    const c = value.charCodeAt(i);
    if (c > 0xff || BASE64[c] === 0) return null;
  }
  const b64 = value.slice(start);
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.toString('base64') !== b64) return null;
  if (!isUtf8(bytes)) return null;
  let colon = -1;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b < 0x20 || b === 0x7f) return null;
    if (b === COLON && colon < 0) colon = i;
  }
  if (colon < 0) return null;
  return { user: bytes.toString('utf8', 0, colon), password: bytes.toString('utf8', colon + 1) };
}
