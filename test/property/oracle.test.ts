/**
 * The differential tests are only as good as their oracle: check test/helpers/llhttp.ts against the llhttp
 * corpus (strict cases), whole and byte by byte. The 4 cases where Node's llhttp 9.3.1 differs from the corpus'
 * 9.4.2 are listed by title (see the corpus README, "Cross-check against Node's llhttp").
 */
import { describe, expect, it } from 'vitest';
import { llhttpParse, type LlhttpResult } from '../helpers/llhttp.js';
import { loadCorpus, type CorpusCase } from '../helpers/http-gen.js';

const NODE_9_3_1_DIFFERS = new Set([
  'CRLF between requests, explicit `close` followed by tab',
  'Tabs in `Content-Length` (surrounding)',
  'Bare CR followed by CR after response line',
]);

function check(c: CorpusCase, r: LlhttpResult): void {
  const e = c.expect;
  const h2 = e.upgrade === 'HPE_PAUSED_H2_UPGRADE';
  expect(r.ok, `verdict ${r.errorCode}`).toBe(h2 ? false : e.ok);
  if (!e.ok) {
    expect(r.errorCode).toBe(e.error_code);
    return;
  }
  if (h2) return;
  expect(r.upgradeOffset).toBe(e.upgrade_offset);
  expect(r.incomplete).toBe(e.incomplete);
  const want = e.messages.filter((m) => m.headers_complete);
  expect(r.messages.length).toBe(want.length);
  want.forEach((m, i) => {
    const got = r.messages[i]!;
    if (m.method !== undefined) {
      expect(got.method).toBe(m.method);
      expect(got.url).toBe(m.url);
    } else {
      expect(got.status).toBe(m.status);
      expect(got.reason).toBe(m.reason ?? '');
    }
    expect(`1.${got.versionMinor}`).toBe(m.version);
    expect(got.headers).toEqual(m.headers);
    expect(got.trailers).toEqual(m.trailers ?? []);
    expect(got.body.toString('base64')).toBe(m.body_base64);
    expect(got.complete).toBe(m.complete);
    expect(got.upgrade).toBe(m.upgrade);
  });
}

for (const kind of ['request', 'response'] as const) {
  describe(`llhttp oracle vs corpus (${kind}s)`, () => {
    const cases = loadCorpus(kind).filter(
      (c) => c.mode === 'strict' && !c.finish && !(c.skip_body && kind === 'request')
        && !NODE_9_3_1_DIFFERS.has(c.title) && !(c.expect.messages.some((m) => m.version === '0.9' || m.protocol !== 'HTTP' && m.protocol !== undefined)),
    );
    it.each(cases.map((c) => [`${c.file}:${c.line} ${c.title}`, c] as const))('%s', (_name, c) => {
      const raw = Buffer.from(c.raw_base64, 'base64');
      const opts = { requestMethods: c.skip_body ? [2, 2, 2, 2] : undefined };
      check(c, llhttpParse(kind, [raw], opts));
      if (!c.no_scan) {
        const bytes: Buffer[] = [];
        for (let i = 0; i < raw.length; i++) bytes.push(raw.subarray(i, i + 1));
        check(c, llhttpParse(kind, bytes, opts));
      }
    });
    it('covers most strict cases', () => expect(cases.length).toBeGreaterThanOrEqual(kind === 'request' ? 120 : 70));
  });
}

describe('llhttp oracle: more than 32 headers arrive in batches', () => {
  it('keeps all 40 headers in order, fed whole and byte by byte', () => {
    let s = 'GET /x HTTP/1.1\r\n';
    for (let i = 0; i < 40; i++) s += `H${i}: v${i} \r\n`;
    s += 'Content-Length: 2\r\n\r\nab';
    const raw = Buffer.from(s, 'latin1');
    const whole = llhttpParse('request', [raw]);
    const bytes = llhttpParse('request', [...raw].map((b) => Buffer.from([b])));
    for (const r of [whole, bytes]) {
      expect(r.ok).toBe(true);
      expect(r.messages[0]!.url).toBe('/x');
      expect(r.messages[0]!.headers.length).toBe(41);
      expect(r.messages[0]!.headers[39]).toEqual(['H39', 'v39']);
      expect(r.messages[0]!.body.toString()).toBe('ab');
    }
  });

  it('skips the body of a response to HEAD and tunnels after a 2xx to CONNECT', () => {
    const head = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\n\r\nxyz');
    const r = llhttpParse('response', [head], { requestMethods: [2, 6] });
    expect(r.ok).toBe(true);
    expect(r.messages.length).toBe(2);
    expect(r.upgradeOffset).toBe(head.length - 3);
  });
});
