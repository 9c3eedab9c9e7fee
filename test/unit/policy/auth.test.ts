/**
 * Proxy Basic authentication (src/policy/auth.ts): users inline and from htpasswd files made by the real
 * `htpasswd` binary; the Proxy-Authorization parsing table; the verification cache (successes and failures),
 * shared verifications, the `busy` bound; verdicts that never carry the password; and a property over random
 * inline users: the right header is accepted, any one-byte change of the password refused.
 */
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BasicAuth, decodeBasicCredentials, MAX_CREDENTIALS_LENGTH, type AuthVerdict } from '../../../src/policy/auth.js';
import { parseHtpasswd, type HtpasswdEntry } from '../../../src/policy/htpasswd.js';
import { checkProperty } from '../../helpers/property.js';

/** Entries from `htpasswd -nb<flags>`. Fails (never skips) when the binary is missing. */
function htpasswdEntries(flags: string[], user: string, password: string): HtpasswdEntry[] {
  let out: string;
  try {
    out = execFileSync('htpasswd', ['-nb', ...flags, user, password], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error('the htpasswd binary is not installed: these tests need it (apt-get install apache2-utils)', { cause: err });
    }
    throw err;
  }
  return parseHtpasswd(out, `htpasswd ${flags.join(' ')}`);
}

const basic = (user: string, password: string) => 'Basic ' + Buffer.from(`${user}:${password}`, 'utf8').toString('base64');
const ok = (user: string): AuthVerdict => ({ ok: true, user });
const no = (reason: 'missing' | 'malformed' | 'wrong' | 'busy'): AuthVerdict => ({ ok: false, reason });

const alice = htpasswdEntries(['-B', '-C', '4'], 'alice', 'a-secret'); // bcrypt
const carol = htpasswdEntries(['-s'], 'carol', 'c-secret'); // {SHA}
const inline = [
  { username: 'bob', password: 'b-secret' },
  { username: 'colon', password: 'pa:ss' },
  { username: 'empty', password: '' },
  { username: 'url', password: '>>>?' },
  { username: 'jürgen', password: 'пароль' },
];

function makeAuth(opts: Partial<ConstructorParameters<typeof BasicAuth>[0]> = {}): BasicAuth {
  return new BasicAuth({ realm: 'dfp', users: inline, entries: [...alice, ...carol], ...opts });
}

describe('BasicAuth: users from htpasswd files and inline', () => {
  it('bcrypt (-B): the right password is accepted after one verification, a wrong one refused', async () => {
    const auth = makeAuth();
    expect(auth.checkNow(basic('alice', 'a-secret'))).toBeUndefined();
    expect(await auth.check(basic('alice', 'a-secret'))).toEqual(ok('alice'));
    expect(await auth.check(basic('alice', 'a-secreT'))).toEqual(no('wrong'));
    expect(await auth.check(basic('alice', ''))).toEqual(no('wrong'));
    expect(auth.verificationsStarted).toBe(3);
  });

  it('bcrypt at cost 10 (a realistic cost) accepts the right password and refuses a wrong one', async () => {
    const auth = new BasicAuth({ realm: 'dfp', users: [], entries: htpasswdEntries(['-B', '-C', '10'], 'dave', 'd-secret') });
    expect(await auth.check(basic('dave', 'd-secret'))).toEqual(ok('dave'));
    expect(await auth.check(basic('dave', 'd-secreT'))).toEqual(no('wrong'));
  });

  it('{SHA} (-s) and inline users are answered by checkNow, without bcrypt', () => {
    const auth = makeAuth();
    expect(auth.checkNow(basic('carol', 'c-secret'))).toEqual(ok('carol'));
    expect(auth.checkNow(basic('carol', 'c-secreT'))).toEqual(no('wrong'));
    expect(auth.checkNow(basic('bob', 'b-secret'))).toEqual(ok('bob'));
    expect(auth.checkNow(basic('bob', 'b-secret '))).toEqual(no('wrong'));
    expect(auth.verificationsStarted).toBe(0);
  });

  it('an unknown user is refused after a dummy bcrypt when the file has bcrypt users, as a known one would be', async () => {
    const auth = makeAuth();
    expect(auth.checkNow(basic('mallory', 'a-secret'))).toBeUndefined();
    expect(await auth.check(basic('mallory', 'a-secret'))).toEqual(no('wrong'));
    expect(auth.verificationsStarted).toBe(1);
    // Without bcrypt users an unknown user gets the work of an inline check, synchronously.
    const fast = new BasicAuth({ realm: 'dfp', users: inline, entries: carol });
    expect(fast.checkNow(basic('mallory', 'x'))).toEqual(no('wrong'));
  });

  it('user names are case-sensitive', async () => {
    const auth = makeAuth();
    expect(auth.checkNow(basic('Bob', 'b-secret'))).toBeUndefined();
    expect(await auth.check(basic('Bob', 'b-secret'))).toEqual(no('wrong'));
  });

  it('bcrypt reads only the first 72 bytes of a password, as Apache does (bcrypt\'s limit)', async () => {
    const long = 'x'.repeat(72);
    const auth = new BasicAuth({ realm: 'dfp', users: [], entries: htpasswdEntries(['-B', '-C', '4'], 'erin', long) });
    expect(await auth.check(basic('erin', long + 'anything'))).toEqual(ok('erin'));
    expect(await auth.check(basic('erin', long.slice(1)))).toEqual(no('wrong'));
  });

  it('verdicts never carry the password: a success is { ok, user }, a refusal { ok, reason }', async () => {
    const auth = makeAuth();
    const verdicts = [
      await auth.check(basic('alice', 'a-secret')),
      auth.checkNow(basic('carol', 'c-secret'))!,
      auth.checkNow(basic('bob', 'b-secret'))!,
      await auth.check(basic('alice', 'a-secreT')),
      auth.checkNow(basic('bob', 'b-secreT'))!,
    ];
    for (const v of verdicts) {
      expect(Object.keys(v).sort()).toEqual(v.ok ? ['ok', 'user'] : ['ok', 'reason']);
      expect(JSON.stringify(v)).not.toMatch(/secre/);
    }
  });

  it('the challenge is the prebuilt Proxy-Authenticate value', () => {
    expect(makeAuth().challenge).toBe('Basic realm="dfp"');
    expect(makeAuth({ realm: 'corp proxy' })).toMatchObject({ realm: 'corp proxy', challenge: 'Basic realm="corp proxy"' });
  });

  it.each([
    ['a realm with a quote', { realm: 'a"b' }, 'auth.basic.realm: must be printable ASCII without " or \\'],
    ['a realm with CR LF', { realm: 'a\r\nX-Evil: 1' }, 'auth.basic.realm: must be printable ASCII without " or \\'],
    ['a user both inline and in the file', { users: [{ username: 'alice', password: 'x' }] }, 'auth.basic: user "alice" is defined twice (inline users and passwordFile together must name each user once)'],
    ['an inline user with ":"', { users: [{ username: 'a:b', password: 'x' }] }, 'auth.basic: user "a:b" contains ":"'],
    ['cacheSize -1', { cacheSize: -1 }, 'auth: cacheSize must be an integer >= 0, not -1'],
    ['maxPending 0', { maxPending: 0 }, 'auth: maxPending must be an integer >= 1, not 0'],
  ])('the constructor refuses %s', (_name, opts, message) => {
    expect(() => makeAuth(opts)).toThrow(message);
  });
});

describe('BasicAuth: the Proxy-Authorization value', () => {
  const bob = basic('bob', 'b-secret').slice('Basic '.length);
  // 'long:' + 3061 bytes = 3066 bytes = 4088 base64 characters; 'Basic' and three spaces make 4096.
  const long = basic('long', 'p'.repeat(3061));
  const rows: [string, string | null, AuthVerdict][] = [
    ['absent', null, no('missing')],
    ['empty', '', no('malformed')],
    ['another scheme', `Bearer ${bob}`, no('malformed')],
    ['Digest', 'Digest username="bob", realm="dfp"', no('malformed')],
    ['a scheme that starts with Basic', `Basicx ${bob}`, no('malformed')],
    ['lower-case basic', `basic ${bob}`, ok('bob')],
    ['upper-case BASIC', `BASIC ${bob}`, ok('bob')],
    ['several spaces', `Basic    ${bob}`, ok('bob')],
    ['the scheme alone', 'Basic', no('malformed')],
    ['the scheme and a space', 'Basic ', no('malformed')],
    ['a tab, not a space', `Basic\t${bob}`, no('malformed')],
    ['a leading space', ` Basic ${bob}`, no('malformed')],
    ['a trailing space', `Basic ${bob} `, no('malformed')],
    ['a space inside the base64', `Basic ${bob.slice(0, 4)} ${bob.slice(4)}`, no('malformed')],
    ['base64: padded, standard alphabet', 'Basic dXJsOj4+Pj8=', ok('url')],
    ['base64: the URL-safe alphabet', 'Basic dXJsOj4-Pj8=', no('malformed')],
    ['base64: padding left out', 'Basic dXJsOj4+Pj8', no('malformed')],
    ['base64: one "=" too many', 'Basic dXJsOj4+Pj8==', no('malformed')],
    ['base64: unused bits set (does not round-trip)', 'Basic dXJsOj4+Pj9=', no('malformed')],
    ['base64: two unused bits set under "=="', 'Basic dXJsOj8/Px==', no('malformed')],
    ['base64: "=" inside', 'Basic dXJs=j4+Pj8=', no('malformed')],
    ['base64: garbage after the padding', 'Basic dXJsOj4+Pj8=AAAA', no('malformed')],
    ['base64: not the alphabet', 'Basic !!!!', no('malformed')],
    ['base64: a character above U+00FF', `Basic ${bob.slice(0, -1)}\u0100`, no('malformed')],
    ['no colon', `Basic ${Buffer.from('bob').toString('base64')}`, no('malformed')],
    ['a colon in the password (split at the first)', basic('colon', 'pa:ss'), ok('colon')],
    ['a trailing colon', basic('bob', 'b-secret:'), no('wrong')],
    ['an empty password, configured empty', basic('empty', ''), ok('empty')],
    ['an empty password, configured not', basic('bob', ''), no('wrong')],
    ['an empty user', basic('', 'b-secret'), no('wrong')],
    ['a UTF-8 user and password', basic('jürgen', 'пароль'), ok('jürgen')],
    ['the same user in Latin-1 (not UTF-8)', 'Basic ' + Buffer.from('jürgen:пароль', 'latin1').toString('base64'), no('malformed')],
    ['a password with a tab (control character)', basic('bob', 'b-secret\t'), no('malformed')],
    ['a password with NUL', basic('bob', 'b-secret\0'), no('malformed')],
    ['a user with DEL', basic('bob\x7f', 'b-secret'), no('malformed')],
    [`${MAX_CREDENTIALS_LENGTH} characters`, long.replace('Basic ', 'Basic   '), ok('long')],
    [`${MAX_CREDENTIALS_LENGTH + 1} characters`, long.replace('Basic ', 'Basic    '), no('malformed')],
  ];
  it.each(rows)('%s', (_name, value, verdict) => {
    // No bcrypt users here, so that every answer, unknown users' too, comes from checkNow.
    const auth = new BasicAuth({ realm: 'dfp', users: [...inline, { username: 'long', password: 'p'.repeat(3061) }], entries: carol });
    expect(auth.checkNow(value)).toEqual(verdict);
  });

  it('with bcrypt users, a missing or malformed value is answered by checkNow, without hashing', async () => {
    const auth = makeAuth();
    const refused = rows.filter(([, , v]) => !v.ok && v.reason !== 'wrong');
    expect(refused.length).toBeGreaterThan(20);
    for (const [name, value, verdict] of refused) {
      expect(auth.checkNow(value), name).toEqual(verdict);
      expect(await auth.check(value), name).toEqual(verdict);
    }
    expect(auth.verificationsStarted).toBe(0);
  });

  it('the table\'s longest accepted value is exactly the limit', () => {
    expect(long.replace('Basic ', 'Basic   ').length).toBe(MAX_CREDENTIALS_LENGTH);
  });

  it('an oversize value is malformed without hashing, even for a bcrypt user', async () => {
    const auth = makeAuth();
    const value = basic('alice', 'a'.repeat(4000));
    expect(auth.checkNow(value)).toEqual(no('malformed'));
    expect(await auth.check(value)).toEqual(no('malformed'));
    expect(auth.verificationsStarted).toBe(0);
  });

  it('decodeBasicCredentials splits at the first colon and decodes UTF-8', () => {
    expect(decodeBasicCredentials(basic('a', 'b:c'))).toEqual({ user: 'a', password: 'b:c' });
    expect(decodeBasicCredentials(basic('ü', ''))).toEqual({ user: 'ü', password: '' });
    expect(decodeBasicCredentials('Basic Og==')).toEqual({ user: '', password: '' });
  });
});

describe('BasicAuth: the verification cache', () => {
  it('a bcrypt success is answered by checkNow afterwards, as the same verdict object', async () => {
    const auth = makeAuth();
    const value = basic('alice', 'a-secret');
    const first = await auth.check(value);
    expect(first).toEqual(ok('alice'));
    expect(auth.checkNow(value)).toBe(first);
    expect(await auth.check(value)).toBe(first);
    expect(auth.verificationsStarted).toBe(1);
  });

  it('a wrong header is cached: repeating it costs no second bcrypt', async () => {
    const auth = makeAuth();
    const value = basic('alice', 'guess');
    expect(await auth.check(value)).toEqual(no('wrong'));
    expect(auth.checkNow(value)).toEqual(no('wrong'));
    expect(await auth.check(value)).toEqual(no('wrong'));
    expect(auth.verificationsStarted).toBe(1);
  });

  it('a differently spelled header of the same credentials is its own cache entry (keyed by the whole value)', async () => {
    const auth = makeAuth();
    await auth.check(basic('alice', 'a-secret'));
    const other = basic('alice', 'a-secret').replace('Basic', 'basic');
    expect(auth.checkNow(other)).toBeUndefined();
    expect(await auth.check(other)).toEqual(ok('alice'));
  });

  it('a value that differs from a cached success only above U+00FF does not hit it', () => {
    const auth = makeAuth();
    const value = basic('bob', 'b-secret');
    expect(auth.checkNow(value)).toEqual(ok('bob'));
    const last = value.charCodeAt(value.length - 1);
    expect(auth.checkNow(value.slice(0, -1) + String.fromCharCode(0x100 | last))).toEqual(no('malformed'));
    expect(auth.checkNow(value.slice(0, -1) + String.fromCharCode(0xff00 | last))).toEqual(no('malformed'));
  });

  it('concurrent checks of one header share one verification (the same promise)', async () => {
    const auth = makeAuth();
    const value = basic('alice', 'a-secret');
    const p1 = auth.check(value);
    const p2 = auth.check(value);
    expect(p2).toBe(p1);
    expect(auth.checkNow(value)).toBeUndefined();
    const [v1, v2] = await Promise.all([p1, p2]);
    expect(v1).toBe(v2);
    expect(v1).toEqual(ok('alice'));
    expect(auth.verificationsStarted).toBe(1);
  });

  it('past maxPending distinct verifications in flight the answer is busy; a header already in flight joins it', async () => {
    const auth = makeAuth({ maxPending: 2 });
    const p1 = auth.check(basic('alice', 'w1'));
    const p2 = auth.check(basic('mallory', 'w2'));
    expect(await auth.check(basic('alice', 'w3'))).toEqual(no('busy'));
    expect(auth.check(basic('alice', 'w1'))).toBe(p1);
    // checkNow does not count against the bound: it only says a bcrypt is needed.
    expect(auth.checkNow(basic('alice', 'w3'))).toBeUndefined();
    // Inline and {SHA} users, and cached verdicts, are answered while bcrypt slots are full.
    expect(await auth.check(basic('bob', 'b-secret'))).toEqual(ok('bob'));
    expect(await auth.check(basic('carol', 'c-secret'))).toEqual(ok('carol'));
    expect(await Promise.all([p1, p2])).toEqual([no('wrong'), no('wrong')]);
    expect(auth.verificationsStarted).toBe(2);
    // busy is not cached: with the slots free the same header is verified.
    expect(await auth.check(basic('alice', 'w3'))).toEqual(no('wrong'));
    expect(auth.verificationsStarted).toBe(3);
  });

  it('failures are bounded below successes: the least recently used is dropped first', async () => {
    const auth = makeAuth({ cacheSize: 2 });
    const wrong = ['w1', 'w2', 'w3'].map((pw) => basic('alice', pw));
    for (const value of wrong) expect(await auth.check(value)).toEqual(no('wrong'));
    expect(auth.checkNow(wrong[0]!)).toBeUndefined();
    expect(auth.checkNow(wrong[2]!)).toEqual(no('wrong'));
  });

  it('cacheSize 0 turns the cache off: every check verifies', async () => {
    const auth = makeAuth({ cacheSize: 0 });
    const value = basic('alice', 'a-secret');
    expect(await auth.check(value)).toEqual(ok('alice'));
    expect(auth.checkNow(value)).toBeUndefined();
    expect(await auth.check(value)).toEqual(ok('alice'));
    expect(auth.verificationsStarted).toBe(2);
  });

  it('a new instance (a reload) starts with an empty cache', async () => {
    const value = basic('alice', 'a-secret');
    const before = makeAuth();
    await before.check(value);
    expect(before.checkNow(value)).toEqual(ok('alice'));
    expect(makeAuth().checkNow(value)).toBeUndefined();
  });
});

describe('BasicAuth: property over inline users', () => {
  const noControl = (s: string) => !/[\u0000-\u001f\u007f]/.test(s);
  const userArb = fc.string({ unit: 'binary', minLength: 1, maxLength: 16 }).filter((s) => noControl(s) && !s.includes(':'));
  const passwordArb = fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).filter(noControl);

  it('the right header is accepted and any one-byte change of the password is refused', () => {
    checkProperty(
      fc.property(userArb, passwordArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (user, password, at, delta) => {
        const auth = new BasicAuth({ realm: 'dfp', users: [{ username: user, password }], entries: [], cacheSize: 4 });
        const right = basic(user, password);
        const verdict = auth.checkNow(right);
        expect(verdict).toEqual(ok(user));
        expect(auth.checkNow(right)).toBe(verdict);
        const bytes = Buffer.from(`${user}:${password}`, 'utf8');
        const i = Buffer.byteLength(user, 'utf8') + 1 + (at % Buffer.byteLength(password, 'utf8'));
        bytes[i] = (bytes[i]! + delta) & 0xff;
        const changed = auth.checkNow('Basic ' + bytes.toString('base64'));
        expect(changed?.ok).toBe(false);
        expect(changed).not.toHaveProperty('user');
      }),
      { numRuns: 2000, timeMs: 4000, floor: 300 },
    );
  });
});
