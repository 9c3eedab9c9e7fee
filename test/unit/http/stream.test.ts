import { describe, expect, it } from 'vitest';
import { METHOD_CONNECT, METHOD_GET, METHOD_HEAD, parseStream } from '../../../src/http/index.js';
import { bytes, parseAllWays } from './helpers.js';

const summary = (r: ReturnType<typeof parseStream>) => ({
  ok: r.ok, error: r.error, upgradeOffset: r.upgradeOffset, incomplete: r.incomplete,
  messages: r.messages.map((m) => [m.method ?? m.status, m.url ?? m.reason, m.body.toString('latin1'), m.complete, m.upgrade]),
});

describe('parseStream: pipelining and connection state', () => {
  it('parses pipelined requests with every body framing one after another', () => {
    const input = 'POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nAAA' +
      'PUT /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nBB\r\n0\r\n\r\n' +
      'GET /c HTTP/1.1\r\n\r\n' + '\r\n' + 'DELETE /d HTTP/1.1\r\nContent-Length: 0\r\n\r\n';
    expect(summary(parseAllWays('request', input))).toEqual({ ok: true, error: null, upgradeOffset: null, incomplete: false,
      messages: [['POST', '/a', 'AAA', true, false], ['PUT', '/b', 'BB', true, false], ['GET', '/c', '', true, false],
        ['DELETE', '/d', '', true, false]] });
  });

  it('rejects bytes after a message that closes the connection', () => {
    const r = parseAllWays('request', 'GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n');
    expect([r.ok, r.error, r.errorStatus, r.messages.length, r.messages[0].complete]).toEqual([false, 'DATA_AFTER_CLOSE', 400, 1, true]);
  });

  it('reports an unfinished message as incomplete, and as an error at EOF', () => {
    expect(parseAllWays('request', 'POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab').incomplete).toBe(true);
    expect(parseAllWays('request', 'GET / HTTP/1.1\r\nHost').incomplete).toBe(true);
    const r = parseAllWays('request', 'POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab', { eof: true });
    expect([r.ok, r.error, r.errorStatus]).toEqual([false, 'INCOMPLETE_MESSAGE', 400]);
  });

  it('trailing empty lines after a message do not make it incomplete', () => {
    expect(parseAllWays('request', 'GET / HTTP/1.1\r\n\r\n\r\n').incomplete).toBe(false);
  });
});

describe('parseStream: upgrades and tunnels', () => {
  it('CONNECT ends the HTTP part right after the head, even with Content-Length', () => {
    const head = 'CONNECT a.example:443 HTTP/1.1\r\nContent-Length: 4\r\n\r\n';
    const r = parseAllWays('request', head + 'tunnel bytes');
    expect([r.ok, r.upgradeOffset, r.messages[0].upgrade, r.messages[0].complete]).toEqual([true, head.length, true, true]);
  });

  it('an upgrade request ends the HTTP part after its body', () => {
    const msg = 'POST /ws HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: ws\r\nContent-Length: 3\r\n\r\nabc';
    const r = parseAllWays('request', msg + 'frames');
    expect([r.upgradeOffset, r.messages[0].body.toString()]).toEqual([msg.length, 'abc']);
  });

  it('a 101 response ends the HTTP part after its head', () => {
    const head = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: ws\r\nConnection: upgrade\r\nContent-Length: 4\r\n\r\n';
    expect(parseAllWays('response', head + 'body').upgradeOffset).toBe(head.length);
  });

  it('a 2xx response to CONNECT starts the tunnel; a 407 does not', () => {
    const ok = 'HTTP/1.1 200 Connection established\r\n\r\n';
    expect(parseAllWays('response', ok + 'data', { requestMethods: [METHOD_CONNECT] }).upgradeOffset).toBe(ok.length);
    const denied = parseAllWays('response', 'HTTP/1.1 407 No\r\nContent-Length: 2\r\n\r\nno', { requestMethods: [METHOD_CONNECT] });
    expect([denied.upgradeOffset, denied.messages[0].body.toString()]).toEqual([null, 'no']);
  });
});

describe('parseStream: responses', () => {
  it('1xx responses are followed by the final response to the same request', () => {
    const input = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n';
    const r = parseAllWays('response', input, { requestMethods: [METHOD_GET, METHOD_HEAD] });
    expect(summary(r).messages).toEqual([[100, 'Continue', '', true, false], [103, 'Early Hints', '', true, false],
      [200, 'OK', 'ok', true, false], [200, 'OK', '', true, false]]);
  });

  it('a close-delimited response completes at EOF', () => {
    const r = parseAllWays('response', 'HTTP/1.1 200 OK\r\n\r\nhello world', { eof: true });
    expect([r.ok, r.incomplete, r.messages[0].complete, r.messages[0].body.toString()]).toEqual([true, false, true, 'hello world']);
    expect(parseStream('response', [bytes('HTTP/1.1 200 OK\r\n\r\nhello')]).incomplete).toBe(true);
  });
});
