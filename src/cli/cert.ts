/**
 * `dfp cert --out DIR [--host NAME]...`: a local CA and a server certificate
 * signed by it, for the HTTPS proxy listener (listeners[].tls) and for tests.
 *
 * Writes DIR/ca.pem, DIR/ca-key.pem, DIR/server.pem, DIR/server-key.pem
 * (keys mode 0600). RSA 2048 keys (node-forge uses Node's native key
 * generation), SHA-256 signatures. Host names become DNS SANs, IP literals
 * become IP SANs.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';
import { parseIPv4, parseIPv6 } from '../policy/address.js';

export interface CertFiles {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
}

const DAY_MS = 86_400_000;

function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0]! &= 0x7f; // positive
  return bytes.toString('hex');
}

function isIpLiteral(host: string): boolean {
  return parseIPv4(host) >= 0 || (host.includes(':') && parseIPv6(host, new Uint8Array(16)));
}

/** Create the CA and the server certificate; returns the PEM texts. */
export function makeCertificates(hosts: readonly string[], now = new Date()): CertFiles {
  const pki = forge.pki;
  const caKeys = pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
  const ca = pki.createCertificate();
  ca.publicKey = caKeys.publicKey;
  ca.serialNumber = serialNumber();
  ca.validity.notBefore = new Date(now.getTime() - DAY_MS);
  ca.validity.notAfter = new Date(now.getTime() + 5 * 365 * DAY_MS);
  const caName = [
    { name: 'commonName', value: 'dfp local CA' },
    { name: 'organizationName', value: 'dfp' },
  ];
  ca.setSubject(caName);
  ca.setIssuer(caName);
  ca.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  ca.sign(caKeys.privateKey, forge.md.sha256.create());

  const serverKeys = pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
  const server = pki.createCertificate();
  server.publicKey = serverKeys.publicKey;
  server.serialNumber = serialNumber();
  server.validity.notBefore = new Date(now.getTime() - DAY_MS);
  server.validity.notAfter = new Date(now.getTime() + 825 * DAY_MS);
  server.setSubject([{ name: 'commonName', value: hosts[0] ?? 'localhost' }]);
  server.setIssuer(caName);
  server.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: hosts.map((h) => (isIpLiteral(h) ? { type: 7, ip: h } : { type: 2, value: h })),
    },
    { name: 'subjectKeyIdentifier' },
  ]);
  server.sign(caKeys.privateKey, forge.md.sha256.create());

  return {
    caCert: pki.certificateToPem(ca),
    caKey: pki.privateKeyToPem(caKeys.privateKey),
    serverCert: pki.certificateToPem(server),
    serverKey: pki.privateKeyToPem(serverKeys.privateKey),
  };
}

/** `dfp cert`: write the four PEM files into `outDir`; returns a summary for stdout. */
export function runCert(outDir: string, hosts: readonly string[]): string {
  const files = makeCertificates(hosts);
  mkdirSync(outDir, { recursive: true });
  const write = (name: string, text: string, mode: number) => writeFileSync(join(outDir, name), text, { mode });
  write('ca.pem', files.caCert, 0o644);
  write('ca-key.pem', files.caKey, 0o600);
  write('server.pem', files.serverCert, 0o644);
  write('server-key.pem', files.serverKey, 0o600);
  return (
    `wrote ${join(outDir, 'ca.pem')}, ca-key.pem, server.pem, server-key.pem for ${hosts.join(', ')}\n` +
    `listeners: [{ address: 127.0.0.1:8443, tls: { certFile: ${join(outDir, 'server.pem')}, keyFile: ${join(outDir, 'server-key.pem')} } }]\n`
  );
}
