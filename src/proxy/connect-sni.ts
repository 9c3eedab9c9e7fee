/**
 * access.connectSni: the first bytes a client sends into a CONNECT tunnel are read with the ClientHello
 * scanner before anything is forwarded. A CONNECT admitted for a.example can otherwise carry a ClientHello
 * naming b.example (domain fronting through a shared CDN, the usual way past host allow-lists).
 *
 * The rule, per mode:
 * - match:   a ClientHello whose SNI (normalised) is not the CONNECT host closes the tunnel; so does a
 *            garbled or oversize ClientHello. Bytes that are not TLS, and a ClientHello without SNI, pass
 *            (plain protocols through CONNECT keep working).
 * - require: as match, and non-TLS bytes, a ClientHello without SNI, and an Encrypted ClientHello (whose
 *            SNI in the clear is only the ECH provider's public name) are refused.
 * In both, a client that sends nothing (complete) within headerTimeout is closed: letting silence open the
 * tunnel (for server-speaks-first protocols) let a client wait out the timer and then send a ClientHello
 * for any host unread. Server-first protocols through CONNECT need connectSni: off.
 * A CONNECT to an IP literal has no name to match: any SNI is a mismatch.
 */
import { normalizeHost, type HostTarget } from '../dns/name.js';
import { CH_DONE, CH_NEED_MORE, CH_NOT_TLS, ClientHelloScanner } from '../tls/client-hello.js';

/** Bytes held before a verdict (the scanner's own bound on a ClientHello in 1-byte records is ~6×16 KiB). */
const MAX_HELD_BYTES = 128 * 1024;

export const SNI_WAIT = 0;
export const SNI_PASS = 1;
export const SNI_REFUSE = 2;

export class ConnectSniCheck {
  private readonly mode: 'match' | 'require';
  private readonly host: HostTarget;
  private readonly scanner = new ClientHelloScanner();
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** Why the tunnel was refused (for the log's detail), after SNI_REFUSE. */
  reason = '';

  constructor(mode: 'match' | 'require', host: HostTarget) {
    this.mode = mode;
    this.host = host;
  }

  /** The next client bytes: SNI_WAIT for more, SNI_PASS or SNI_REFUSE. */
  push(chunk: Buffer): number {
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    const verdict = this.scanner.push(chunk);
    if (verdict === CH_NEED_MORE) return this.heldBytes > MAX_HELD_BYTES ? this.refuse('no ClientHello verdict within 128 KiB') : SNI_WAIT;
    if (verdict === CH_NOT_TLS) return this.mode === 'require' ? this.refuse('not TLS') : SNI_PASS;
    if (verdict !== CH_DONE) return this.refuse(`ClientHello refused: ${this.scanner.reason}`);
    const sni = this.scanner.serverName;
    if (sni === null) return this.mode === 'require' ? this.refuse('ClientHello without server_name') : SNI_PASS;
    if (this.mode === 'require' && this.scanner.hasEncryptedClientHello) return this.refuse('Encrypted ClientHello: the real server name is hidden');
    let named: HostTarget;
    try {
      named = normalizeHost(sni);
    } catch {
      return this.refuse(`server_name ${sni} is not a host name`);
    }
    if (this.host.kind === 'name' && named.kind === 'name' && named.name === this.host.name) return SNI_PASS;
    return this.refuse(`server_name ${sni} is not the CONNECT host`);
  }

  /** Nothing (complete) from the client within headerTimeout, or its FIN before a verdict. */
  timedOut(): number {
    return this.refuse(this.heldBytes === 0 ? 'nothing sent within headerTimeout' : 'no complete ClientHello within headerTimeout');
  }

  /** The bytes read so far, to be sent first once the tunnel opens. */
  takeHeld(): Buffer | null {
    const held = this.held;
    this.held = [];
    if (held.length === 0) return null;
    return held.length === 1 ? held[0]! : Buffer.concat(held);
  }

  private refuse(reason: string): number {
    this.reason = reason;
    return SNI_REFUSE;
  }
}
