import http from 'node:http';
import vm from 'node:vm';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startAdmin, type AdminSources } from '../../../src/observability/admin.js';
import { renderPac } from '../../../src/observability/pac.js';

interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(port: number, path: string, method = 'GET'): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function start(overrides: Partial<AdminSources> = {}) {
  let draining = false;
  const sources: AdminSources = {
    isDraining: () => draining,
    metrics: () => '# TYPE dfp_connections_active gauge\ndfp_connections_active 0\n',
    dns: () => [{ host: 'example.test', addresses: ['127.0.0.1'], ttlLeftMs: 1000, hits: 2 }],
    config: () => 'listeners:\n  - address: 127.0.0.1:8080\n',
    ...overrides,
  };
  const admin = await startAdmin({ host: '127.0.0.1', port: 0 }, sources);
  onTestFinished(() => admin.close());
  return { admin, port: admin.address.port, setDraining: (v: boolean) => (draining = v) };
}

describe('admin server', () => {
  it('binds port 0 and reports the real port', async () => {
    const { admin } = await start();
    expect(admin.address.host).toBe('127.0.0.1');
    expect(admin.address.port).toBeGreaterThan(0);
  });

  it('GET /healthz answers 200 ok', async () => {
    const { port } = await start();
    const got = await request(port, '/healthz');
    expect(got.status).toBe(200);
    expect(got.body).toBe('ok\n');
  });

  it('GET /ready answers 200 until draining, then 503', async () => {
    const { port, setDraining } = await start();
    expect((await request(port, '/ready')).status).toBe(200);
    setDraining(true);
    const got = await request(port, '/ready');
    expect(got.status).toBe(503);
    expect(got.body).toBe('draining\n');
  });

  it('GET /metrics serves the Prometheus text format', async () => {
    const { port } = await start();
    const got = await request(port, '/metrics');
    expect(got.status).toBe(200);
    expect(got.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(got.body).toContain('dfp_connections_active 0\n');
  });

  it('GET /dns serves JSON', async () => {
    const { port } = await start();
    const got = await request(port, '/dns');
    expect(got.headers['content-type']).toBe('application/json');
    expect(JSON.parse(got.body)).toEqual([{ host: 'example.test', addresses: ['127.0.0.1'], ttlLeftMs: 1000, hits: 2 }]);
  });

  it('GET /config serves the effective config text', async () => {
    const { port } = await start();
    const got = await request(port, '/config?x=1');
    expect(got.status).toBe(200);
    expect(got.body).toBe('listeners:\n  - address: 127.0.0.1:8080\n');
  });

  it('HEAD gets the headers and Content-Length but no body', async () => {
    const { port } = await start();
    const got = await request(port, '/healthz', 'HEAD');
    expect(got.status).toBe(200);
    expect(got.headers['content-length']).toBe('3');
    expect(got.body).toBe('');
  });

  it('unknown paths get 404 and other methods 405 with Allow', async () => {
    const { port } = await start();
    expect((await request(port, '/nope')).status).toBe(404);
    expect((await request(port, '/')).status).toBe(404);
    const post = await request(port, '/healthz', 'POST');
    expect(post.status).toBe(405);
    expect(post.headers['allow']).toBe('GET, HEAD');
  });

  it('a failing source answers 500 and the server keeps serving', async () => {
    const { port } = await start({
      dns: () => {
        throw new Error('cache gone');
      },
    });
    const got = await request(port, '/dns');
    expect(got.status).toBe(500);
    expect(got.body).toBe('error: cache gone\n');
    expect((await request(port, '/healthz')).status).toBe(200);
  });

  it('GET /proxy.pac serves the PAC file, cacheable for 5 minutes, and it evaluates', async () => {
    const { port } = await start({ pac: () => renderPac({ proxy: '127.0.0.1:8080', direct: ['*.internal.example'] }) });
    const got = await request(port, '/proxy.pac');
    expect(got.status).toBe(200);
    expect(got.headers['content-type']).toBe('application/x-ns-proxy-autoconfig');
    expect(got.headers['cache-control']).toBe('max-age=300');
    const context = vm.createContext({});
    vm.runInContext(got.body, context, { timeout: 1000 });
    const find = context['FindProxyForURL'] as (url: string, host: string) => string;
    expect(find('http://app.internal.example/', 'app.internal.example')).toBe('DIRECT');
    expect(find('http://example.com/', 'example.com')).toBe('PROXY 127.0.0.1:8080');
  });

  it('HEAD /proxy.pac gets the PAC headers and no body', async () => {
    const script = renderPac({ proxy: '127.0.0.1:8080', direct: [] });
    const { port } = await start({ pac: () => script });
    const got = await request(port, '/proxy.pac', 'HEAD');
    expect(got.status).toBe(200);
    expect(got.headers['content-type']).toBe('application/x-ns-proxy-autoconfig');
    expect(got.headers['content-length']).toBe(String(Buffer.byteLength(script)));
    expect(got.body).toBe('');
  });

  it('GET /proxy.pac answers what the source returns now (a reload swaps it)', async () => {
    let pac: string | null = null;
    const { port } = await start({ pac: () => pac });
    expect((await request(port, '/proxy.pac')).status).toBe(404);
    pac = renderPac({ proxy: '10.0.0.1:3128', direct: [] });
    const got = await request(port, '/proxy.pac');
    expect(got.status).toBe(200);
    expect(got.body).toBe(pac);
  });

  it('GET /proxy.pac without pac configured answers 404 with a one-line text body, not cacheable', async () => {
    for (const overrides of [{}, { pac: () => null }]) {
      const { port } = await start(overrides);
      const got = await request(port, '/proxy.pac');
      expect(got.status).toBe(404);
      expect(got.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(got.headers['cache-control']).toBe('no-store');
      expect(got.body).toMatch(/^[^\n]+\n$/);
      expect(got.body).toContain('pac');
    }
  });

  it('other answers stay no-store', async () => {
    const { port } = await start({ pac: () => 'function FindProxyForURL() { return "DIRECT"; }\n' });
    expect((await request(port, '/healthz')).headers['cache-control']).toBe('no-store');
  });

  it('rejects when the address is taken', async () => {
    const { port } = await start();
    await expect(startAdmin({ host: '127.0.0.1', port }, { isDraining: () => false, metrics: () => '', dns: () => null, config: () => '' })).rejects.toThrow(
      /EADDRINUSE/,
    );
  });

  it('close() ends open keep-alive connections', async () => {
    const { admin, port } = await start();
    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/healthz', agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      }).on('error', reject);
    });
    await admin.close();
    agent.destroy();
  });
});
