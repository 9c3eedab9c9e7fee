import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { checkHostGlob } from '../../../src/config/raw.js';
import type { PacConfig } from '../../../src/config/types.js';
import { jsString, renderPac } from '../../../src/observability/pac.js';
import { hostMatchesGlob } from '../../../src/proxy/routes.js';

type FindProxy = (url: string, host: string) => unknown;

/** Run the script in an empty context: no PAC helpers (dnsResolve, shExpMatch...), no network, no Node globals. */
function load(script: string): { find: FindProxy; context: vm.Context } {
  const context = vm.createContext({});
  vm.runInContext(script, context, { timeout: 1000 });
  const find = context['FindProxyForURL'] as unknown;
  if (typeof find !== 'function') throw new Error('no FindProxyForURL');
  return { find: find as FindProxy, context };
}

function pacFor(direct: string[], proxy = '127.0.0.1:8080'): FindProxy {
  return load(renderPac({ proxy, direct: direct.map((g, i) => checkHostGlob(g, `pac.direct[${i}]`)) })).find;
}

const PROXY = 'PROXY 127.0.0.1:8080';

describe('renderPac: which hosts go DIRECT', () => {
  const find = pacFor(['*.internal.example', 'intranet', '10.1.2.3', '2001:db8::1', '*.Corp.Example']);
  const cases: Array<[string, string, string]> = [
    ['a name below a *. glob', 'app.internal.example', 'DIRECT'],
    ['a name two labels below a *. glob', 'a.b.internal.example', 'DIRECT'],
    ['the apex of a *. glob', 'internal.example', PROXY],
    ['a name that only ends with the same letters', 'notinternal.example', PROXY],
    ['the suffix with a leading dot only', '.internal.example', PROXY],
    ['upper case below a *. glob', 'APP.Internal.EXAMPLE', 'DIRECT'],
    ['a trailing dot below a *. glob', 'app.internal.example.', 'DIRECT'],
    ['a glob written in upper case (config lower-cases it)', 'x.corp.example', 'DIRECT'],
    ['a listed dotless name', 'intranet', 'DIRECT'],
    ['a listed dotless name in upper case with a trailing dot', 'INTRANET.', 'DIRECT'],
    ['an unlisted dotless name', 'printer', PROXY],
    ['a name below a listed exact name', 'x.intranet', PROXY],
    ['a listed IPv4 literal', '10.1.2.3', 'DIRECT'],
    ['another IPv4 literal', '10.1.2.4', PROXY],
    ['a listed IPv6 literal, bare', '2001:db8::1', 'DIRECT'],
    ['a listed IPv6 literal, bracketed', '[2001:db8::1]', 'DIRECT'],
    ['a listed IPv6 literal in upper case', '2001:DB8::1', 'DIRECT'],
    ['another IPv6 literal', '2001:db8::2', PROXY],
    ['a public name', 'example.com', PROXY],
    ['an empty host', '', PROXY],
    ['a lone dot', '.', PROXY],
  ];
  for (const [title, host, want] of cases) {
    it(`${title}: ${JSON.stringify(host)} → ${want}`, () => {
      expect(find(`http://${host}/`, host)).toBe(want);
    });
  }

  it('an IPv6 glob written longhand also matches the form browsers send', () => {
    const f = pacFor(['2001:DB8:0:0:0:0:0:1', '::ffff:10.0.0.1']);
    expect(f('http://[2001:db8::1]/', '2001:db8::1')).toBe('DIRECT');
    expect(f('http://[::ffff:a00:1]/', '::ffff:a00:1')).toBe('DIRECT');
    expect(f('http://[::ffff:10.0.0.1]/', '::ffff:10.0.0.1')).toBe('DIRECT');
  });

  it('"*" sends every host DIRECT', () => {
    const f = pacFor(['*']);
    expect(f('http://example.com/', 'example.com')).toBe('DIRECT');
    expect(f('http://intranet/', 'intranet')).toBe('DIRECT');
  });

  it('no direct globs: every host gets the proxy', () => {
    const f = pacFor([]);
    expect(f('http://intranet/', 'intranet')).toBe(PROXY);
    expect(f('https://localhost/', 'localhost')).toBe(PROXY);
  });

  it('the proxy is given as configured, IPv6 included', () => {
    expect(pacFor([], '[::1]:3128')('http://a.example/', 'a.example')).toBe('PROXY [::1]:3128');
  });

  it('agrees with the routes rule (hostMatchesGlob) on normalised hosts', () => {
    const globs = ['*.internal.example', 'intranet', '10.1.2.3', 'a.example'];
    const hosts = ['internal.example', 'x.internal.example', 'x.y.internal.example', 'xinternal.example', 'intranet', 'intranet2', '10.1.2.3', 'a.example', 'b.a.example'];
    for (const glob of globs) {
      const f = pacFor([glob]);
      for (const host of hosts) expect([glob, host, f(`http://${host}/`, host)]).toEqual([glob, host, hostMatchesGlob(host, glob) ? 'DIRECT' : PROXY]);
    }
  });
});

describe('renderPac: config values stay data', () => {
  const HOSTILE = [
    '"); globalThis.pwned = 1; ("',
    "'; globalThis.pwned = 1; '",
    '\\',
    '\\"; globalThis.pwned = 1; //',
    '*/ globalThis.pwned = 1; /*',
    '\n globalThis.pwned = 1; //',
    '\u2028globalThis.pwned = 1; //',
    '\u2029globalThis.pwned = 1; //',
    '</script><script>pwned = 1</script>',
    '${globalThis.pwned = 1}',
    '\ud800 lone surrogate',
    'ünïcödé',
  ];

  it('hostile direct entries and proxy are embedded as strings and evaluate to themselves', () => {
    const pac: PacConfig = { proxy: 'evil"; globalThis.pwned = 1; "', direct: [...HOSTILE, ...HOSTILE.map((h) => `*.${h}`)] };
    const script = renderPac(pac);
    const { find, context } = load(script);
    expect(context['pwned']).toBeUndefined();
    expect(find('http://example.com/', 'example.com')).toBe(`PROXY ${pac.proxy}`);
    expect(context['pwned']).toBeUndefined();
    expect(Array.from(vm.runInContext('DFP_DIRECT_HOSTS', context) as string[])).toEqual(HOSTILE);
    expect(Array.from(vm.runInContext('DFP_DIRECT_SUFFIXES', context) as string[])).toEqual(HOSTILE.map((h) => `.${h}`));
    expect(context['pwned']).toBeUndefined();
  });

  it('hostile entries, lower-cased as config leaves them, are compared as data and match only themselves', () => {
    const lower = HOSTILE.map((h) => h.toLowerCase());
    const { find, context } = load(renderPac({ proxy: '127.0.0.1:8080', direct: lower }));
    for (const h of lower) expect(find('http://x/', h)).toBe('DIRECT');
    expect(find('http://x/', 'pwned')).toBe(PROXY);
    expect(context['pwned']).toBeUndefined();
  });

  it('the script is plain ASCII with no raw line breaks inside literals', () => {
    const script = renderPac({ proxy: '127.0.0.1:8080', direct: HOSTILE });
    expect(/^[\x09\x0a\x20-\x7e]*$/.test(script)).toBe(true);
    // One line per statement: no config value adds a line.
    expect(script.split('\n').length).toBe(renderPac({ proxy: '127.0.0.1:8080', direct: [] }).split('\n').length);
  });

  it('jsString round-trips through the JavaScript parser', () => {
    for (const s of [...HOSTILE, '', '\u0000\u001f\u007f', '😀']) {
      expect(vm.runInNewContext(jsString(s))).toBe(s);
    }
  });
});
