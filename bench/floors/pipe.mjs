// Floor: the least a net.Socket proxy can do. A connection whose first bytes
// are `CONNECT host:port` gets a 200 and a pipe() tunnel; any other connection
// is piped blindly to one fixed origin (argv[2], default 127.0.0.1:18081) —
// no parsing, no policy, no pool, no log. Listens on 127.0.0.1:18080 (argv[3]).
// A measuring stick for Node's stream layer, not a proxy (see bench/README.md).
import net from 'node:net';

const [originHost, originPort] = (process.argv[2] ?? '127.0.0.1:18081').split(':');
const listenPort = Number(process.argv[3] ?? 18080);
const OK = 'HTTP/1.1 200 Connection established\r\n\r\n';

function join(c, u, first) {
  c.on('error', () => u.destroy());
  u.on('error', () => c.destroy());
  if (first !== null) u.write(first);
  c.pipe(u);
  u.pipe(c);
}

net.createServer({ noDelay: true }, (c) => {
  c.once('data', (first) => {
    const m = /^CONNECT ([^ :]+):(\d+) /.exec(first.latin1Slice(0, Math.min(first.length, 300)));
    if (m === null) {
      join(c, net.connect({ host: originHost, port: +originPort, noDelay: true }), first);
      return;
    }
    c.pause();
    const u = net.connect({ host: m[1], port: +m[2], noDelay: true }, () => {
      c.write(OK);
      join(c, u, null);
    });
    u.on('error', () => c.destroy());
  });
}).listen(listenPort, '127.0.0.1');
