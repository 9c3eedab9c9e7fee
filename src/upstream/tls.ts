/**
 * TLS origination: the trust an upstream certificate is checked against, a bounded cache of TLS sessions
 * per server identity, and the handshake over a connected socket. Node's TLS errors become ProxyErrors
 * here, once: a certificate that does not verify → TLS_CERTIFICATE_ERROR (502 tls_certificate_error, its
 * verify code in details), anything else in the handshake → TLS_PROTOCOL_ERROR.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type net from 'node:net';
import tls from 'node:tls';
import { LRUCache } from 'lru-cache';
import type { TrustConfig } from '../config/types.js';
import { ProxyError } from '../errors.js';

/** Where the operating system keeps its roots on Debian and its derivatives. */
const SYSTEM_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/** A trust set, read and parsed once per config snapshot. */
export interface Trust {
  /** The roots, parsed once into a context every handshake shares (not per connection). */
  readonly secureContext: tls.SecureContext;
  /** Names what the set is made of; part of a pooled connection's identity. */
  readonly id: string;
  /** Where the system roots came from, for the start-up log. */
  readonly systemSource: string | null;
}

/** Build the trust set: the system store (the OS bundle where there is one, else Node's roots) and/or PEM files. */
export function loadTrust(trust: TrustConfig): Trust {
  const ca: string[] = [];
  let systemSource: string | null = null;
  if (trust.system) {
    const getSystem = (tls as unknown as { getCACertificates?: (kind: string) => string[] }).getCACertificates;
    if (typeof getSystem === 'function') {
      ca.push(...getSystem('system'));
      systemSource = 'the system store (read by Node)';
    } else if (existsSync(SYSTEM_BUNDLE)) {
      ca.push(readFileSync(SYSTEM_BUNDLE, 'latin1'));
      systemSource = SYSTEM_BUNDLE;
    } else {
      ca.push(...tls.rootCertificates);
      systemSource = "Node's bundled roots (no system store found)";
    }
  }
  for (const file of trust.caFiles) {
    const pem = readFileSync(file, 'latin1');
    const problem = pemBundleProblem(pem);
    if (problem !== null) throw new Error(`upstream TLS trust: ${file} is not a PEM certificate bundle (${problem})`);
    ca.push(pem);
  }
  for (const inline of trust.caPems) {
    const problem = pemBundleProblem(inline.pem);
    if (problem !== null) throw new Error(`upstream TLS trust: ${inline.source} is not a PEM certificate bundle (${problem})`);
    ca.push(inline.pem);
  }
  const id = [trust.system ? 'system' : '', ...trust.caFiles, ...trust.caPems.map((p) => p.source)].join('|');
  return { secureContext: tls.createSecureContext({ ca }), id, systemSource };
}

const PEM_END = '-----END CERTIFICATE-----';

/** Why `pem` is not a bundle of certificates (each parsed by Node's X509Certificate), or null. */
function pemBundleProblem(pem: string): string | null {
  let count = 0;
  for (let at = pem.indexOf('-----BEGIN CERTIFICATE-----'); at >= 0; at = pem.indexOf('-----BEGIN CERTIFICATE-----', at + 1)) {
    const end = pem.indexOf(PEM_END, at);
    if (end < 0) return `certificate ${count + 1} has no END line`;
    try {
      new X509Certificate(pem.slice(at, end + PEM_END.length));
    } catch (err) {
      return `certificate ${count + 1}: ${(err as Error).message}`;
    }
    count++;
  }
  return count === 0 ? 'no certificate in it' : null;
}

/** Resumable sessions by server identity (bounded; a session is only offered to the identity that made it). */
export class TlsSessions {
  private readonly cache = new LRUCache<string, Buffer>({ max: 1024 });

  get(identity: string): Buffer | undefined {
    return this.cache.get(identity);
  }

  set(identity: string, session: Buffer): void {
    this.cache.set(identity, session);
  }
}

export interface OriginateOptions {
  /** The name the certificate must carry and the SNI sent; null for an IP literal (no SNI, the IP is checked). */
  readonly servername: string | null;
  /** The host as dialled (a name or an IP literal), what the certificate is checked against. */
  readonly host: string;
  readonly trust: Trust;
  readonly identity: string;
  readonly sessions: TlsSessions;
  readonly verifyHostname: boolean;
  /** Bound on the handshake (a server that never answers the ClientHello). */
  readonly timeoutMs: number;
}

/** The identity a TLS connection is pooled and resumed under: the server name (or IP) and the trust. */
export function tlsIdentity(host: string, trust: Trust): string {
  return `${host}\n${trust.id}`;
}

/** Speak TLS over `socket` (connected); resolves once the certificate verified, with ALPN http/1.1. */
export function originateTls(socket: net.Socket, o: OriginateOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = tls.connect({
      socket,
      servername: o.servername ?? undefined,
      secureContext: o.trust.secureContext,
      ALPNProtocols: ['http/1.1'],
      session: o.sessions.get(o.identity),
      checkServerIdentity: o.verifyHostname ? (_name, cert) => tls.checkServerIdentity(o.host, cert) : () => undefined,
    });
    secure.on('session', (session: Buffer) => o.sessions.set(o.identity, session));
    const timer = setTimeout(() => {
      secure.removeListener('error', onError);
      secure.on('error', ignore);
      secure.destroy();
      reject(new ProxyError('TLS_PROTOCOL_ERROR', `handshake not finished within ${o.timeoutMs} ms`));
    }, o.timeoutMs);
    const onError = (err: NodeJS.ErrnoException): void => {
      clearTimeout(timer);
      secure.destroy();
      reject(tlsError(err));
    };
    secure.once('error', onError);
    secure.once('secureConnect', () => {
      clearTimeout(timer);
      secure.removeListener('error', onError);
      resolve(secure);
    });
  });
}

function ignore(): void {}

/** Certificate verification failures, by Node's / OpenSSL's code. */
const CERTIFICATE_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'CERT_REVOKED', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'CERT_SIGNATURE_FAILURE', 'INVALID_CA', 'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE', 'HOSTNAME_MISMATCH', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function tlsError(err: NodeJS.ErrnoException): ProxyError {
  const code = err.code ?? 'TLS_ERROR';
  if (CERTIFICATE_CODES.has(code)) return new ProxyError('TLS_CERTIFICATE_ERROR', code, { cause: err });
  return new ProxyError('TLS_PROTOCOL_ERROR', code, { cause: err });
}
