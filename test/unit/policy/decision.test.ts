/**
 * Policy decisions as values (src/policy/decision.ts): what is allowed, and for a denial its reason (the
 * dfp_denied_total label), its error code, its detail and the rule that decided.
 */
import { describe, expect, it } from 'vitest';
import { decideAddresses, decideConnectPort, isDenial, noRoute } from '../../../src/policy/decision.js';

const at = (...list: string[]) => list.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

describe('decideAddresses', () => {
  it('returns the same list when every address is public', () => {
    const list = at('93.184.216.34', '2606:2800:220:1::1');
    expect(decideAddresses(false, list)).toBe(list);
  });

  it('keeps the public addresses of a mixed answer, in order, and dials none of the others', () => {
    expect(decideAddresses(false, at('10.0.0.1', '93.184.216.34', '127.0.0.1', '1.1.1.1'))).toEqual(at('93.184.216.34', '1.1.1.1'));
  });

  it.each([
    [false, ['127.0.0.1'], 'private_destination', '127.0.0.1 is loopback', 'default: private destinations'],
    [false, ['10.0.0.1', '169.254.169.254'], 'metadata_destination', '169.254.169.254 is metadata', 'default: cloud metadata'],
    [true, ['169.254.169.254'], 'metadata_destination', '169.254.169.254 is metadata', 'default: cloud metadata'],
    [true, ['224.0.0.1'], 'private_destination', '224.0.0.1 is multicast', 'default: never dialled'],
  ] as const)('allowPrivate=%s, %j: denied for %s', (allowPrivate, list, reason, detail, rule) => {
    const d = decideAddresses(allowPrivate, at(...list));
    expect(isDenial(d)).toBe(true);
    expect(d).toEqual({ reason, code: 'DESTINATION_DENIED', detail, rule });
  });

  it('with allowPrivateDestinations, private addresses pass and metadata among them is dropped', () => {
    expect(decideAddresses(true, at('169.254.169.254', '10.0.0.1'))).toEqual(at('10.0.0.1'));
  });
});

describe('decideConnectPort and noRoute', () => {
  it('allows listed ports and any port for an empty list; names the rule otherwise', () => {
    expect(decideConnectPort([443], 443)).toBeNull();
    expect(decideConnectPort([], 22)).toBeNull();
    expect(decideConnectPort([443], 22)).toEqual({ reason: 'connect_port', code: 'REQUEST_DENIED', detail: 'CONNECT to port 22 is not allowed', rule: 'access.connectPorts' });
  });

  it('a request no configured route matches is denied by the routes', () => {
    expect(noRoute('x.test')).toEqual({ reason: 'no_route', code: 'REQUEST_DENIED', detail: 'no route for x.test', rule: 'routes' });
  });
});
