/**
 * `npm run bench -- parser [--rounds N] [--ms T]`: dfp's HeadParser (+ BodyParser when there is a body) against
 * Node's llhttp (HTTPParser binding, the callbacks a proxy needs: method, URL, headers, body) in the same run.
 *
 * Cases: a browser GET head (~500 bytes, 12 headers), a small curl GET, a head with 40 headers, a response head
 * with a chunked body; each fed whole, in 1-byte chunks and in random chunks (fixed seed). The two parsers
 * alternate in rounds (default 7 rounds × 150 ms per parser and case) so machine noise hits both; the table shows
 * medians. Fairness: dfp makes the one string a proxy needs from a head (the Host value) and no others; llhttp's
 * binding makes its strings (method code, URL, every header name and value) itself.
 * The last line is `parser whole-head ratio dfp/llhttp: X.XX` (geometric mean over the whole-fed cases).
 */
import { createRequire } from 'node:module';
import { BODY_NONE, BodyParser, ERROR, HeadParser, NEED_MORE } from '../src/http/index.js';

interface Args { rounds: number; ms: number }
function parseArgs(argv: string[]): Args {
  const a: Args = { rounds: 7, ms: 150 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--rounds') a.rounds = Math.max(1, Math.min(21, Number(argv[++i]) | 0));
    else if (argv[i] === '--ms') a.ms = Math.max(20, Math.min(2000, Number(argv[++i]) | 0));
    else {
      process.stderr.write(`unknown argument ${argv[i]}\nusage: npm run bench -- parser [--rounds N] [--ms T]\n`);
      process.exit(2);
    }
  }
  return a;
}

// ---------------------------------------------------------------- inputs
const BROWSER_GET =
  'GET /search?q=dynamic+forward+proxy HTTP/1.1\r\n' +
  'Host: www.example.com\r\n' +
  'Connection: keep-alive\r\n' +
  'Upgrade-Insecure-Requests: 1\r\n' +
  'sec-ch-ua-mobile: ?0\r\n' +
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n' +
  'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n' +
  'Sec-Fetch-Site: same-origin\r\n' +
  'Sec-Fetch-Mode: navigate\r\n' +
  'Referer: https://www.example.com/\r\n' +
  'Accept-Encoding: gzip, deflate, br\r\n' +
  'Accept-Language: en-US,en;q=0.9\r\n' +
  'Cookie: sid=31d4d96e407aad42; theme=dark\r\n' +
  '\r\n';

const CURL_GET = 'GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n';

function manyHeaders(n: number): string {
  let s = 'GET /api/v2/items/12345?expand=owner HTTP/1.1\r\nHost: api.example.com\r\n';
  for (let i = 1; i < n; i++) s += `X-Custom-Header-${i}: value-${i}-${'abcdefgh'.slice(0, 1 + (i % 8))}\r\n`;
  return s + '\r\n';
}

function chunkedResponse(): string {
  const chunks = [512, 256, 128].map((n, i) => `${n.toString(16)}\r\n${String.fromCharCode(0x61 + i).repeat(n)}\r\n`).join('');
  return (
    'HTTP/1.1 200 OK\r\n' +
    'Date: Mon, 23 Nov 2026 12:00:00 GMT\r\n' +
    'Content-Type: text/html; charset=utf-8\r\n' +
    'Transfer-Encoding: chunked\r\n' +
    'Connection: keep-alive\r\n' +
    'Cache-Control: private, max-age=0\r\n' +
    'Server: origin\r\n' +
    'Vary: Accept-Encoding\r\n' +
    '\r\n' + chunks + '0\r\n\r\n'
  );
}

interface Case { name: string; kind: 'request' | 'response'; bytes: Buffer; headers: number }
const CASES: Case[] = [
  { name: 'browser GET', kind: 'request', bytes: Buffer.from(BROWSER_GET, 'latin1'), headers: 12 },
  { name: 'curl GET', kind: 'request', bytes: Buffer.from(CURL_GET, 'latin1'), headers: 3 },
  { name: '40 headers', kind: 'request', bytes: Buffer.from(manyHeaders(40), 'latin1'), headers: 40 },
  { name: 'resp chunked', kind: 'response', bytes: Buffer.from(chunkedResponse(), 'latin1'), headers: 7 },
];

/** mulberry32, fixed seed: the same random chunking every run */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Feeding = 'whole' | '1-byte' | 'random';
function feed(bytes: Buffer, how: Feeding): Buffer[] {
  if (how === 'whole') return [bytes];
  const out: Buffer[] = [];
  const r = rng(0xdf9);
  for (let i = 0; i < bytes.length; ) {
    const n = how === '1-byte' ? 1 : 1 + Math.floor(r() * 128);
    // copies, as socket reads would be separate buffers
    out.push(Buffer.from(bytes.subarray(i, i + n)));
    i += n;
  }
  return out;
}

// ---------------------------------------------------------------- dfp
let sink = 0;

function makeDfp(kind: 'request' | 'response') {
  const head = new HeadParser(kind);
  const body = new BodyParser();
  return function parseOnce(chunks: Buffer[]): void {
    head.reset();
    let inBody = false;
    for (let c = 0; c < chunks.length; c++) {
      const chunk = chunks[c]!;
      let i = 0;
      if (!inBody) {
        const r = head.execute(chunk, 0, chunk.length);
        if (r === NEED_MORE) continue;
        if (r === ERROR) throw new Error(`dfp: ${head.error}`);
        if (head.hostIndex >= 0) sink += head.headerValue(head.hostIndex).length;
        sink += head.headerCount;
        if (head.bodyKind === BODY_NONE) return;
        body.reset(head.bodyKind, head.contentLength);
        if (body.done) return;
        inBody = true;
        i = r;
      }
      const r = body.execute(chunk, i, chunk.length);
      if (r === ERROR) throw new Error(`dfp body: ${body.error}`);
      if (body.done) return;
    }
    throw new Error('dfp: message incomplete');
  };
}

// ---------------------------------------------------------------- llhttp
interface ParserLike {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(buf: Buffer): number | Error;
  [k: number]: unknown;
}
const require = createRequire(import.meta.url);
const { HTTPParser } = require('_http_common') as {
  HTTPParser: { new (): ParserLike; REQUEST: number; RESPONSE: number; kOnMessageBegin: number; kOnHeaders: number;
    kOnHeadersComplete: number; kOnBody: number; kOnMessageComplete: number; kOnExecute: number };
};

let llDone = false;
function makeLlhttp(kind: 'request' | 'response') {
  const p = new HTTPParser();
  p[HTTPParser.kOnMessageBegin] = () => {};
  p[HTTPParser.kOnHeaders] = (headers: string[], url: string) => {
    sink += headers.length + url.length;
  };
  p[HTTPParser.kOnHeadersComplete] = (_maj: number, _min: number, headers: string[] | undefined, method: number, url: string | undefined) => {
    sink += (headers?.length ?? 0) + (url?.length ?? 0) + (method | 0);
    return 0;
  };
  p[HTTPParser.kOnBody] = (b: Buffer) => {
    sink += b.length;
  };
  p[HTTPParser.kOnMessageComplete] = () => {
    llDone = true;
  };
  p[HTTPParser.kOnExecute] = null;
  p.initialize(kind === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {}, 0, 0);
  return function parseOnce(chunks: Buffer[]): void {
    llDone = false;
    for (let c = 0; c < chunks.length; c++) {
      const r = p.execute(chunks[c]!);
      if (typeof r !== 'number') throw r;
    }
    if (!llDone) throw new Error('llhttp: message incomplete');
  };
}

// ---------------------------------------------------------------- timing
function measure(fn: (chunks: Buffer[]) => void, chunks: Buffer[], ms: number): number {
  // batches of ~5 ms; returns ops per second over the whole window
  let batch = 16;
  let ops = 0;
  let elapsed = 0;
  const limit = BigInt(ms) * 1_000_000n;
  let total = 0n;
  while (total < limit) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) fn(chunks);
    const dt = process.hrtime.bigint() - t0;
    total += dt;
    ops += batch;
    if (dt < 2_000_000n && batch < 1 << 20) batch *= 2;
  }
  elapsed = Number(total) / 1e9;
  return ops / elapsed;
}

const median = (a: number[]): number => {
  const s = [...a].sort((x, y) => x - y);
  return s[s.length >> 1]!;
};

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const feedings: Feeding[] = ['whole', '1-byte', 'random'];
  interface Row { c: Case; how: Feeding; chunks: Buffer[]; dfp: (ch: Buffer[]) => void; ll: (ch: Buffer[]) => void; d: number[]; l: number[] }
  const rows: Row[] = [];
  for (const c of CASES) {
    for (const how of feedings) {
      rows.push({ c, how, chunks: feed(c.bytes, how), dfp: makeDfp(c.kind), ll: makeLlhttp(c.kind), d: [], l: [] });
    }
  }
  // correctness first, then warm-up (JIT) for both
  for (const r of rows) {
    r.dfp(r.chunks);
    r.ll(r.chunks);
    measure(r.dfp, r.chunks, 20);
    measure(r.ll, r.chunks, 20);
  }
  const t0 = Date.now();
  process.stdout.write(`parser bench: ${args.rounds} rounds × ${args.ms} ms per parser per case (node ${process.version})\n`);
  for (let round = 0; round < args.rounds; round++) {
    for (const r of rows) {
      if (round % 2 === 0) {
        r.d.push(measure(r.dfp, r.chunks, args.ms));
        r.l.push(measure(r.ll, r.chunks, args.ms));
      } else {
        r.l.push(measure(r.ll, r.chunks, args.ms));
        r.d.push(measure(r.dfp, r.chunks, args.ms));
      }
    }
  }
  const pad = (s: string, n: number) => s.padEnd(n);
  const num = (x: number, n: number) => x.toFixed(0).padStart(n);
  process.stdout.write(
    `\n${pad('case', 14)}${pad('bytes', 7)}${pad('feeding', 9)}${'dfp ops/s'.padStart(12)}${'llhttp ops/s'.padStart(14)}` +
      `${'dfp MB/s'.padStart(10)}${'llhttp MB/s'.padStart(13)}${'dfp/llhttp'.padStart(12)}\n`,
  );
  const wholeRatios: number[] = [];
  for (const r of rows) {
    const d = median(r.d);
    const l = median(r.l);
    const ratio = d / l;
    if (r.how === 'whole') wholeRatios.push(ratio);
    const mb = r.c.bytes.length / 1e6;
    process.stdout.write(
      `${pad(r.c.name, 14)}${pad(String(r.c.bytes.length), 7)}${pad(r.how, 9)}${num(d, 12)}${num(l, 14)}` +
        `${(d * mb).toFixed(1).padStart(10)}${(l * mb).toFixed(1).padStart(13)}${ratio.toFixed(2).padStart(12)}\n`,
    );
  }
  const geo = Math.exp(wholeRatios.reduce((a, x) => a + Math.log(x), 0) / wholeRatios.length);
  process.stdout.write(`\n(${((Date.now() - t0) / 1000).toFixed(1)} s measured; checksum ${sink % 1000})\n`);
  process.stdout.write(`parser whole-head ratio dfp/llhttp: ${geo.toFixed(2)}\n`);
}

main();
