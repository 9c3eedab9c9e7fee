/**
 * The destination policy's two steps as a table (policy/access-policy.ts): names before resolution,
 * addresses after it. Cases a test cannot dial (cloud metadata, public addresses) are decided here.
 */
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../../src/config/defaults.js';
import { compileAccessPolicy, decideAddressesWithRules, decideName, NAME_ALLOWED, NAME_OPEN, Reported } from '../../../src/policy/access-policy.js';
import { isDenial } from '../../../src/policy/decision.js';

function policy(p: { allow?: string[]; deny?: string[]; allowPrivate?: boolean; report?: boolean }) {
  const access = defaultConfig().access;
  access.allow = (p.allow ?? []).map((rule) => ({ rule, name: null }));
  access.deny = (p.deny ?? []).map((rule) => ({ rule, name: null }));
  access.allowPrivateDestinations = p.allowPrivate ?? false;
  access.mode = p.report ? 'report' : 'enforce';
  return compileAccessPolicy(access);
}

/** One address's verdict: 'ok', or the denial's rule. */
function verdict(pol: ReturnType<typeof policy>, address: string, port = 443, nameAllowed = false): string {
  const r = decideAddressesWithRules(pol, [{ address }], port, nameAllowed);
  if (r instanceof Reported) return `reported: ${r.wouldDeny.rule}`;
  return isDenial(r) ? r.rule : 'ok';
}

describe('cloud metadata addresses', () => {
  it('are opened only by an allow rule naming exactly that address', () => {
    expect(verdict(policy({ allow: ['169.254.169.254'] }), '169.254.169.254')).toBe('ok');
    expect(verdict(policy({ allow: ['169.254.169.254/32:80'] }), '169.254.169.254', 80)).toBe('ok');
    expect(verdict(policy({ allow: ['169.254.169.254/32:80'] }), '169.254.169.254', 443)).toBe('default: cloud metadata');
    expect(verdict(policy({ allow: ['fd00:ec2::254'] }), 'fd00:ec2::254')).toBe('ok');
    for (const wide of ['169.254.0.0/16', '0.0.0.0/0', '169.254.169.254/31']) {
      expect(verdict(policy({ allow: [wide] }), '169.254.169.254')).toBe('default: cloud metadata');
    }
    // allowPrivateDestinations opens private ranges, never metadata.
    expect(verdict(policy({ allowPrivate: true }), '169.254.169.254')).toBe('default: cloud metadata');
  });

  it('an exact allow rule opens it wherever it stands in the list, and not through a 6to4 spelling', () => {
    expect(verdict(policy({ allow: ['169.254.0.0/16', '169.254.169.254'] }), '169.254.169.254')).toBe('ok');
    expect(verdict(policy({ allow: ['169.254.169.254', '169.254.0.0/16'] }), '169.254.169.254')).toBe('ok');
    expect(verdict(policy({ allow: ['169.254.169.254'] }), '2002:a9fe:a9fe:dead::1')).toBe('default: cloud metadata');
    expect(verdict(policy({ allow: ['169.254.169.254'] }), '::ffff:169.254.169.254')).toBe('ok');
  });

  it('an exact allow rule does not outrank a deny rule', () => {
    expect(verdict(policy({ allow: ['169.254.169.254'], deny: ['169.254.0.0/16'] }), '169.254.169.254')).toBe('deny rule 0: 169.254.0.0/16');
  });

  it('stay refused in report mode (the guard is not a rule)', () => {
    expect(verdict(policy({ report: true, allow: ['*.ok.test'] }), '169.254.169.254')).toBe('default: cloud metadata');
  });
});

describe('private addresses', () => {
  it('an allow CIDR opens exactly its range; an allowed name opens none', () => {
    const pol = policy({ allow: ['10.1.0.0/16', '*.corp.test'] });
    expect(verdict(pol, '10.1.2.3')).toBe('ok');
    expect(verdict(pol, '10.2.0.1')).toBe('default: private destinations');
    expect(verdict(pol, '10.2.0.1', 443, true)).toBe('default: private destinations');
  });

  it('a block that also holds public space ("the internet") opens no private address', () => {
    for (const [rule, address] of [
      ['0.0.0.0/0', '127.0.0.1'],
      ['0.0.0.0/0', '10.0.0.1'],
      ['::/0', '::1'],
      ['::/0', '::ffff:127.0.0.1'],
      ['2000::/3', '2002:7f00:1::'],
      ['10.0.0.0/7', '10.0.0.1'],
    ]) {
      expect([rule, address, verdict(policy({ allow: [rule!] }), address!)]).toEqual([rule, address, 'default: private destinations']);
    }
    // …while a specific rule later in the list still does.
    expect(verdict(policy({ allow: ['0.0.0.0/0', '127.0.0.1'] }), '127.0.0.1')).toBe('ok');
    expect(verdict(policy({ allow: ['0.0.0.0/0'] }), '93.184.216.34')).toBe('ok');
  });

  it('unspecified and multicast are never dialled, whatever the rules', () => {
    for (const a of ['0.0.0.0', '::', '224.0.0.1', 'ff02::1']) {
      expect(verdict(policy({ allow: ['0.0.0.0/0', '::/0'], allowPrivate: true }), a)).toBe('default: never dialled');
    }
  });
});

describe('deny rules on addresses', () => {
  it('match the IPv4 an IPv6 spelling embeds (mapped, NAT64, 6to4)', () => {
    const pol = policy({ deny: ['93.184.216.0/24'] });
    for (const a of ['93.184.216.34', '::ffff:93.184.216.34', '64:ff9b::5db8:d822', '2002:5db8:d822::1']) expect(verdict(pol, a)).toBe('deny rule 0: 93.184.216.0/24');
    expect(verdict(pol, '93.184.217.1')).toBe('ok');
  });

  it('drop only the addresses they cover; the rest are dialled', () => {
    const r = decideAddressesWithRules(policy({ deny: ['93.184.216.0/24'] }), [{ address: '93.184.216.34' }, { address: '93.184.217.1' }], 443, false);
    expect(r).toEqual([{ address: '93.184.217.1' }]);
  });
});

describe('names', () => {
  it('deny wins over allow; no rule: the addresses decide only when allow has address rules', () => {
    expect(decideName(policy({ allow: ['*.ok.test'], deny: ['bad.ok.test'] }), 'bad.ok.test', 443)).toMatchObject({ rule: 'deny rule 0: bad.ok.test' });
    expect(decideName(policy({ allow: ['*.ok.test'] }), 'a.ok.test', 443)).toBe(NAME_ALLOWED);
    expect(decideName(policy({ allow: ['*.ok.test'] }), 'other.test', 443)).toMatchObject({ reason: 'not_allowed' });
    expect(decideName(policy({ allow: ['*.ok.test', '203.0.113.0/24'] }), 'other.test', 443)).toBe(NAME_OPEN);
    expect(decideName(policy({}), 'anything.test', 443)).toBe(NAME_OPEN);
  });

  it('report mode: a rule that would refuse an address is reported, the address dialled', () => {
    expect(verdict(policy({ report: true, deny: ['93.184.216.0/24'] }), '93.184.216.34')).toBe('reported: deny rule 0: 93.184.216.0/24');
    expect(verdict(policy({ report: true, allow: ['*.ok.test'] }), '93.184.216.34')).toBe('reported: access.allow');
  });
});
