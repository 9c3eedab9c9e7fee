import net from 'node:net';
import tls from 'node:tls';
import { ClientHelloScanner, CH_NEED_MORE, type ClientHelloLimits } from '../../../src/tls/client-hello.js';

export interface Scan { code: number; reason: string | null; serverName: string | null; alpn: readonly string[] | null }

/** Push chunks in order until a verdict; the verdict and what came with it. */
export function scan(chunks: readonly Uint8Array[], limits?: ClientHelloLimits): Scan {
  const s = new ClientHelloScanner(limits);
  let code = CH_NEED_MORE;
  for (const c of chunks) {
    code = s.push(c);
    if (code !== CH_NEED_MORE) break;
  }
  return { code, reason: s.reason, serverName: s.serverName, alpn: s.alpn };
}

export function piecesOf(raw: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < raw.length; i += size) out.push(raw.subarray(i, Math.min(raw.length, i + size)));
  return out;
}

/** Cut `raw` at the given offsets (any order, duplicates and out-of-range ones ignored). */
export function cutAt(raw: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.filter((c) => c > 0 && c < raw.length))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let start = 0;
  for (const p of points) { out.push(raw.subarray(start, p)); start = p; }
  out.push(raw.subarray(start));
  return out;
}

/** Scan whole, byte by byte and at every two-piece split; throw if any way differs; return the whole result. */
export function scanAllWays(raw: Uint8Array, limits?: ClientHelloLimits): Scan {
  const whole = scan([raw], limits);
  const expected = JSON.stringify(whole);
  const check = (chunks: Uint8Array[], how: string): void => {
    const got = JSON.stringify(scan(chunks, limits));
    if (got !== expected) throw new Error(`${how}: differs from whole input\nwhole: ${expected}\n  got: ${got}`);
  };
  check(piecesOf(raw, 1), 'byte by byte');
  for (let k = 1; k < raw.length; k++) check([raw.subarray(0, k), raw.subarray(k)], `split at ${k}`);
  return whole;
}

const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
const u24 = (n: number): Buffer => Buffer.from([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);

export function extension(type: number, data: Buffer): Buffer {
  return Buffer.concat([u16(type), u16(data.length), data]);
}

/** server_name extension data: entries of [name_type, name bytes]. */
export function sniData(entries: ReadonlyArray<readonly [number, Buffer | string]>): Buffer {
  const list = Buffer.concat(entries.map(([t, n]) => {
    const name = typeof n === 'string' ? Buffer.from(n, 'latin1') : n;
    return Buffer.concat([Buffer.from([t]), u16(name.length), name]);
  }));
  return Buffer.concat([u16(list.length), list]);
}

export function alpnData(names: readonly string[]): Buffer {
  const list = Buffer.concat(names.map((n) => Buffer.concat([Buffer.from([n.length]), Buffer.from(n, 'latin1')])));
  return Buffer.concat([u16(list.length), list]);
}

export interface BodyOptions {
  sni?: string | null;
  alpn?: readonly string[] | null;
  /** Extra extensions after SNI and ALPN. */
  extra?: readonly Buffer[];
  /** Bytes of padding extension (type 21) to add. */
  padding?: number;
  /** No extensions block at all (TLS 1.2 and earlier may omit it). */
  noExtensions?: boolean;
  sessionIdLength?: number;
}

/** A ClientHello body (no handshake header) with TLS 1.3-ish fields. */
export function clientHelloBody(o: BodyOptions = {}): Buffer {
  const sessionId = Buffer.alloc(o.sessionIdLength ?? 32, 0x55);
  const fixed = Buffer.concat([
    Buffer.from([3, 3]), Buffer.alloc(32, 0xaa),
    Buffer.from([sessionId.length]), sessionId,
    u16(6), Buffer.from([0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f]),
    Buffer.from([1, 0]),
  ]);
  if (o.noExtensions === true) return fixed;
  const exts: Buffer[] = [];
  if (o.sni !== undefined && o.sni !== null) exts.push(extension(0, sniData([[0, o.sni]])));
  if (o.alpn !== undefined && o.alpn !== null) exts.push(extension(16, alpnData(o.alpn)));
  exts.push(extension(43, Buffer.from([4, 3, 4, 3, 3]))); // supported_versions
  for (const e of o.extra ?? []) exts.push(e);
  if (o.padding !== undefined) exts.push(extension(21, Buffer.alloc(o.padding)));
  const block = Buffer.concat(exts);
  return Buffer.concat([fixed, u16(block.length), block]);
}

export function handshake(body: Buffer, type = 1): Buffer {
  return Buffer.concat([Buffer.from([type]), u24(body.length), body]);
}

/** Frame `message` as handshake records cut at the given message offsets (default: one record). */
export function records(message: Buffer, cuts: readonly number[] = [], version = 0x0301): Buffer {
  const parts = cutAt(message, cuts);
  return Buffer.concat(parts.flatMap((p) => [Buffer.from([22, version >> 8, version & 0xff]), u16(p.length), p]));
}

/** The first flight Node's TLS client sends, read by a plain TCP server that then hangs up. */
export async function captureClientHello(options: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  try {
    const got = new Promise<Buffer>((resolve, reject) => {
      server.once('connection', (socket) => {
        const parts: Buffer[] = [];
        let have = 0;
        socket.on('data', (d: Buffer) => {
          parts.push(d);
          have += d.length;
          const all = Buffer.concat(parts);
          if (have >= 5 && have >= 5 + all.readUInt16BE(3)) { socket.destroy(); resolve(all); }
        });
        socket.on('error', reject);
      });
    });
    const client = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options });
    client.on('error', () => { /* the server hangs up mid-handshake */ });
    const hello = await got;
    client.destroy();
    return hello;
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
