/**
 * Why dfp refused a request or a connection: stable reason codes, the `reason`
 * label of dfp_denied_total, and what a policy decision carries with it.
 * Codes are never renamed or reused; add new ones at the end.
 */
import type { AddressClass } from './address.js';

export const DENY_REASONS = [
  /** CONNECT to a port outside access.connectPorts (403 REQUEST_DENIED). */
  'connect_port',
  /** No resolved address is public and private destinations are not allowed (403 DESTINATION_DENIED). */
  'private_destination',
  /** Over limits.maxConnections or maxConnectionsPerClient (503 CONNECTION_LIMIT). */
  'connection_limit',
  /** Configured routes exist and none matches the request (403 REQUEST_DENIED). */
  'no_route',
  /** A cloud metadata address, denied even with allowPrivateDestinations (403 DESTINATION_DENIED). */
  'metadata_destination',
  /** access.connectSni: the TLS SNI inside a CONNECT tunnel does not name the CONNECT host (tunnel closed). */
  'connect_sni',
  /** An access.deny rule matched the name or an address (403; Proxy-Status details name the rule). */
  'deny_rule',
  /** access.allow is set and no rule of it admits the destination (403). */
  'not_allowed',
  /** auth.basic: Proxy-Authorization missing or wrong (407). */
  'proxy_auth',
  /** rateLimit.perClient: the key's bucket is empty (429 with Retry-After; also dfp_rate_limited_total). */
  'rate_limit',
] as const;

export type DenyReason = (typeof DENY_REASONS)[number];

/** The reason for refusing a destination of this class (every class but 'public' is refused by default). */
export function denyReasonForAddress(cls: AddressClass): DenyReason {
  return cls === 'metadata' ? 'metadata_destination' : 'private_destination';
}
