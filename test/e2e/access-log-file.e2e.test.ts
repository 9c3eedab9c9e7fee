/**
 * The access log in a file behind a real proxy: requests and tunnels land in `log.accessFile`; a logrotate
 * (rename, create, reopen) between requests puts the lines logged before it in the renamed file and those
 * after it in the new one, each once; close() after the proxy's shutdown leaves nothing behind.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { defaultConfig } from '../../src/config/defaults.js';
import { FileAccessLog, type AccessLogSink, type AccessRecord } from '../../src/observability/access-log.js';
import { startProxy } from '../../src/proxy/server.js';
import { startDnsServer } from '../helpers/dns-server.js';
import { startEchoOrigin, startRawOrigin } from '../helpers/origin.js';
import { connectRaw, rawRequest } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';

/** The file sink, with the records handed to it counted (so a test knows a line was logged before it rotates). */
class CountingSink implements AccessLogSink {
  count = 0;
  /** Hosts in the order they were logged. */
  readonly hosts: string[] = [];
  /** Called after a record is written (a test rotates from here: mid-burst, at an exact record). */
  afterWrite: (count: number) => void = () => {};
  constructor(readonly file: FileAccessLog) {}
  write(record: AccessRecord): void {
    this.count++;
    this.hosts.push(record.host);
    this.file.write(record);
    this.afterWrite(this.count);
  }
  flush(): void {
    this.file.flush();
  }
}

async function start(format: 'json' | 'pretty') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dfp-e2e-access-'));
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'access.log');
  const dns = await startDnsServer();
  onTestFinished(() => dns.close());
  const config = defaultConfig();
  config.listeners = [{ address: { host: '127.0.0.1', port: 0 }, mode: 'http', tls: null, proxyProtocol: false, upstreamPort: 443 }];
  config.admin = null;
  config.dns.servers = [dns.address];
  config.access.allowPrivateDestinations = true;
  config.access.connectPorts = [];
  const log = new FileAccessLog(file, { format });
  const sink = new CountingSink(log);
  const proxy = await startProxy(config, { accessLog: sink });
  // Shutdown order as in the CLI: the proxy drains (and flushes), then the log is closed.
  onTestFinished(async () => {
    await proxy.close();
    await log.close();
  });
  const rotate = (n: number) => {
    fs.renameSync(file, `${file}.${n}`);
    fs.writeFileSync(file, '', { mode: 0o640 }); // logrotate `create`
    log.reopen(); // what SIGUSR1 does
  };
  const stop = async () => {
    await proxy.close();
    await log.close();
  };
  return { port: proxy.addresses[0]!.port, dns, file, log, sink, rotate, stop };
}

function jsonLines(file: string): Record<string, unknown>[] {
  const text = fs.readFileSync(file, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text.slice(0, -1).split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('access log file behind a running proxy', () => {
  it('requests and a tunnel land in the file, split by a logrotate at the moment of the reopen', async () => {
    const p = await start('json');
    const origin = await startEchoOrigin();
    const raw = await startRawOrigin((s) => {
      s.on('data', (c: Buffer) => s.write(c));
      s.on('end', () => s.end());
    });
    for (const name of ['a1', 'a2', 'a3', 'b1', 'b2', 'b3', 'tunnel']) p.dns.set(`${name}.test`, { a: ['127.0.0.1'] });
    const get = async (name: string) => {
      const res = await rawRequest(p.port, `GET http://${name}.test:${origin.port}/ HTTP/1.1\r\nHost: ${name}.test:${origin.port}\r\n\r\n`);
      expect(res.responses[0]?.status).toBe(200);
    };

    for (const name of ['a1', 'a2', 'a3']) await get(name);
    // A tunnel open across the rotation is logged when it ends: after the reopen, so in the new file.
    const tunnel = await connectRaw(p.port);
    tunnel.send(`CONNECT tunnel.test:${raw.port} HTTP/1.1\r\nHost: tunnel.test:${raw.port}\r\n\r\nping`);
    await waitFor(() => tunnel.received().toString().endsWith('ping'));
    await waitFor(() => p.sink.count === 3);
    p.rotate(1); // the three lines are still batched in memory: they must go to the renamed file
    for (const name of ['b1', 'b2', 'b3']) await get(name);
    const nx = await rawRequest(p.port, `GET http://nx.test/ HTTP/1.1\r\nHost: nx.test\r\n\r\n`);
    expect(nx.responses[0]?.status).toBe(502);
    tunnel.close();
    await waitFor(() => p.sink.count === 8);
    await p.stop();

    const before = jsonLines(`${p.file}.1`);
    expect(before.map((r) => r.host)).toEqual(['a1.test', 'a2.test', 'a3.test']);
    for (const r of before) expect(r).toMatchObject({ mode: 'forward', method: 'GET', port: origin.port, address: '127.0.0.1', status: 200, error: null });
    const after = jsonLines(p.file);
    expect(after.length).toBe(5);
    expect(after.filter((r) => r.mode === 'forward').map((r) => r.host)).toEqual(['b1.test', 'b2.test', 'b3.test', 'nx.test']);
    expect(after.find((r) => r.host === 'nx.test')).toMatchObject({ status: 502, error: 'DNS_NXDOMAIN', address: null });
    expect(after.find((r) => r.mode === 'connect')).toMatchObject({ host: 'tunnel.test', method: 'CONNECT', status: 200, bytes_in: 4, bytes_out: 4 });
    expect(p.log.dropped).toBe(0);
  });

  it('pretty lines from concurrent requests, rotated mid-burst: every request once, each line whole', async () => {
    const p = await start('pretty');
    const origin = await startEchoOrigin();
    const names = Array.from({ length: 40 }, (_, i) => `r${i}.test`);
    for (const name of names) p.dns.set(name, { a: ['127.0.0.1'] });
    const cut = 20; // right after the 20th record is logged, from inside the proxy's write: the rest are in flight
    p.sink.afterWrite = (count) => {
      if (count === cut) p.rotate(1);
    };
    const requests = names.map(async (name) => {
      const res = await rawRequest(p.port, `GET http://${name}:${origin.port}/x HTTP/1.1\r\nHost: ${name}:${origin.port}\r\n\r\n`);
      expect(res.responses[0]?.status).toBe(200);
    });
    await Promise.all(requests);
    await waitFor(() => p.sink.count === names.length);
    await p.stop();

    const hostsIn = (f: string): string[] => {
      const text = fs.readFileSync(f, 'utf8');
      expect(text === '' || text.endsWith('\n'), f).toBe(true);
      const lines = text === '' ? [] : text.slice(0, -1).split('\n');
      return lines.map((l) => {
        const host = pattern.exec(l)?.[1];
        expect(host, l).toBeDefined();
        return host!;
      });
    };
    const pattern = new RegExp(`^\\S+Z 127\\.0\\.0\\.1 - forward GET (r\\d+\\.test):${origin.port} -> 127\\.0\\.0\\.1 200 in=0B out=\\d+B \\S+ms`);
    expect(hostsIn(`${p.file}.1`)).toEqual(p.sink.hosts.slice(0, cut));
    expect(hostsIn(p.file)).toEqual(p.sink.hosts.slice(cut));
    const hosts = [...hostsIn(`${p.file}.1`), ...hostsIn(p.file)];
    expect([...hosts].sort()).toEqual([...names].sort());
  });
});
