/**
 * htpasswd files (src/policy/htpasswd.ts), made by the real `htpasswd` binary (Debian apache2-utils): the
 * formats it writes that dfp accepts (bcrypt, {SHA}) and the ones refused at load, with a message naming the
 * file, the line, the user and the fix, and never the hash or the password.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseHtpasswd } from '../../../src/policy/htpasswd.js';

/** One `user:hash` line from `htpasswd -nb<flags>`. Fails (never skips) when the binary is missing. */
function htpasswdLine(flags: string[], user: string, password: string): string {
  let out: string;
  try {
    out = execFileSync('htpasswd', ['-nb', ...flags, user, password], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error('the htpasswd binary is not installed: these tests need it (apt-get install apache2-utils)', { cause: err });
    }
    throw err;
  }
  return out.trim();
}

function refusal(text: string): string {
  try {
    parseHtpasswd(text, 'users.htpasswd');
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('parseHtpasswd accepted the file');
}

describe('parseHtpasswd: accepted formats', () => {
  it('reads bcrypt (-B) and {SHA} (-s) entries, skipping comments and blank lines, CRLF or LF', () => {
    const alice = htpasswdLine(['-B', '-C', '5'], 'alice', 'a-secret');
    const carol = htpasswdLine(['-s'], 'carol', 'c-secret');
    const text = `# users\r\n\r\n${alice}\r\n   \n  # indented comment\n${carol}\n\n`;
    expect(parseHtpasswd(text, 'users.htpasswd')).toEqual([
      { username: 'alice', kind: 'bcrypt', hash: alice.slice('alice:'.length) },
      { username: 'carol', kind: 'sha', hash: carol.slice('carol:'.length) },
    ]);
    expect(alice).toMatch(/^alice:\$2y\$05\$/);
    expect(carol).toBe('carol:{SHA}' + createHash('sha1').update('c-secret').digest('base64'));
  });

  it('accepts the $2a$ and $2b$ spellings of the same bcrypt hash, and a file with no final newline', () => {
    const hash = htpasswdLine(['-B', '-C', '4'], 'u', 'pw').slice(2);
    for (const prefix of ['$2a$', '$2b$', '$2y$']) {
      expect(parseHtpasswd(`u:${prefix}${hash.slice(4)}`, 'f')).toEqual([{ username: 'u', kind: 'bcrypt', hash: prefix + hash.slice(4) }]);
    }
  });

  it('reads an empty file, or one of comments only, as no users; a UTF-8 user name and a byte-order mark are fine', () => {
    expect(parseHtpasswd('', 'f')).toEqual([]);
    expect(parseHtpasswd('# nobody\n\n', 'f')).toEqual([]);
    const line = htpasswdLine(['-s'], 'jürgen', 'pw');
    expect(parseHtpasswd(`\ufeff${line}\n`, 'f')).toEqual([{ username: 'jürgen', kind: 'sha', hash: line.slice('jürgen:'.length) }]);
  });
});

describe('parseHtpasswd: refused formats name file, line, user and fix', () => {
  const fix = '; re-create the entry with "htpasswd -B"';
  it.each([
    ['apr1, htpasswd\'s default (-m)', ['-m'], 'apr1 (MD5) hashes are not supported'],
    ['DES crypt (-d)', ['-d'], 'DES crypt hashes (htpasswd -d) are not supported'],
    ['plain text (-p)', ['-p'], 'not a supported hash (plain-text passwords, htpasswd -p, are not supported)'],
    ['SHA-256 crypt (-2)', ['-2'], 'SHA-256-crypt ($5$, htpasswd -2) hashes are not supported'],
    ['SHA-512 crypt (-5)', ['-5'], 'SHA-512-crypt ($6$, htpasswd -5) hashes are not supported'],
  ])('%s', (_name, flags, why) => {
    const password = 'Pw-12345';
    const line = htpasswdLine(flags, 'bob', password);
    const hash = line.slice('bob:'.length);
    const alice = htpasswdLine(['-B', '-C', '4'], 'alice', 'x');
    const message = refusal(`${alice}\n# bob next\n${line}\n`);
    expect(message).toBe(`users.htpasswd line 3 (bob): ${why}${fix}`);
    expect(message).not.toContain(hash);
    expect(message).not.toContain(password);
  });

  it.each([
    ['MD5 crypt', '$1$saltsalt$2vXSB5Y1m0Dd1ZzAtWmAu/', 'MD5-crypt ($1$) hashes are not supported'],
    ['old bcrypt $2$', '$2$05$' + 'a'.repeat(53), 'this bcrypt variant is not supported (only $2y$, $2a$ and $2b$)'],
    ['bcrypt $2x$', '$2x$05$' + 'a'.repeat(53), 'this bcrypt variant is not supported (only $2y$, $2a$ and $2b$)'],
    ['a word', 'hunter2', 'not a supported hash (plain-text passwords, htpasswd -p, are not supported)'],
    ['empty hash', '', 'not a supported hash (plain-text passwords, htpasswd -p, are not supported)'],
  ])('%s', (_name, hash, why) => {
    const message = refusal(`bob:${hash}`);
    expect(message).toBe(`users.htpasswd line 1 (bob): ${why}${fix}`);
    if (hash.length > 0) expect(message).not.toContain(hash);
  });

  const good = htpasswdLine(['-B', '-C', '4'], 'bob', 'pw').slice('bob:'.length);
  const bcryptWhy = 'malformed bcrypt hash (expected $2y$, a cost of 04 to 31, "$" and 53 characters of ./A-Za-z0-9)';
  it.each([
    ['one character short', good.slice(0, -1)],
    ['one character long', good + 'a'],
    ['outside the alphabet', good.slice(0, 20) + '+' + good.slice(21)],
    ['cost 03', '$2y$03' + good.slice(6)],
    ['cost 32', '$2y$32' + good.slice(6)],
    ['cost not digits', '$2y$1a' + good.slice(6)],
    ['no $ after the cost', '$2y$05.' + good.slice(7)],
    ['a trailing space', good + ' '],
  ])('malformed bcrypt: %s', (_name, hash) => {
    const message = refusal(`bob:${hash}\n`);
    expect(message).toBe(`users.htpasswd line 1 (bob): ${bcryptWhy}${fix}`);
    expect(message).not.toContain(hash.slice(7));
  });

  it.each([
    ['no padding', '{SHA}FZnlXWOVO9N/p/1CgTiwAD+nhRc'],
    ['not base64', '{SHA}FZnlXWOVO9N/p/1CgTiwAD+nh!c='],
    ['URL-safe alphabet', '{SHA}FZnlXWOVO9N_p_1CgTiwAD-nhRc='],
    ['non-canonical last character (unused bits set)', '{SHA}FZnlXWOVO9N/p/1CgTiwAD+nhRd='],
    ['32 bytes (SHA-256)', '{SHA}' + Buffer.alloc(32, 7).toString('base64')],
  ])('malformed {SHA}: %s', (_name, hash) => {
    expect(refusal(`bob:${hash}`)).toBe(`users.htpasswd line 1 (bob): malformed {SHA} hash (expected the base64 of a 20-byte SHA-1)${fix}`);
  });
});

describe('parseHtpasswd: refused lines', () => {
  const bob = htpasswdLine(['-s'], 'bob', 'pw');
  it('a user listed twice, naming both lines', () => {
    expect(refusal(`${bob}\n\n${bob}\n`)).toBe('users.htpasswd line 3 (bob): duplicate user (first on line 1); keep one entry');
  });

  it('an empty user name', () => {
    expect(refusal(`${bob}\r\n${bob.slice(3)}\r\n`)).toBe('users.htpasswd line 2: empty user name');
  });

  it('a line without ":", without quoting it (it may be a password)', () => {
    const message = refusal(`${bob}\nsecret-password\n`);
    expect(message).toBe('users.htpasswd line 2: not "user:hash" (no ":"); re-create the entry with "htpasswd -B"');
    expect(message).not.toContain('secret');
  });

  it('user names are case-sensitive: Bob and bob are two users', () => {
    expect(parseHtpasswd(`${bob}\nB${bob.slice(1)}`, 'f').map((e) => e.username)).toEqual(['bob', 'Bob']);
  });
});
