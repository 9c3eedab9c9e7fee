/**
 * The PAC file served at GET /proxy.pac on the admin port (config key `pac`).
 *
 * FindProxyForURL answers "DIRECT" for hosts matching a `pac.direct` glob and
 * "PROXY host:port" for everything else, with no DIRECT fallback: a browser that
 * cannot reach dfp fails instead of silently bypassing its policy. Globs follow
 * the rule of routes (proxy/routes.ts hostMatchesGlob): "*" is every host,
 * "*.x.example" every name below x.example but not x.example itself, anything
 * else (a name, a dotless intranet name, an IP literal) only that host.
 *
 * Every config value reaches the script as a JSON string literal (jsString), never
 * as code or inside a comment, and the script is plain ES3 (var, loops, substring)
 * so old PAC engines run it too. It uses none of the PAC helper functions
 * (dnsResolve, shExpMatch, ...): the answer never waits for DNS.
 */
import type { PacConfig } from '../config/types.js';

export const PAC_CONTENT_TYPE = 'application/x-ns-proxy-autoconfig';

/**
 * A JavaScript string literal for `text`, in ASCII. JSON.stringify escapes quotes,
 * backslashes, control characters and lone surrogates; everything past U+007E is
 * escaped as well, so the script needs no charset and U+2028/U+2029 (line ends in
 * engines before ES2019) cannot end a line inside the literal.
 */
export function jsString(text: string): string {
  return JSON.stringify(text).replace(/[\u007f-\uffff]/g, escapeUnit);
}

function escapeUnit(unit: string): string {
  return `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

function jsStringArray(items: readonly string[]): string {
  return `[${items.map(jsString).join(', ')}]`;
}

/**
 * The forms a browser may hand FindProxyForURL for a configured IPv6 literal: as
 * written, and in the WHATWG URL serialisation browsers use ("2001:db8::1",
 * "::ffff:102:304"). Other entries are returned as they are.
 */
function exactForms(glob: string): string[] {
  if (!glob.includes(':')) return [glob];
  try {
    const host = new URL(`http://[${glob}]/`).hostname;
    const canonical = host.slice(1, -1);
    return canonical === glob ? [glob] : [glob, canonical];
  } catch {
    return [glob];
  }
}

/** The PAC script for `pac` (globs as resolved by config: lower-case, validated). */
export function renderPac(pac: PacConfig): string {
  const isAllDirect = pac.direct.includes('*');
  const exact: string[] = [];
  const suffixes: string[] = [];
  for (const glob of pac.direct) {
    if (glob === '*') continue;
    // "*.x.example" → ".x.example": a match must be longer than the suffix.
    if (glob.startsWith('*.')) pushUnique(suffixes, glob.slice(1));
    else for (const form of exactForms(glob)) pushUnique(exact, form);
  }
  return [
    '// dfp: generated from the `pac` config key.',
    `var DFP_PROXY = ${jsString(`PROXY ${pac.proxy}`)};`,
    `var DFP_ALL_DIRECT = ${isAllDirect ? 'true' : 'false'};`,
    `var DFP_DIRECT_HOSTS = ${jsStringArray(exact)};`,
    `var DFP_DIRECT_SUFFIXES = ${jsStringArray(suffixes)};`,
    '',
    'function FindProxyForURL(url, host) {',
    '  if (DFP_ALL_DIRECT) return "DIRECT";',
    '  var h = String(host).toLowerCase();',
    '  if (h.length > 1 && h.charAt(h.length - 1) === ".") h = h.substring(0, h.length - 1);',
    '  if (h.charAt(0) === "[" && h.charAt(h.length - 1) === "]") h = h.substring(1, h.length - 1);',
    '  var i;',
    '  for (i = 0; i < DFP_DIRECT_HOSTS.length; i++) {',
    '    if (h === DFP_DIRECT_HOSTS[i]) return "DIRECT";',
    '  }',
    '  for (i = 0; i < DFP_DIRECT_SUFFIXES.length; i++) {',
    '    var s = DFP_DIRECT_SUFFIXES[i];',
    '    if (h.length > s.length && h.substring(h.length - s.length) === s) return "DIRECT";',
    '  }',
    '  return DFP_PROXY;',
    '}',
    '',
  ].join('\n');
}

function pushUnique(list: string[], item: string): void {
  if (!list.includes(item)) list.push(item);
}
