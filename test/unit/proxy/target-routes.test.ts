/**
 * The pure pieces of choosing a destination: authority parsing (absolute-form,
 * Host, CONNECT targets), host globs of routes, and loop detection through Via.
 */
import { describe, expect, it } from 'vitest';
import { isProxyError } from '../../../src/errors.js';
import { hostMatchesGlob, viaNamesProxy } from '../../../src/proxy/routes.js';
import { parseAbsoluteTarget, parseHostPort } from '../../../src/proxy/target.js';

const b = (s: string) => Buffer.from(s, 'latin1');

describe('parseAbsoluteTarget', () => {
  const OK: Array<[string, string, number, string, boolean]> = [
    ['http://example.com/a?b', 'example.com', 80, '/a?b', false],
    ['HTTP://Example.com:8080/', 'Example.com', 8080, '/', false],
    ['http://example.com', 'example.com', 80, '', false],
    ['http://example.com?q', 'example.com', 80, '?q', false],
    ['http://[::1]:8080/x', '::1', 8080, '/x', false],
    ['https://example.com/', 'example.com', 443, '/', true],
  ];
  it.each(OK)('%s → host %s port %d path %s', (target, host, port, path, isHttps) => {
    const buf = b(target);
    const a = parseAbsoluteTarget(buf, 0, buf.length);
    expect(a).toMatchObject({ host, port, isHttps });
    expect(buf.toString('latin1', a.pathStart, buf.length)).toBe(path);
    // The rewritten Host carries the authority exactly as received.
    expect(buf.toString('latin1', a.authorityStart, a.authorityEnd)).toBe(target.slice(target.indexOf('//') + 2, target.length - path.length));
  });

  const BAD: Array<[string, string]> = [
    ['ftp://example.com/', 'absolute-form target must be http:// or https://'],
    ['http://user@example.com/', 'userinfo in authority'],
    ['http://example.com:0/', 'port out of range'],
    ['http://example.com:65536/', 'port out of range'],
    ['http://example.com:8o/', 'invalid port'],
    ['http:///path', 'empty host'],
    ['http://[::1/', 'unterminated IPv6 literal'],
    ['http://[127.0.0.1]:8080/', 'brackets must hold an IPv6 address'],
  ];
  it.each(BAD)('rejects %s (%s)', (target, detail) => {
    const buf = b(target);
    let caught: unknown;
    try {
      parseAbsoluteTarget(buf, 0, buf.length);
    } catch (err) {
      caught = err;
    }
    expect(isProxyError(caught) && caught.code).toBe('REQUEST_MALFORMED');
    expect(isProxyError(caught) && caught.detail).toBe(detail);
  });
});

describe('parseHostPort', () => {
  it('takes the default port when none is given, and requires one for CONNECT', () => {
    expect(parseHostPort(b('example.com'), 0, 11, 80, false)).toMatchObject({ host: 'example.com', port: 80 });
    expect(() => parseHostPort(b('example.com'), 0, 11, 0, true)).toThrow('CONNECT target needs a port');
    expect(parseHostPort(b('[2001:db8::1]:443'), 0, 17, 0, true)).toMatchObject({ host: '2001:db8::1', port: 443 });
  });

  it.each(['[::1]', '[::1]:8080', '[2001:DB8::1]:443', '[::ffff:127.0.0.1]:80', '[64:ff9b::1.2.3.4]'])('accepts the IPv6 literal %s', (text) => {
    const a = parseHostPort(b(text), 0, text.length, 80, false);
    expect(a.host).toBe(text.slice(1, text.indexOf(']')));
    expect(a.hostHeader).toBeNull();
  });

  const NOT_IPV6: Array<[string, string]> = [
    ['[evil.example]', 'brackets must hold an IPv6 address'],
    ['[evil.example]:80', 'brackets must hold an IPv6 address'],
    ['[127.0.0.1]', 'brackets must hold an IPv6 address'],
    ['[127.0.0.1]:80', 'brackets must hold an IPv6 address'],
    ['[fe80::1%25eth0]:80', 'brackets must hold an IPv6 address'],
    ['[v1.fe80::1]', 'brackets must hold an IPv6 address'],
    ['[]:80', 'brackets must hold an IPv6 address'],
    ['[::1', 'unterminated IPv6 literal'],
    ['[::1:80', 'unterminated IPv6 literal'],
    ['[::1]x', 'invalid authority'],
  ];
  it.each(NOT_IPV6)('rejects %s (%s)', (text, detail) => {
    let caught: unknown;
    try {
      parseHostPort(b(text), 0, text.length, 80, false);
    } catch (err) {
      caught = err;
    }
    expect(isProxyError(caught) && caught.code).toBe('REQUEST_MALFORMED');
    expect(isProxyError(caught) && caught.detail).toBe(detail);
  });
});

describe('hostMatchesGlob', () => {
  const CASES: Array<[string, string, boolean]> = [
    ['a.example.com', '*.example.com', true],
    ['x.y.example.com', '*.example.com', true],
    ['example.com', '*.example.com', false],
    ['badexample.com', '*.example.com', false],
    ['example.com', 'example.com', true],
    ['www.example.com', 'example.com', false],
    ['anything', '*', true],
  ];
  it.each(CASES)('%s against %s → %s', (host, glob, expected) => {
    expect(hostMatchesGlob(host, glob)).toBe(expected);
  });
});

describe('viaNamesProxy (loop detection)', () => {
  const CASES: Array<[string, boolean]> = [
    ['1.1 dfp', true],
    ['HTTP/1.1 DFP', true],
    ['1.0 squid, 1.1 dfp (dfp/0.1)', true],
    ['1.1 dfp-edge', false],
    ['1.1 other (mentions dfp in a comment)', false],
    ['1.1 proxy.example, 1.0 cache', false],
  ];
  it.each(CASES)('Via: %s → %s', (value, expected) => {
    const buf = b(value);
    expect(viaNamesProxy(buf, 0, buf.length, 'dfp')).toBe(expected);
  });
});
