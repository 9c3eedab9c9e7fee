import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../../src/cli/args.js';
import { ConfigError } from '../../../src/config/raw.js';

function reject(argv: string[]): ConfigError {
  try {
    parseArgs(argv);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`accepted ${argv.join(' ')}`);
}

describe('parseArgs', () => {
  it('takes both --flag value and --flag=value, repeatable flags collect in order', () => {
    const f = parseArgs(['--config', 'a.yaml', '--listen=127.0.0.1:1', '--listen', '[::1]:2', '--dns-server=127.0.0.1:5353', '--allow-private', '--workers', '2', '--log-format=pretty', '--log-level', 'debug', '--admin', 'off']);
    expect(f).toMatchObject({
      command: 'run',
      config: 'a.yaml',
      listen: ['127.0.0.1:1', '[::1]:2'],
      dnsServers: ['127.0.0.1:5353'],
      allowPrivate: true,
      workers: '2',
      logFormat: 'pretty',
      logLevel: 'debug',
      admin: 'off',
    });
  });

  it('reads subcommands', () => {
    expect(parseArgs(['check', '--config', 'x.yaml'])).toMatchObject({ command: 'check', config: 'x.yaml' });
    expect(parseArgs(['cert', '--out', 'd', '--host', 'a', '--host', 'b'])).toMatchObject({ command: 'cert', out: 'd', hosts: ['a', 'b'] });
    expect(parseArgs([]).command).toBe('run');
  });

  it('--help and --version win over everything else', () => {
    expect(parseArgs(['--help']).command).toBe('help');
    expect(parseArgs(['-h']).command).toBe('help');
    expect(parseArgs(['check', '--help']).command).toBe('help');
    expect(parseArgs(['help']).command).toBe('help');
    expect(parseArgs(['--version']).command).toBe('version');
    expect(parseArgs(['--config', 'x', '--version']).command).toBe('version');
  });

  it.each([
    [['--lisen', 'x'], '--lisen', 'unknown flag; did you mean --listen?'],
    [['--dns_server', 'x'], '--dns_server', 'unknown flag; did you mean --dns-server?'],
    [['--frobnicate'], '--frobnicate', 'unknown flag'],
    [['--config'], '--config', 'needs a value'],
    [['--config', '--listen', 'x'], '--config', 'needs a value'],
    [['--config='], '--config', 'needs a value'],
    [['--allow-private=yes'], '--allow-private', 'takes no value'],
    [['--config', 'a', '--config', 'b'], '--config', 'given more than once'],
    [['stray'], 'stray', 'unknown command'],
    [['chek'], 'chek', 'unknown command; did you mean check?'],
    [['--config', 'a', 'b'], 'b', 'unexpected argument (flags start with --)'],
    [['-c', 'a'], '-c', 'unexpected argument'],
    [['--out', 'd'], '--out', 'not a flag of dfp (it belongs to dfp cert)'],
    [['cert', '--listen', 'x'], '--listen', 'not a flag of dfp cert'],
  ])('rejects %j naming %s', (argv, path, reason) => {
    const err = reject(argv);
    expect(err.path).toBe(path);
    expect(err.reason).toContain(reason);
    expect(err.message).toBe(`config: ${err.path}: ${err.reason}`);
  });
});
