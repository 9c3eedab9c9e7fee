/**
 * Host normalisation (dns/name.ts) and the destination guard
 * (policy/address.ts) read IP literals with one parser (policy/ip.ts). This
 * property holds them to it: on IPv4 in every spelling (decimal, octal, hex,
 * short, 32-bit), IPv6 with embedded IPv4, zone ids and junk, whatever
 * normalizeHost calls an IP literal, the guard classifies its canonical form
 * exactly as it classifies the input, and what normalizeHost refuses as an
 * ambiguous IPv4 spelling the guard does not read as an address either.
 *
 * Inputs are ASCII: full-width digits that IDN mapping turns into an IPv4
 * literal are covered by the URL differential in name.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProxyError } from '../../../src/errors.js';
import { normalizeHost, type HostTarget } from '../../../src/dns/name.js';
import { classifyAddress, type AddressClass } from '../../../src/policy/address.js';
import { hasZone } from '../../../src/policy/ip.js';

const octet = fc.integer({ min: 0, max: 255 });

/** One part of a dotted IPv4 spelling: mostly plain decimal, sometimes a form resolvers disagree on. */
const v4Part = fc.oneof(
  { weight: 6, arbitrary: octet.map(String) },
  { weight: 1, arbitrary: octet.map((n) => `0${n.toString(8)}`) }, // octal
  { weight: 1, arbitrary: octet.map((n) => `0x${n.toString(16)}`) }, // hex
  { weight: 1, arbitrary: octet.map((n) => `00${n}`) }, // leading zeros
  { weight: 1, arbitrary: fc.integer({ min: 256, max: 0xffffffff }).map(String) }, // short form / 32-bit
);

const v4 = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(octet, octet, octet, octet).map((a) => a.join('.')) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '127.0.0.1', '10.0.0.1', '0.0.0.0', '255.255.255.255', '169.254.169.254', '169.254.170.2',
      '100.100.100.200', '168.63.129.16', '192.0.0.192', '100.64.0.1', '224.0.0.1', '8.8.8.8', '192.0.2.1',
    ),
  },
  { weight: 2, arbitrary: fc.array(v4Part, { minLength: 1, maxLength: 5 }).map((p) => p.join('.')) },
);

/** A hex group: any value, sometimes zero-padded, sometimes too long. */
const group = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16)) },
  { weight: 3, arbitrary: fc.constantFrom('0', '0', '1', 'ffff', 'FFFF', '64', 'ff9b', '2002', '2001', 'db8', 'fe80', 'fd00', 'ec2', '254', 'ff02') },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xff }).map((n) => `00${n.toString(16)}`) },
  { weight: 1, arbitrary: fc.integer({ min: 0x10000, max: 0xfffff }).map((n) => n.toString(16)) },
);

/** Up to nine groups, an optional "::" anywhere, an optional dotted tail: mostly malformed. */
const v6Free = fc
  .tuple(fc.array(group, { maxLength: 9 }), fc.option(fc.nat(9), { nil: undefined }), fc.option(v4, { nil: undefined }))
  .map(([groups, gapAt, tail]) => {
    const parts = tail === undefined ? groups : [...groups, tail];
    if (gapAt === undefined) return parts.join(':');
    const at = Math.min(gapAt, parts.length);
    return `${parts.slice(0, at).join(':')}::${parts.slice(at).join(':')}`;
  });

/** Eight groups, or fewer around one "::": well-formed unless a group or the tail is not. */
const v6Shaped = fc
  .tuple(fc.array(group, { minLength: 8, maxLength: 8 }), fc.nat(8), fc.nat(8), fc.option(v4, { nil: undefined }))
  .map(([groups, a, b, tail]) => {
    const parts = tail === undefined ? groups : [...groups.slice(0, 6), tail];
    const from = Math.min(a, b, parts.length);
    const to = Math.min(Math.max(a, b), parts.length);
    if (from === to) return parts.join(':');
    return `${parts.slice(0, from).join(':')}::${parts.slice(to).join(':')}`;
  });

/** The IPv6 spellings that carry an IPv4 address (classified by it), in dotted and hex form. */
const v6Embedding = fc
  .tuple(fc.constantFrom('::ffff:', '::ffff:0:', '::', '64:ff9b::', '64:ff9b:1::', '2002:', '0:0:0:0:0:ffff:'), v4, fc.boolean())
  .map(([prefix, address, asHex]) => {
    const parts = address.split('.').map(Number);
    if (!asHex || parts.length !== 4 || parts.some((n) => !(n >= 0 && n <= 255))) return prefix + address;
    const hi = ((parts[0]! << 8) | parts[1]!).toString(16);
    const lo = ((parts[2]! << 8) | parts[3]!).toString(16);
    return prefix === '2002:' ? `2002:${hi}:${lo}::1` : `${prefix}${hi}:${lo}`;
  });

const junk = fc
  .array(fc.constantFrom(...'0123456789abcdefxABCDEFX.:%[]-_g'), { minLength: 1, maxLength: 24 })
  .map((a) => a.join(''));

const literal = fc.oneof(
  { weight: 3, arbitrary: v4 },
  { weight: 1, arbitrary: v6Free },
  { weight: 3, arbitrary: v6Shaped },
  { weight: 3, arbitrary: v6Embedding },
  { weight: 1, arbitrary: junk },
);

/** As a request host: upper or lower case, maybe a zone id, maybe bracketed, maybe a trailing dot. */
const host = fc
  .tuple(
    literal,
    fc.boolean(),
    fc.oneof({ weight: 6, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('%eth0', '%25eth0', '%1', '%') }),
    fc.constantFrom('', '', '[]', '.'),
  )
  .map(([text, upper, zone, wrap]) => {
    const t = (upper ? text.toUpperCase() : text) + zone;
    if (wrap === '[]') return `[${t}]`;
    return t + wrap;
  });

/** What the guard makes of a request host: brackets or one trailing dot taken off, nothing else. */
function guardClassOf(raw: string): AddressClass {
  if (raw.startsWith('[') && raw.endsWith(']')) return classifyAddress(raw.slice(1, -1));
  return classifyAddress(raw.endsWith('.') ? raw.slice(0, -1) : raw);
}

function normalized(raw: string): HostTarget | string {
  try {
    return normalizeHost(raw);
  } catch (err) {
    if (!(err instanceof ProxyError)) throw err;
    return err.detail;
  }
}

describe('normalizeHost and the destination guard agree on IP literals', () => {
  it('an accepted IP literal classifies the same in canonical form and as written; refused spellings are not addresses to the guard (bounded: 2,000 runs, 10 s)', () => {
    const seen = { ip: 0, name: 0, refused: 0 };
    fc.assert(
      fc.property(host, (raw) => {
        const target = normalized(raw);
        const asWritten = guardClassOf(raw);
        if (typeof target === 'string') {
          seen.refused++;
          // Only IPv6 syntax (a zone id, brackets around IPv4, a trailing dot) is refused while the
          // guard could read the text; never an IPv4 spelling the guard would take as an address.
          if (asWritten !== 'invalid') expect(target, raw).toBe('HOST_BAD_IPV6');
          return;
        }
        if (target.kind === 'name') {
          seen.name++;
          expect(classifyAddress(target.name), raw).toBe('invalid');
          expect(asWritten, raw).toBe('invalid');
          return;
        }
        seen.ip++;
        expect(hasZone(target.address), raw).toBe(false);
        expect(asWritten, raw).not.toBe('invalid');
        expect(classifyAddress(target.address, target.family), raw).toBe(asWritten);
        expect(classifyAddress(target.address), raw).toBe(asWritten);
        // The canonical form is a fixed point: normalising it again changes nothing.
        expect(normalizeHost(target.address), raw).toEqual(target);
      }),
      { numRuns: 2_000, seed: 20260113, plugins: [fc.interruptAfterTimeLimit(10_000)] },
    );
    const runs = seen.ip + seen.name + seen.refused;
    expect(runs).toBeGreaterThanOrEqual(500);
    // Not vacuous: a good share of inputs are IP literals, and some are refused.
    expect(seen.ip).toBeGreaterThan(runs / 5);
    expect(seen.refused).toBeGreaterThan(runs / 10);
  });

  it.each([
    ['a zone id, bare', 'fe80::1%eth0', 'HOST_BAD_IPV6', 'link-local'],
    ['a zone id, bracketed and percent-encoded', '[fe80::1%25eth0]', 'HOST_BAD_IPV6', 'link-local'],
    ['IPv4 in brackets', '[127.0.0.1]', 'HOST_BAD_IPV6', 'loopback'],
    ['short IPv4', '127.1', 'HOST_AMBIGUOUS_IPV4', 'invalid'],
    ['octal IPv4', '0177.0.0.1', 'HOST_AMBIGUOUS_IPV4', 'invalid'],
    ['hex IPv4', '0x7f.0.0.1', 'HOST_AMBIGUOUS_IPV4', 'invalid'],
    ['a 32-bit number', '2130706433', 'HOST_AMBIGUOUS_IPV4', 'invalid'],
    ['a mapped address with an octal tail', '[::ffff:0177.0.0.1]', 'HOST_BAD_IPV6', 'invalid'],
  ] as const)('refuses %s (%s) with %s; the guard reads it as %s', (_title, raw, reason, guard) => {
    expect(normalized(raw)).toBe(reason);
    expect(guardClassOf(raw)).toBe(guard);
  });

  it.each([
    ['IPv4 with a trailing dot', '169.254.169.254.', '169.254.169.254', 'metadata'],
    ['mapped IPv4 in hex', '[::FFFF:A9FE:A9FE]', '::ffff:169.254.169.254', 'metadata'],
    ['NAT64 with a dotted tail', '64:ff9b::127.0.0.1', '64:ff9b::7f00:1', 'loopback'],
    ['6to4', '[2002:a00:1::1]', '2002:a00:1::1', 'private'],
    ['translated IPv4', '::ffff:0:10.0.0.1', '::ffff:0:a00:1', 'private'],
    ['compatible IPv4', '[::127.0.0.1]', '::7f00:1', 'loopback'],
  ] as const)('accepts %s (%s) as %s, classified %s either way', (_title, raw, canonical, cls) => {
    const target = normalizeHost(raw);
    expect(target).toMatchObject({ kind: 'ip', address: canonical });
    expect(classifyAddress(canonical)).toBe(cls);
    expect(guardClassOf(raw)).toBe(cls);
  });
});
