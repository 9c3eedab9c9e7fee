import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CH_DONE, CH_INVALID, CH_NEED_MORE, CH_NOT_TLS, CH_TOO_LARGE, ClientHelloScanner,
} from '../../../src/tls/client-hello.js';
import { checkProperty } from '../../helpers/property.js';
import {
  alpnData, captureClientHello, clientHelloBody, cutAt, extension, handshake, records, scan, scanAllWays, sniData,
  type BodyOptions,
} from './helpers.js';

/** One record, default body options. */
const hello = (o: BodyOptions = {}, cuts: number[] = []): Buffer => records(handshake(clientHelloBody(o)), cuts);
const TERMINAL = [CH_DONE, CH_NOT_TLS, CH_INVALID, CH_TOO_LARGE];
/** Enough zero bytes to end any record in progress and then fail on the next header. */
const ZEROS = Buffer.alloc(5 + 16384 + 5);

describe('ClientHellos captured from Node', () => {
  let withSni: Buffer;
  let noSni: Buffer;
  let tls12: Buffer;
  beforeAll(async () => {
    withSni = await captureClientHello({ servername: 'example.test', ALPNProtocols: ['h2', 'http/1.1'] });
    noSni = await captureClientHello({});
    tls12 = await captureClientHello({ servername: 'Legacy.Example.TEST', maxVersion: 'TLSv1.2' });
  });

  it('SNI and ALPN are read, whole, byte by byte and at every split', () => {
    expect(scanAllWays(withSni)).toEqual({ code: CH_DONE, reason: null, serverName: 'example.test', alpn: ['h2', 'http/1.1'] });
  });

  it('a connection to an IP address carries no SNI and no ALPN', () => {
    expect(scanAllWays(noSni)).toEqual({ code: CH_DONE, reason: null, serverName: null, alpn: null });
  });

  it('a TLS 1.2-only ClientHello is read and its name lower-cased', () => {
    expect(scanAllWays(tls12)).toMatchObject({ code: CH_DONE, serverName: 'legacy.example.test', alpn: null });
  });

  it('the same hellos re-framed over 1-byte records give the same answer', () => {
    for (const raw of [withSni, noSni, tls12]) {
      const message = raw.subarray(5);
      const cuts = Array.from({ length: message.length - 1 }, (_, i) => i + 1);
      expect(scan([records(message, cuts)])).toEqual(scan([raw]));
    }
  });

  it('the caller\'s bytes are not modified', () => {
    const copy = Buffer.from(tls12);
    scan([tls12]);
    expect(tls12.equals(copy)).toBe(true);
  });
});

describe('hand-built ClientHellos', () => {
  const sniAlpn: BodyOptions = { sni: 'www.example.com', alpn: ['h2', 'http/1.1'] };
  const done = { code: CH_DONE, reason: null, serverName: 'www.example.com', alpn: ['h2', 'http/1.1'] };

  it.each([
    ['one record', []],
    ['two records, cut in the body', [40]],
    ['three records, the handshake header itself cut', [2, 60]],
    ['records cut right after the handshake header and in the SNI', [4, 80]],
  ])('%s', (_name, cuts) => {
    expect(scanAllWays(hello(sniAlpn, cuts))).toEqual(done);
  });

  it('a 6 KiB padding extension over records of 4 KiB', () => {
    const raw = hello({ ...sniAlpn, padding: 6144 }, [4096]);
    expect(scan([raw])).toEqual(done);
    for (const size of [1, 7, 1000, 5000]) {
      const pieces: Buffer[] = [];
      for (let i = 0; i < raw.length; i += size) pieces.push(raw.subarray(i, i + size));
      expect(scan(pieces)).toEqual(done);
    }
  });

  it('a body over maxBytes is CH_TOO_LARGE once its length is read; a larger maxBytes admits it over two full records', () => {
    const message = handshake(clientHelloBody({ ...sniAlpn, padding: 20000 }));
    const raw = records(message, [16384]);
    expect(scan([raw.subarray(0, 9)])).toMatchObject({ code: CH_TOO_LARGE, reason: 'CLIENT_HELLO_TOO_LARGE' });
    expect(scan([raw], { maxBytes: 32768 })).toEqual(done);
    const small = hello(sniAlpn);
    const bodyLength = small.length - 9;
    expect(scan([small], { maxBytes: bodyLength })).toEqual(done);
    expect(scan([small], { maxBytes: bodyLength - 1 })).toMatchObject({ code: CH_TOO_LARGE });
  });

  it('no extensions block at all (TLS 1.2 style): done, no SNI, no ALPN', () => {
    expect(scanAllWays(hello({ noExtensions: true }))).toEqual({ code: CH_DONE, reason: null, serverName: null, alpn: null });
  });

  it('an empty extensions block: done, no SNI', () => {
    const body = Buffer.concat([clientHelloBody({ noExtensions: true }), Buffer.from([0, 0])]);
    expect(scan([records(handshake(body))])).toMatchObject({ code: CH_DONE, serverName: null });
  });

  it.each([
    ['EXAMPLE.com', 'example.com'],
    ['example.com.', 'example.com'],
    ['Www.Ex-Ample.CO.UK.', 'www.ex-ample.co.uk'],
    ['a', 'a'],
    ['_dmarc.example.com', '_dmarc.example.com'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['1.2.3.example', '1.2.3.example'],
    [`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`, `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`],
  ])('SNI %j is read as %j', (name, expected) => {
    expect(scan([hello({ sni: name })])).toMatchObject({ code: CH_DONE, serverName: expected });
  });

  it.each([
    ['192.168.0.1', 'SNI_IP_LITERAL'],
    ['127.1', 'SNI_IP_LITERAL'],
    ['2130706433', 'SNI_IP_LITERAL'],
    ['0x7f000001', 'SNI_IP_LITERAL'],
    ['example.0X1F', 'SNI_IP_LITERAL'],
    ['::1', 'SNI_IP_LITERAL'],
    ['fe80::1', 'SNI_IP_LITERAL'],
    ['1.2.3.4.', 'SNI_IP_LITERAL'],
    ['[::1]', 'SNI_BAD_NAME'],
    ['', 'SNI_EMPTY_NAME'],
    ['.', 'SNI_EMPTY_NAME'],
    ['example.com..', 'SNI_BAD_NAME'],
    ['a..b', 'SNI_BAD_NAME'],
    ['.a', 'SNI_BAD_NAME'],
    ['-a.com', 'SNI_BAD_NAME'],
    ['a-.com', 'SNI_BAD_NAME'],
    ['ex ample.com', 'SNI_BAD_NAME'],
    ['example.com:443', 'SNI_BAD_NAME'],
    ['b\u00fccher.example', 'SNI_BAD_NAME'],
    ['a\u0000.com', 'SNI_BAD_NAME'],
    [`${'a'.repeat(64)}.com`, 'SNI_BAD_NAME'],
    [`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(62)}`, 'SNI_NAME_TOO_LONG'],
  ])('SNI %j is refused: %s', (name, reason) => {
    expect(scan([hello({ sni: name })])).toEqual({ code: CH_INVALID, reason, serverName: null, alpn: null });
  });

  const withExtensions = (exts: Buffer[]): Buffer => {
    const fixed = clientHelloBody({ noExtensions: true });
    const block = Buffer.concat(exts);
    return records(handshake(Buffer.concat([fixed, Buffer.from([block.length >> 8, block.length & 0xff]), block])));
  };

  it.each([
    ['an empty server_name extension', [extension(0, Buffer.alloc(0))], 'BAD_SNI_LENGTH'],
    ['an empty ServerNameList', [extension(0, Buffer.from([0, 0]))], 'SNI_EMPTY_LIST'],
    ['a list length past the extension', [extension(0, Buffer.from([0, 9, 0, 0, 1, 0x61]))], 'BAD_SNI_LENGTH'],
    ['an entry cut inside its header', [extension(0, Buffer.from([0, 2, 0, 0]))], 'BAD_SNI_LENGTH'],
    ['only a non-host_name entry', [extension(0, sniData([[1, 'x']]))], 'SNI_NOT_HOST_NAME'],
    ['two host_name entries', [extension(0, sniData([[0, 'a.test'], [0, 'b.test']]))], 'SNI_DUPLICATE_HOST_NAME'],
    ['two server_name extensions', [extension(0, sniData([[0, 'a.test']])), extension(0, sniData([[0, 'a.test']]))], 'DUPLICATE_EXTENSION'],
    ['two padding extensions', [extension(21, Buffer.alloc(1)), extension(21, Buffer.alloc(1))], 'DUPLICATE_EXTENSION'],
    ['an empty ALPN extension', [extension(16, Buffer.alloc(0))], 'BAD_ALPN_LENGTH'],
    ['an empty ALPN list', [extension(16, Buffer.from([0, 0]))], 'ALPN_EMPTY_LIST'],
    ['an empty ALPN name', [extension(16, Buffer.from([0, 1, 0]))], 'ALPN_EMPTY_NAME'],
    ['an ALPN name past its list', [extension(16, Buffer.from([0, 2, 5, 0x68]))], 'BAD_ALPN_LENGTH'],
    ['an extension header cut short', [Buffer.from([0, 21, 0])], 'TRUNCATED_EXTENSION'],
  ])('%s is invalid: %s', (_name, exts, reason) => {
    expect(scan([withExtensions(exts)])).toMatchObject({ code: CH_INVALID, reason });
  });

  it('a non-host_name entry beside the host_name one is skipped', () => {
    expect(scan([withExtensions([extension(0, sniData([[7, 'zz'], [0, 'Ok.Test']]))])])).toMatchObject({ code: CH_DONE, serverName: 'ok.test' });
  });

  it('an encrypted_client_hello extension is reported beside the outer (public) name', () => {
    const s = new ClientHelloScanner();
    expect(s.push(withExtensions([extension(0, sniData([[0, 'public.test']])), extension(0xfe0d, Buffer.from([0]))]))).toBe(CH_DONE);
    expect([s.serverName, s.hasEncryptedClientHello]).toEqual(['public.test', true]);
    s.reset();
    expect(s.push(hello({ sni: 'public.test' }))).toBe(CH_DONE);
    expect(s.hasEncryptedClientHello).toBe(false);
  });

  it('an ALPN name with any bytes is read as latin1', () => {
    expect(scan([withExtensions([extension(16, alpnData(['\u00ff\u0001']))])])).toMatchObject({ code: CH_DONE, alpn: ['\u00ff\u0001'] });
  });
});

/** Offsets of every length field in hello(sniAlpn) and what corrupting it by +1 / -1 gives. */
describe('every length field corrupted by +1 and -1', () => {
  const body = clientHelloBody({ sni: 'www.example.com', alpn: ['h2', 'http/1.1'] });
  const raw = records(handshake(body));
  // Layout: record header 5, handshake header 4, version 2, random 32, session id 1+32, suites 2+6, compression 1+1, extensions 2+...
  const B = 9;
  const ext = B + 2 + 32 + 1 + 32 + 2 + 6 + 1 + 1; // extensions length
  const sni = ext + 2; // server_name extension: type 2, length 2, list 2, name_type 1, name 2
  const alpn = sni + 4 + 2 + 1 + 2 + 15; // ALPN extension: type 2, length 2, list 2, name 1
  type Field = [name: string, offset: number, width: 1 | 2 | 3, plus: [number, string | null], minus: [number, string | null]];
  const fields: Field[] = [
    // The record only frames: one byte too many is never read (the message completes first).
    ['record length', 3, 2, [CH_DONE, null], [CH_INVALID, 'INTERLEAVED_RECORD']],
    ['handshake length', 6, 3, [CH_NEED_MORE, null], [CH_INVALID, 'TRUNCATED_EXTENSIONS']],
    ['session id length', B + 34, 1, [CH_INVALID, 'BAD_SESSION_ID'], [CH_INVALID, 'TRUNCATED_CLIENT_HELLO']],
    ['cipher suites length', B + 67, 2, [CH_INVALID, 'BAD_CIPHER_SUITES'], [CH_INVALID, 'BAD_CIPHER_SUITES']],
    ['compression length', B + 75, 1, [CH_INVALID, 'TRUNCATED_EXTENSIONS'], [CH_INVALID, 'BAD_COMPRESSION_METHODS']],
    ['extensions length', ext, 2, [CH_INVALID, 'TRUNCATED_EXTENSIONS'], [CH_INVALID, 'TRAILING_BYTES']],
    ['server_name extension length', sni + 2, 2, [CH_INVALID, 'BAD_SNI_LENGTH'], [CH_INVALID, 'BAD_SNI_LENGTH']],
    ['ServerNameList length', sni + 4, 2, [CH_INVALID, 'BAD_SNI_LENGTH'], [CH_INVALID, 'BAD_SNI_LENGTH']],
    ['host_name length', sni + 7, 2, [CH_INVALID, 'BAD_SNI_LENGTH'], [CH_INVALID, 'BAD_SNI_LENGTH']],
    ['ALPN extension length', alpn + 2, 2, [CH_INVALID, 'BAD_ALPN_LENGTH'], [CH_INVALID, 'BAD_ALPN_LENGTH']],
    ['ALPN list length', alpn + 4, 2, [CH_INVALID, 'BAD_ALPN_LENGTH'], [CH_INVALID, 'BAD_ALPN_LENGTH']],
    ['first ALPN name length', alpn + 6, 1, [CH_INVALID, 'BAD_ALPN_LENGTH'], [CH_INVALID, 'BAD_ALPN_LENGTH']],
  ];

  it('the offsets point at the lengths they name', () => {
    expect(raw.readUInt16BE(3)).toBe(raw.length - 5);
    expect(raw.readUIntBE(6, 3)).toBe(body.length);
    expect(raw.readUInt16BE(ext)).toBe(raw.length - ext - 2);
    expect([raw.readUInt16BE(sni - 0), raw.readUInt16BE(sni + 7), raw.toString('latin1', sni + 9, sni + 24)]).toEqual([0, 15, 'www.example.com']);
    expect([raw.readUInt16BE(alpn), raw[alpn + 6], raw.toString('latin1', alpn + 7, alpn + 9)]).toEqual([16, 2, 'h2']);
  });

  it.each(fields)('%s', (_name, offset, width, plus, minus) => {
    for (const [delta, [code, reason]] of [[1, plus], [-1, minus]] as const) {
      const bad = Buffer.from(raw);
      bad.writeUIntBE(raw.readUIntBE(offset, width) + delta, offset, width);
      const got = scanAllWays(bad);
      expect([delta, got.code, got.reason]).toEqual([delta, code, reason]);
    }
  });
});

describe('records and first bytes', () => {
  const ok = hello({ sni: 'a.test' });
  it.each([
    ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\n'), CH_NOT_TLS, 'NOT_HANDSHAKE_RECORD'],
    ['an SSLv2-style first byte', Buffer.from([0x80, 0x2e, 0x01, 0x03, 0x01]), CH_NOT_TLS, 'NOT_HANDSHAKE_RECORD'],
    ['an alert record first', Buffer.from([21, 3, 3, 0, 2, 2, 40]), CH_NOT_TLS, 'NOT_HANDSHAKE_RECORD'],
    ['a record version major not 3', Buffer.from([22, 2, 0]), CH_NOT_TLS, 'NOT_TLS_RECORD_VERSION'],
    ['SSLv3 record version 0x0300', Buffer.from([22, 3, 0]), CH_INVALID, 'SSL3_RECORD_VERSION'],
    ['record version 0x0305', Buffer.from([22, 3, 5]), CH_INVALID, 'BAD_RECORD_VERSION'],
    ['record length 0', Buffer.from([22, 3, 1, 0, 0]), CH_INVALID, 'EMPTY_RECORD'],
    ['record length 16385', Buffer.from([22, 3, 1, 0x40, 0x01]), CH_INVALID, 'RECORD_TOO_LONG'],
    ['a ServerHello', Buffer.from([22, 3, 3, 0, 4, 2, 0, 0, 0]), CH_INVALID, 'NOT_CLIENT_HELLO'],
    ['a handshake length of 0', Buffer.from([22, 3, 1, 0, 4, 1, 0, 0, 0]), CH_INVALID, 'TRUNCATED_CLIENT_HELLO'],
    ['a handshake length over 16384', Buffer.from([22, 3, 1, 0, 4, 1, 0, 0x40, 0x01]), CH_TOO_LARGE, 'CLIENT_HELLO_TOO_LARGE'],
    ['an alert between the records of a ClientHello', Buffer.concat([hello({ sni: 'a.test' }, [20]).subarray(0, 5 + 20), Buffer.from([21])]),
      CH_INVALID, 'INTERLEAVED_RECORD'],
    ['a continuation record of version 0x0200', Buffer.concat([hello({}, [10]).subarray(0, 5 + 10), Buffer.from([22, 2])]), CH_INVALID, 'BAD_RECORD_VERSION'],
  ])('%s', (_name, raw, code, reason) => {
    expect(scanAllWays(raw)).toMatchObject({ code, reason });
  });

  it.each([0x0301, 0x0302, 0x0303, 0x0304])('record version %s is accepted', (version) => {
    expect(scan([records(handshake(clientHelloBody({ sni: 'a.test' })), [30], version)])).toMatchObject({ code: CH_DONE, serverName: 'a.test' });
  });

  it.each([
    ['client version 0x0300', (b: Buffer) => { b[1] = 0; }, 'BAD_CLIENT_VERSION'],
    ['client version 0x0203', (b: Buffer) => { b[0] = 2; }, 'BAD_CLIENT_VERSION'],
  ])('%s is invalid', (_name, mutate, reason) => {
    const body = clientHelloBody({ sni: 'a.test' });
    mutate(body);
    expect(scan([records(handshake(body))])).toMatchObject({ code: CH_INVALID, reason });
  });

  it('bodies cut short before the extensions are TRUNCATED_CLIENT_HELLO; one stray byte is TRUNCATED_EXTENSIONS', () => {
    const full = clientHelloBody({ noExtensions: true });
    for (let n = 1; n < full.length; n++) {
      const got = scan([records(handshake(full.subarray(0, n)))]);
      expect([n, got.code, got.reason]).toEqual([n, CH_INVALID, 'TRUNCATED_CLIENT_HELLO']);
    }
    expect(scan([records(handshake(Buffer.concat([full, Buffer.from([0])])))])).toMatchObject({ code: CH_INVALID, reason: 'TRUNCATED_EXTENSIONS' });
  });

  it('a verdict is sticky until reset(), and reset() makes the scanner reusable', () => {
    const s = new ClientHelloScanner();
    expect(s.push(Buffer.from('GET '))).toBe(CH_NOT_TLS);
    expect(s.push(ok)).toBe(CH_NOT_TLS);
    s.reset();
    expect([s.reason, s.serverName]).toEqual([null, null]);
    expect(s.push(ok.subarray(0, 20))).toBe(CH_NEED_MORE);
    expect(s.push(ok.subarray(20))).toBe(CH_DONE);
    expect(s.serverName).toBe('a.test');
    expect(s.push(Buffer.from('more'))).toBe(CH_DONE);
    s.reset();
    expect(s.push(Buffer.alloc(0))).toBe(CH_NEED_MORE);
    expect(s.push(ok)).toBe(CH_DONE);
  });

  it('bytes after the ClientHello (the rest of its record, the next record) are not read', () => {
    const trailer = Buffer.from([23, 3, 3, 0, 1, 0]);
    expect(scan([Buffer.concat([ok, trailer])])).toMatchObject({ code: CH_DONE, serverName: 'a.test' });
  });

  it.each([0, -1, 1.5, 0x1000000, Number.NaN])('maxBytes %s is a RangeError', (maxBytes) => {
    expect(() => new ClientHelloScanner({ maxBytes })).toThrow(RangeError);
  });
});

describe('properties', () => {
  const LDH = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-';
  const char = (set: string) => fc.integer({ min: 0, max: set.length - 1 }).map((i) => set[i]!);
  const inner = (set: string, max: number) => fc.array(char(set), { maxLength: max }).map((a) => a.join(''));
  const alnum = char(LDH.slice(0, -1));
  const letter = char(LDH.slice(0, 52));
  const label = fc.oneof(alnum, fc.tuple(alnum, inner(LDH, 61), alnum).map(([a, m, z]) => a + m + z));
  const lastLabel = fc.tuple(letter, inner(LDH, 61), alnum).map(([a, m, z]) => a + m + z);
  const nameArb = fc.tuple(fc.array(label, { maxLength: 4 }), lastLabel, fc.boolean())
    .map(([labels, last, dot]) => [...labels, last].join('.') + (dot ? '.' : ''))
    .filter((n) => n.length <= 253);
  const cutsArb = fc.array(fc.nat({ max: 1 << 16 }), { maxLength: 12 });

  it('any valid name survives any split over records and TCP segments, lower-cased', () => {
    checkProperty(fc.property(nameArb, fc.nat({ max: 3000 }), cutsArb, cutsArb, (name, padding, recordCuts, tcpCuts) => {
      const message = handshake(clientHelloBody({ sni: name, alpn: ['h2'], padding }));
      const expected = { code: CH_DONE, reason: null, serverName: name.toLowerCase().replace(/\.$/, ''), alpn: ['h2'] };
      const raw = records(message, recordCuts.map((c) => c % message.length));
      expect(scan([raw])).toEqual(expected);
      expect(scan(cutAt(raw, tcpCuts.map((c) => c % raw.length)))).toEqual(expected);
    }), { numRuns: 300, timeMs: 3000, floor: 100 });
  });

  /** Never throws, always a code, the same verdict however split, and terminal once enough zeros follow. */
  const checkArbitrary = (raw: Uint8Array, cuts: number[]): void => {
    const whole = scan([raw]);
    expect([CH_NEED_MORE, ...TERMINAL]).toContain(whole.code);
    expect(scan(cutAt(raw, cuts.map((c) => c % Math.max(1, raw.length))))).toEqual(whole);
    const s = new ClientHelloScanner();
    s.push(raw);
    expect(TERMINAL).toContain(s.push(ZEROS));
    if (whole.code === CH_DONE) expect(s.serverName).toBe(whole.serverName);
  };

  it('random bytes never throw and always reach a verdict', () => {
    const tlsLike = fc.tuple(fc.uint8Array({ maxLength: 4096 }), fc.boolean()).map(([b, prefix]) => {
      if (prefix && b.length > 5) { b[0] = 22; b[1] = 3; b[2] = 1 + (b[2]! & 3); b[5] = 1; }
      return b;
    });
    checkProperty(fc.property(tlsLike, cutsArb, checkArbitrary), { numRuns: 300, timeMs: 3000, floor: 100 });
  });

  it('mutations of a real ClientHello never throw and always reach a verdict', async () => {
    const real = await captureClientHello({ servername: 'example.test', ALPNProtocols: ['h2', 'http/1.1'] });
    const mutation = fc.oneof(
      fc.tuple(fc.constant('flip' as const), fc.nat(), fc.integer({ min: 1, max: 255 })),
      fc.tuple(fc.constant('insert' as const), fc.nat(), fc.integer({ min: 0, max: 255 })),
      fc.tuple(fc.constant('delete' as const), fc.nat(), fc.integer({ min: 1, max: 8 })),
    );
    checkProperty(fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), cutsArb, (ops, cuts) => {
      let b = Buffer.from(real);
      for (const [op, at, v] of ops) {
        const i = at % b.length;
        if (op === 'flip') b[i] = b[i]! ^ v;
        else if (op === 'insert') b = Buffer.concat([b.subarray(0, i), Buffer.from([v]), b.subarray(i)]);
        else b = Buffer.concat([b.subarray(0, i), b.subarray(i + v)]);
      }
      checkArbitrary(b, cuts);
    }), { numRuns: 300, timeMs: 3000, floor: 100 });
  });

  it('a verdict comes within 6 × (maxBytes + 4) bytes however the message is cut into records', () => {
    const maxBytes = 200;
    checkProperty(fc.property(fc.uint8Array({ maxLength: maxBytes }), cutsArb, (body, cuts) => {
      const message = handshake(Buffer.from(body));
      const all = Array.from({ length: message.length }, (_, i) => i + 1);
      for (const raw of [records(message, cuts.map((c) => c % message.length)), records(message, all)]) {
        expect(raw.length).toBeLessThanOrEqual(6 * (maxBytes + 4));
        expect(TERMINAL).toContain(scan([raw], { maxBytes }).code);
      }
    }), { numRuns: 300, timeMs: 3000, floor: 100 });
  });
});
