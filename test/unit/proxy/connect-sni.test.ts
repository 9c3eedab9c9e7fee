/**
 * ConnectSniCheck (src/proxy/connect-sni.ts), the verdicts for the first client bytes of a CONNECT tunnel.
 */
import { describe, expect, it } from 'vitest';
import { normalizeHost } from '../../../src/dns/name.js';
import { ConnectSniCheck, SNI_PASS, SNI_REFUSE, SNI_WAIT } from '../../../src/proxy/connect-sni.js';
import { clientHelloBody, extension, handshake, records } from '../tls/helpers.js';

const hello = (sni: string | null, extra: Buffer[] = []) => records(handshake(clientHelloBody({ sni, extra })));
const ech = extension(0xfe0d, Buffer.from([0, 1, 2, 3]));
const check = (mode: 'match' | 'require') => new ConnectSniCheck(mode, normalizeHost('a.test'));

describe('ConnectSniCheck', () => {
  it.each([
    ['match', hello('a.test'), SNI_PASS],
    ['match', hello('A.Test.'), SNI_PASS],
    ['match', hello('b.test'), SNI_REFUSE],
    ['match', hello(null), SNI_PASS],
    ['require', hello(null), SNI_REFUSE],
    ['match', Buffer.from('GET / HTTP/1.1\r\n\r\n'), SNI_PASS],
    ['require', Buffer.from('GET / HTTP/1.1\r\n\r\n'), SNI_REFUSE],
    // An Encrypted ClientHello's SNI in the clear is the provider's public name: require refuses it.
    ['match', hello('a.test', [ech]), SNI_PASS],
    ['require', hello('a.test', [ech]), SNI_REFUSE],
  ] as const)('%s: %j → %i', (mode, bytes, verdict) => {
    expect(check(mode).push(bytes)).toBe(verdict);
  });

  it('waits for the rest of a ClientHello, and silence or a FIN before a verdict refuses in both modes', () => {
    const c = check('match');
    const h = hello('a.test');
    expect(c.push(h.subarray(0, 10))).toBe(SNI_WAIT);
    expect(c.timedOut()).toBe(SNI_REFUSE);
    expect(check('match').timedOut()).toBe(SNI_REFUSE); // nothing at all: no longer a pass
    expect(check('require').timedOut()).toBe(SNI_REFUSE);
  });

  it('a CONNECT to an IP literal has no name for any SNI to match', () => {
    expect(new ConnectSniCheck('match', normalizeHost('192.0.2.1')).push(hello('a.test'))).toBe(SNI_REFUSE);
  });
});
