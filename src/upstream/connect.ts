/**
 * Connecting upstream: Happy Eyeballs (RFC 8305 §5) over addresses that the
 * policy has already checked. Exactly these addresses are dialled, in order:
 * the next attempt starts attemptDelayMs after the previous one (250 ms, the
 * RFC's recommended Connection Attempt Delay) or at once when one fails; the
 * first to connect wins and the others are destroyed; timeoutMs bounds it all.
 *
 * Sockets are made with noDelay and allowHalfOpen (the proxy decides when to
 * end the upstream side).
 *
 * Node socket errors become ProxyErrors here, once:
 *   ECONNREFUSED                         → CONNECTION_REFUSED      (502)
 *   ETIMEDOUT, or the deadline           → CONNECT_TIMEOUT         (504)
 *   EHOSTUNREACH, ENETUNREACH, EADDRNOTAVAIL, … → DESTINATION_UNAVAILABLE (502)
 * With several failed attempts, refused beats timeout beats unreachable: the
 * most specific thing we learnt about the destination.
 */
import { openConn, type Conn, type ReadInto } from '../io/conn.js';
import { ProxyError, type ErrorCode } from '../errors.js';
import type { ResolvedAddress } from '../dns/family.js';

export interface ConnectResult {
  socket: Conn;
  address: ResolvedAddress;
  /** From the first attempt's start to the winner's connect. */
  connectMs: number;
}

export interface ConnectOptions {
  /** Bound on the whole race, all attempts included. */
  timeoutMs: number;
  /** Delay before starting the next attempt while the previous one is pending (default 250). */
  attemptDelayMs?: number;
  /** Abort (the client went away): every attempt is destroyed and the promise rejects with signal.reason. */
  signal?: AbortSignal;
  /** Read into caller-supplied buffers instead of a new Buffer per 'data' event (see proxy/read-buffer.ts). */
  onread?: ReadInto;
  /** The connection will be wrapped in TLS: make it a socket type TLS can wrap (a net.Socket). */
  forTls?: boolean;
  /** The clock and timers of the race (default: performance.now and the global timers); tests inject their own. */
  timers?: ConnectTimers;
}

/** What the race reads the time from and schedules its attempt delay and deadline with. */
export interface ConnectTimers {
  now(): number;
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

const SYSTEM_TIMERS: ConnectTimers = {
  now: () => performance.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export const DEFAULT_ATTEMPT_DELAY_MS = 250;

type FailureClass = 'refused' | 'timeout' | 'unavailable';

const FAILURE_RANK: Record<FailureClass, number> = { unavailable: 0, timeout: 1, refused: 2 };
const FAILURE_CODE: Record<FailureClass, ErrorCode> = {
  refused: 'CONNECTION_REFUSED',
  timeout: 'CONNECT_TIMEOUT',
  unavailable: 'DESTINATION_UNAVAILABLE',
};

/** The error table row for a Node socket error code from a connect attempt. */
export function connectErrorCode(nodeCode: string | undefined): ErrorCode {
  return FAILURE_CODE[classifyConnectError(nodeCode)];
}

function classifyConnectError(nodeCode: string | undefined): FailureClass {
  if (nodeCode === 'ECONNREFUSED') return 'refused';
  if (nodeCode === 'ETIMEDOUT') return 'timeout';
  // EHOSTUNREACH, ENETUNREACH, EADDRNOTAVAIL, EHOSTDOWN, ENETDOWN, ECONNRESET,
  // EACCES/EPERM (local firewall), EAFNOSUPPORT, and anything unexpected.
  return 'unavailable';
}

function endpointText(address: ResolvedAddress, port: number): string {
  return address.family === 6 ? `[${address.address}]:${port}` : `${address.address}:${port}`;
}

interface Attempt {
  socket: Conn;
  address: ResolvedAddress;
  onConnect: () => void;
  onError: (err: Error) => void;
}

/** Happy Eyeballs over `addresses` (dial exactly these) to `port`. */
export function connectTo(
  addresses: readonly ResolvedAddress[],
  port: number,
  options: ConnectOptions,
): Promise<ConnectResult> {
  if (addresses.length === 0) {
    return Promise.reject(new ProxyError('DESTINATION_UNAVAILABLE', 'no addresses to connect to'));
  }
  if (options.signal?.aborted) return Promise.reject(options.signal.reason);
  return new Promise<ConnectResult>((resolve, reject) => {
    new ConnectRace(addresses, port, options, resolve, reject).start();
  });
}

class ConnectRace {
  readonly #addresses: readonly ResolvedAddress[];
  readonly #port: number;
  readonly #timeoutMs: number;
  readonly #attemptDelayMs: number;
  readonly #signal: AbortSignal | undefined;
  readonly #onread: ReadInto | undefined;
  readonly #forTls: boolean;
  readonly #timers: ConnectTimers;
  readonly #resolve: (result: ConnectResult) => void;
  readonly #reject: (err: unknown) => void;
  readonly #attempts: Attempt[];
  readonly #startedAt: number;
  readonly #onAbort: () => void;
  #next: number;
  #delayTimer: unknown;
  #deadline: unknown;
  #worst: { failure: FailureClass; detail: string; cause: unknown } | undefined;
  #isDone: boolean;

  constructor(
    addresses: readonly ResolvedAddress[],
    port: number,
    options: ConnectOptions,
    resolve: (result: ConnectResult) => void,
    reject: (err: unknown) => void,
  ) {
    this.#addresses = addresses;
    this.#port = port;
    this.#timeoutMs = Math.max(1, options.timeoutMs);
    this.#attemptDelayMs = Math.max(0, options.attemptDelayMs ?? DEFAULT_ATTEMPT_DELAY_MS);
    this.#signal = options.signal;
    this.#onread = options.onread;
    this.#forTls = options.forTls ?? false;
    this.#timers = options.timers ?? SYSTEM_TIMERS;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#attempts = [];
    this.#startedAt = this.#timers.now();
    this.#onAbort = () => this.#fail(this.#signal!.reason);
    this.#next = 0;
    this.#delayTimer = undefined;
    this.#deadline = undefined;
    this.#worst = undefined;
    this.#isDone = false;
  }

  start(): void {
    this.#deadline = this.#timers.setTimeout(() => this.#onDeadline(), this.#timeoutMs);
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
    this.#launch();
  }

  /** Start the next attempt, and arm the delay before the one after it. */
  #launch(): void {
    if (this.#delayTimer !== undefined) this.#timers.clearTimeout(this.#delayTimer);
    this.#delayTimer = undefined;
    if (this.#isDone || this.#next >= this.#addresses.length) return;
    const address = this.#addresses[this.#next++]!;
    // allowHalfOpen: the upstream's FIN must not end our side by itself (tunnels and
    // responses delimited by close forward it to the client first).
    const socket = openConn(address.address, address.family, this.#port, this.#onread ?? null, this.#forTls);
    const attempt: Attempt = {
      socket,
      address,
      onConnect: () => this.#won(attempt),
      onError: (err) => this.#attemptFailed(attempt, err),
    };
    socket.once('connect', attempt.onConnect);
    socket.on('error', attempt.onError);
    this.#attempts.push(attempt);
    if (this.#next < this.#addresses.length) {
      this.#delayTimer = this.#timers.setTimeout(() => this.#launch(), this.#attemptDelayMs);
    }
  }

  #attemptFailed(attempt: Attempt, err: Error): void {
    attempt.socket.destroy();
    if (this.#isDone) return;
    this.#remember(attempt, err);
    const index = this.#attempts.indexOf(attempt);
    if (index >= 0) this.#attempts.splice(index, 1);
    if (this.#next < this.#addresses.length) {
      this.#launch(); // a failed attempt starts the next one at once
    } else if (this.#attempts.length === 0) {
      const worst = this.#worst!;
      this.#fail(new ProxyError(FAILURE_CODE[worst.failure], worst.detail, { cause: worst.cause }));
    }
  }

  #remember(attempt: Attempt, err: Error): void {
    const code = (err as NodeJS.ErrnoException).code;
    const failure = classifyConnectError(code);
    if (this.#worst !== undefined && FAILURE_RANK[failure] <= FAILURE_RANK[this.#worst.failure]) return;
    this.#worst = { failure, detail: `${endpointText(attempt.address, this.#port)} ${code ?? err.message}`, cause: err };
  }

  #won(winner: Attempt): void {
    if (this.#isDone) return;
    this.#finish(winner);
    const socket = winner.socket;
    socket.off('connect', winner.onConnect);
    socket.off('error', winner.onError);
    this.#resolve({ socket, address: winner.address, connectMs: this.#timers.now() - this.#startedAt });
  }

  #onDeadline(): void {
    if (this.#isDone) return;
    const tried = this.#addresses.slice(0, this.#next).map((a) => endpointText(a, this.#port));
    this.#fail(new ProxyError('CONNECT_TIMEOUT', `${tried.join(', ')} after ${this.#timeoutMs} ms`));
  }

  #fail(err: unknown): void {
    if (this.#isDone) return;
    this.#finish(undefined);
    this.#reject(err);
  }

  /** Stop timers and listeners; destroy every attempt but the winner. Losers keep their error listener. */
  #finish(winner: Attempt | undefined): void {
    this.#isDone = true;
    if (this.#delayTimer !== undefined) this.#timers.clearTimeout(this.#delayTimer);
    if (this.#deadline !== undefined) this.#timers.clearTimeout(this.#deadline);
    this.#delayTimer = undefined;
    this.#deadline = undefined;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    for (const attempt of this.#attempts) {
      if (attempt !== winner) attempt.socket.destroy();
    }
    this.#attempts.length = 0;
  }
}
