/**
 * The error table (src/errors.ts): every reply the proxy makes itself comes from one row, with its status,
 * Proxy-Status, one-line body and the header fields the row requires.
 */
import { describe, expect, it } from 'vitest';
import { ERRORS, ProxyError, renderErrorReply, toProxyError, type ErrorCode } from '../../../src/errors.js';

function reply(err: ProxyError, isHead = false): { head: string; body: string } {
  const text = renderErrorReply(err, { isHead }).toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  return { head: text.slice(0, end + 2), body: text.slice(end + 4) };
}

describe('the error table', () => {
  it.each(Object.keys(ERRORS) as ErrorCode[])('%s renders its status, Proxy-Status, one-line body and Content-Length', (code) => {
    const { head, body } = reply(new ProxyError(code, 'a detail'));
    const spec = ERRORS[code];
    expect(head.startsWith(`HTTP/1.1 ${spec.status} `)).toBe(true);
    expect(head).not.toMatch(/^HTTP\/1\.1 \d+ Error\r\n/); // every status used has its reason phrase
    expect(head).toContain(`Proxy-Status: dfp; error=${spec.proxyStatus}; details="a detail"\r\n`);
    expect(head).toContain(`Content-Length: ${Buffer.byteLength(body)}\r\n`);
    expect(body).toBe(`${spec.text}: a detail\n`);
  });

  it('an exception that is not a ProxyError is our own bug: 500 proxy_internal_error, nothing of it in the reply', () => {
    const err = toProxyError(new TypeError("Cannot read properties of undefined (reading 'x') at /secret/path.js:1"));
    expect(err.code).toBe('INTERNAL_ERROR');
    const { head, body } = reply(err);
    expect(head.startsWith('HTTP/1.1 500 Internal Server Error\r\n')).toBe(true);
    expect(head).toContain('Proxy-Status: dfp; error=proxy_internal_error\r\n');
    expect(body).toBe('internal error\n');
    const ours = new ProxyError('DNS_TIMEOUT', 'x');
    expect(toProxyError(ours)).toBe(ours);
  });

  it('rows with a headers column carry those fields, values given by the thrower, CR and LF dropped', () => {
    const { head } = reply(new ProxyError('AUTH_REQUIRED', '', { headerValues: ['Basic realm="dfp"\r\nX-Injected: 1'] }));
    expect(head).toContain('Proxy-Authenticate: Basic realm="dfp"  X-Injected: 1\r\n');
    expect(head).not.toContain('\r\nX-Injected');
    expect(reply(new ProxyError('RATE_LIMITED', '', { headerValues: ['2'] })).head).toContain('\r\nRetry-After: 2\r\n');
  });

  it('a HEAD request gets the head only, with the Content-Length of the body it would have had', () => {
    const { head, body } = reply(new ProxyError('DESTINATION_DENIED', 'x'), true);
    expect(body).toBe('');
    expect(head).toContain(`Content-Length: ${Buffer.byteLength('destination denied by policy: x\n')}\r\n`);
  });
});
