import net from 'node:net';

/**
 * Placeholder entry point: listens on the default address and stops cleanly.
 * Replaced by the real CLI (flags, config, proxy) in the next commits.
 */
export async function main(_argv: string[]): Promise<number | undefined> {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(8080, '127.0.0.1', resolve));
  process.stderr.write('dfp listening on 127.0.0.1:8080\n');
  const stop = () => server.close();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return undefined;
}
