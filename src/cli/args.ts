/**
 * The command line → Command. Flags: `--flag value` and `--flag=value`,
 * repeatable flags collect, unknown flags are rejected with the nearest known
 * one. Values stay strings here; config (load.ts → resolve.ts) validates them
 * with the same rules as the file, reading the flags as an Overrides value.
 */
import { loadConfig, rejectUnsupported } from '../config/load.js';
import { ConfigError, suggest } from '../config/raw.js';
import type { Config } from '../config/types.js';
import type { ExplainRequest } from './explain.js';
import { parseIPv4, parseIPv6 } from '../policy/ip.js';
import { isHostName } from '../policy/host-port.js';

export type CommandName = 'run' | 'check' | 'cert' | 'help' | 'version';

export interface Flags {
  command: CommandName;
  config: string | null;
  /** --listen, in order; empty = not given. */
  listen: string[];
  /** --admin ADDR|off; null = not given. */
  admin: string | null;
  dnsServers: string[];
  allowPrivate: boolean;
  /** --watch: reload when the config file changes. */
  watch: boolean;
  /** --connect-ports LIST|any; null = not given. */
  connectPorts: string | null;
  workers: string | null;
  logFormat: string | null;
  logLevel: string | null;
  /** dfp check --explain HOST[:PORT] [--mode M] [--user NAME] [--resolve] */
  explain: string | null;
  mode: string | null;
  user: string | null;
  resolve: boolean;
  /** dfp cert */
  out: string | null;
  hosts: string[];
}

interface FlagSpec {
  /** Takes a value (else a switch). */
  hasValue: boolean;
  /** Commands the flag belongs to. */
  commands: readonly CommandName[];
  apply(flags: Flags, value: string): void;
}

const RUN: readonly CommandName[] = ['run', 'check'];
const CERT: readonly CommandName[] = ['cert'];
const CHECK: readonly CommandName[] = ['check'];

const FLAGS: Record<string, FlagSpec> = {
  '--config': { hasValue: true, commands: RUN, apply: (f, v) => setOnce(f, 'config', '--config', v) },
  '--listen': { hasValue: true, commands: RUN, apply: (f, v) => void f.listen.push(v) },
  '--admin': { hasValue: true, commands: RUN, apply: (f, v) => setOnce(f, 'admin', '--admin', v) },
  '--dns-server': { hasValue: true, commands: RUN, apply: (f, v) => void f.dnsServers.push(v) },
  '--allow-private': { hasValue: false, commands: RUN, apply: (f) => void (f.allowPrivate = true) },
  '--watch': { hasValue: false, commands: ['run'], apply: (f) => void (f.watch = true) },
  '--connect-ports': { hasValue: true, commands: RUN, apply: (f, v) => setOnce(f, 'connectPorts', '--connect-ports', v) },
  '--workers': { hasValue: true, commands: RUN, apply: (f, v) => setOnce(f, 'workers', '--workers', v) },
  '--log-format': { hasValue: true, commands: RUN, apply: (f, v) => setOnce(f, 'logFormat', '--log-format', v) },
  '--log-level': { hasValue: true, commands: RUN, apply: (f, v) => setOnce(f, 'logLevel', '--log-level', v) },
  '--explain': { hasValue: true, commands: CHECK, apply: (f, v) => setOnce(f, 'explain', '--explain', v) },
  '--mode': { hasValue: true, commands: CHECK, apply: (f, v) => setOnce(f, 'mode', '--mode', v) },
  '--user': { hasValue: true, commands: CHECK, apply: (f, v) => setOnce(f, 'user', '--user', v) },
  '--resolve': { hasValue: false, commands: CHECK, apply: (f) => void (f.resolve = true) },
  '--out': { hasValue: true, commands: CERT, apply: (f, v) => setOnce(f, 'out', '--out', v) },
  '--host': { hasValue: true, commands: CERT, apply: (f, v) => void f.hosts.push(v) },
};

const SUBCOMMANDS: Record<string, CommandName> = { check: 'check', cert: 'cert', help: 'help', version: 'version' };

type SingleKey = 'config' | 'admin' | 'connectPorts' | 'workers' | 'logFormat' | 'logLevel' | 'out' | 'explain' | 'mode' | 'user';

function setOnce(flags: Flags, key: SingleKey, name: string, value: string): void {
  if (flags[key] !== null) throw new ConfigError(name, 'given more than once');
  flags[key] = value;
}

export const USAGE = `usage:
  dfp [--config FILE] [--listen ADDR]... [--admin ADDR|off] [--dns-server ADDR]...
      [--allow-private] [--connect-ports LIST|any] [--workers N|auto] [--log-format json|pretty] [--log-level LEVEL] [--watch]
  dfp check [--config FILE] [flags]    validate a config and print the effective one
  dfp check [--config FILE] --explain HOST[:PORT] [--mode forward|connect|gateway] [--user NAME] [--resolve]
                                       the decision for a destination, its rule and the steps; exit 0 allowed, 1 denied
  dfp cert --out DIR [--host NAME]...  make a local CA and a server certificate
  dfp --help | --version
`;

/** Parse argv (without node and the script). Throws ConfigError naming the flag. */
export function parseArgs(argv: readonly string[]): Flags {
  const flags: Flags = {
    command: 'run',
    config: null,
    listen: [],
    admin: null,
    dnsServers: [],
    allowPrivate: false,
    watch: false,
    connectPorts: null,
    workers: null,
    logFormat: null,
    logLevel: null,
    explain: null,
    mode: null,
    user: null,
    resolve: false,
    out: null,
    hosts: [],
  };
  let i = 0;
  const first = argv[0];
  if (first !== undefined && !first.startsWith('-')) {
    const sub = SUBCOMMANDS[first];
    if (sub === undefined) {
      const hint = suggest(first, Object.keys(SUBCOMMANDS));
      throw new ConfigError(first, `unknown command${hint ? `; did you mean ${hint}?` : ''}`);
    }
    flags.command = sub;
    i = 1;
  }
  let wantsHelp = flags.command === 'help';
  let wantsVersion = flags.command === 'version';
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      wantsHelp = true;
      continue;
    }
    if (arg === '--version') {
      wantsVersion = true;
      continue;
    }
    if (!arg.startsWith('--')) throw new ConfigError(arg, 'unexpected argument (flags start with --)');
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg : arg.slice(0, eq);
    const spec = Object.hasOwn(FLAGS, name) ? FLAGS[name] : undefined;
    if (spec === undefined) {
      const hint = suggest(name, Object.keys(FLAGS).concat('--help', '--version'));
      throw new ConfigError(name, `unknown flag${hint ? `; did you mean ${hint}?` : ''}`);
    }
    if (!spec.commands.includes(flags.command) && !wantsHelp) {
      const where = spec.commands.map((c) => (c === 'run' ? 'dfp' : `dfp ${c}`)).join(' and ');
      throw new ConfigError(name, `not a flag of ${flags.command === 'run' ? 'dfp' : `dfp ${flags.command}`} (it belongs to ${where})`);
    }
    if (!spec.hasValue) {
      if (eq >= 0) throw new ConfigError(name, 'takes no value');
      spec.apply(flags, '');
      continue;
    }
    let value: string;
    if (eq >= 0) {
      value = arg.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new ConfigError(name, 'needs a value');
      value = next;
      i++;
    }
    if (value.length === 0) throw new ConfigError(name, 'needs a value');
    spec.apply(flags, value);
  }
  if (wantsHelp) flags.command = 'help';
  else if (wantsVersion) flags.command = 'version';
  return flags;
}

export type Command =
  | { kind: 'run'; config: Config; configFile: string | null; watch: boolean }
  | { kind: 'check'; config: Config; explain: ExplainRequest | null }
  | { kind: 'cert'; outDir: string; hosts: string[] }
  | { kind: 'help' }
  | { kind: 'version' };

/** Host names a `dfp cert` server certificate covers when no --host is given. */
export const DEFAULT_CERT_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '::1'];

/** Parse the command line (without node and the script) and load the config it names. */
export function parseCommand(argv: readonly string[]): Command {
  const flags = parseArgs(argv);
  switch (flags.command) {
    case 'help':
      return { kind: 'help' };
    case 'version':
      return { kind: 'version' };
    case 'cert': {
      if (flags.out === null) throw new ConfigError('--out', 'dfp cert needs --out DIR');
      const hosts = flags.hosts.map(checkCertHost);
      return { kind: 'cert', outDir: flags.out, hosts: hosts.length > 0 ? hosts : [...DEFAULT_CERT_HOSTS] };
    }
    case 'run':
    case 'check': {
      // Flags carries every Overrides field: config reads the ones it resolves.
      const config = loadConfig(flags.config, flags);
      rejectUnsupported(config);
      if (flags.command === 'run') {
        if (flags.watch && flags.config === null) throw new ConfigError('--watch', 'needs --config FILE');
        return { kind: 'run', config, configFile: flags.config, watch: flags.watch };
      }
      return { kind: 'check', config, explain: explainRequest(flags) };
    }
  }
}

function explainRequest(flags: Flags): ExplainRequest | null {
  if (flags.explain === null) {
    for (const [name, given] of [['--mode', flags.mode !== null], ['--user', flags.user !== null], ['--resolve', flags.resolve]] as const) {
      if (given) throw new ConfigError(name, 'goes with --explain HOST[:PORT]');
    }
    return null;
  }
  const mode = flags.mode ?? 'forward';
  if (mode !== 'forward' && mode !== 'connect' && mode !== 'gateway') throw new ConfigError('--mode', `must be forward, connect or gateway, not "${mode}"`);
  return { target: flags.explain, mode, user: flags.user, resolve: flags.resolve };
}

function checkCertHost(host: string): string {
  const lower = host.toLowerCase();
  if (parseIPv4(lower) >= 0 || isHostName(lower) || (lower.includes(':') && !lower.includes('%') && parseIPv6(lower, new Uint8Array(16)))) return lower;
  throw new ConfigError('--host', `"${host}" is not a host name or IP address`);
}
