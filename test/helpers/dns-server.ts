/**
 * A small authoritative-looking DNS server for tests: UDP on 127.0.0.1, port 0.
 * It answers A/AAAA from a table you set per name, or an rcode, or nothing
 * (silent), optionally after a delay, and counts queries per name and type.
 *
 *   const dns = await startDnsServer();
 *   onTestFinished(() => dns.close());
 *   dns.set('example.test', { a: ['127.0.0.1'], aaaa: ['::1'], ttl: 30 });
 *   dns.set('gone.test', { rcode: 'NXDOMAIN' });
 *   dns.set('empty.test', { rcode: 'NODATA' });     // NOERROR, no records of the asked type
 *   dns.set('slow.test', { silent: true });
 *   dns.set('late.test', { a: ['127.0.0.1'], delayMs: 200 });
 *   config.dns.servers = [dns.address];            // '127.0.0.1:PORT'
 *   dns.queries('example.test', 'A');              // how many A queries it saw
 *
 * Names are matched case-insensitively without the trailing dot; the question
 * is echoed byte for byte (so DNS 0x20 case randomisation works). Names not set
 * get `options.unknown` (default NXDOMAIN). Wire format: RFC 1035 §4.
 */
import dgram from 'node:dgram';

export type DnsRcode = 'NOERROR' | 'FORMERR' | 'SERVFAIL' | 'NXDOMAIN' | 'NOTIMP' | 'REFUSED';

export interface DnsAnswerSpec {
  /** IPv4 addresses for A queries. */
  a?: string[];
  /** IPv6 addresses for AAAA queries. */
  aaaa?: string[];
  /** TTL in seconds for every record (default 30). */
  ttl?: number;
  /** Answer with this rcode and no records. NODATA = NOERROR with no records. */
  rcode?: DnsRcode | 'NODATA';
  /** Do not answer at all. */
  silent?: boolean;
  /** Answer this many ms late. */
  delayMs?: number;
}

export type DnsQueryType = 'A' | 'AAAA' | 'OTHER';

export interface TestDnsServer {
  /** '127.0.0.1:PORT', for DnsConfig.servers / --dns-server. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  set(name: string, spec: DnsAnswerSpec): void;
  delete(name: string): void;
  /** Queries seen for `name` (any case, trailing dot or not), of `type` or of any type. */
  queries(name: string, type?: DnsQueryType): number;
  totalQueries(): number;
  resetCounts(): void;
  close(): Promise<void>;
}

export interface DnsServerOptions {
  /** What names not set get (default NXDOMAIN). */
  unknown?: DnsRcode | 'silent';
}

const TYPE_A = 1;
const TYPE_AAAA = 28;
const CLASS_IN = 1;

const RCODE_VALUES: Record<DnsRcode, number> = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
};

interface Question {
  id: number;
  flags: number;
  /** Lower-case, no trailing dot. */
  name: string;
  type: number;
  /** The question section as received. */
  raw: Buffer;
}

function canonicalName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** Parse a query's header and first question; undefined when malformed. */
export function parseQuery(msg: Buffer): Question | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) < 1) return undefined;
  const labels: string[] = [];
  let i = 12;
  for (;;) {
    if (i >= msg.length) return undefined;
    const n = msg[i]!;
    if (n === 0) break;
    if (n > 63 || i + 1 + n > msg.length) return undefined;
    labels.push(msg.toString('latin1', i + 1, i + 1 + n));
    i += 1 + n;
  }
  i++;
  if (i + 4 > msg.length) return undefined;
  return {
    id: msg.readUInt16BE(0),
    flags: msg.readUInt16BE(2),
    name: canonicalName(labels.join('.')),
    type: msg.readUInt16BE(i),
    raw: msg.subarray(12, i + 4),
  };
}

function ipv4Bytes(address: string): Buffer {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`dns-server: bad IPv4 ${address}`);
  }
  return Buffer.from(parts);
}

function ipv6Bytes(address: string): Buffer {
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const missing = 8 - headGroups.length - tailGroups.length;
  if (tail === undefined ? missing !== 0 : missing < 1) throw new Error(`dns-server: bad IPv6 ${address}`);
  const groups = [...headGroups, ...new Array<string>(tail === undefined ? 0 : missing).fill('0'), ...tailGroups];
  const out = Buffer.alloc(16);
  groups.forEach((g, k) => {
    const v = Number.parseInt(g, 16);
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw new Error(`dns-server: bad IPv6 ${address}`);
    out.writeUInt16BE(v, k * 2);
  });
  return out;
}

function answerRecord(type: number, ttl: number, rdata: Buffer): Buffer {
  const rr = Buffer.alloc(12 + rdata.length);
  rr.writeUInt16BE(0xc00c, 0); // pointer to the question's name
  rr.writeUInt16BE(type, 2);
  rr.writeUInt16BE(CLASS_IN, 4);
  rr.writeUInt32BE(ttl >>> 0, 6);
  rr.writeUInt16BE(rdata.length, 10);
  rdata.copy(rr, 12);
  return rr;
}

/** Encode a response to `q`: rcode and answer records. */
export function encodeResponse(q: Question, rcode: number, answers: Buffer[]): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  const opcode = q.flags & 0x7800;
  const rd = q.flags & 0x0100;
  header.writeUInt16BE(0x8000 | opcode | 0x0400 | rd | 0x0080 | rcode, 2); // QR AA RD RA
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  return Buffer.concat([header, q.raw, ...answers]);
}

function recordsFor(spec: DnsAnswerSpec, type: number): Buffer[] {
  const ttl = spec.ttl ?? 30;
  if (type === TYPE_A) return (spec.a ?? []).map((a) => answerRecord(TYPE_A, ttl, ipv4Bytes(a)));
  if (type === TYPE_AAAA) return (spec.aaaa ?? []).map((a) => answerRecord(TYPE_AAAA, ttl, ipv6Bytes(a)));
  return [];
}

function typeName(type: number): DnsQueryType {
  return type === TYPE_A ? 'A' : type === TYPE_AAAA ? 'AAAA' : 'OTHER';
}

export async function startDnsServer(options: DnsServerOptions = {}): Promise<TestDnsServer> {
  const socket = dgram.createSocket('udp4');
  const table = new Map<string, DnsAnswerSpec>();
  const counts = new Map<string, number>();
  const delayed = new Set<NodeJS.Timeout>();
  let total = 0;
  let isClosed = false;
  const unknown: DnsAnswerSpec =
    options.unknown === 'silent' ? { silent: true } : { rcode: options.unknown ?? 'NXDOMAIN' };

  const send = (msg: Buffer, port: number, address: string): void => {
    if (!isClosed) socket.send(msg, port, address);
  };

  socket.on('message', (msg, remote) => {
    const q = parseQuery(msg);
    if (q === undefined) return;
    total++;
    const key = `${q.name} ${typeName(q.type)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    const spec = table.get(q.name) ?? unknown;
    if (spec.silent) return;
    const rcode = spec.rcode === undefined || spec.rcode === 'NODATA' ? 0 : RCODE_VALUES[spec.rcode];
    const answers = rcode === 0 && spec.rcode !== 'NODATA' ? recordsFor(spec, q.type) : [];
    const reply = encodeResponse(q, rcode, answers);
    if (!spec.delayMs) return send(reply, remote.port, remote.address);
    const timer = setTimeout(() => {
      delayed.delete(timer);
      send(reply, remote.port, remote.address);
    }, spec.delayMs);
    delayed.add(timer);
  });

  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.on('error', () => {}); // ICMP port unreachable from a client that went away
  const port = socket.address().port;

  return {
    address: `127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    set(name, spec) {
      for (const a of spec.a ?? []) ipv4Bytes(a); // fail at set(), not at query time
      for (const a of spec.aaaa ?? []) ipv6Bytes(a);
      table.set(canonicalName(name), { ...spec });
    },
    delete(name) {
      table.delete(canonicalName(name));
    },
    queries(name, type) {
      const n = canonicalName(name);
      if (type !== undefined) return counts.get(`${n} ${type}`) ?? 0;
      return (counts.get(`${n} A`) ?? 0) + (counts.get(`${n} AAAA`) ?? 0) + (counts.get(`${n} OTHER`) ?? 0);
    },
    totalQueries() {
      return total;
    },
    resetCounts() {
      counts.clear();
      total = 0;
    },
    close() {
      if (isClosed) return Promise.resolve();
      isClosed = true;
      for (const t of delayed) clearTimeout(t);
      delayed.clear();
      return new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}
