/**
 * How a client reached its destination, declared once: the `mode` of the
 * access log and of dfp_requests_total / dfp_request_duration_seconds.
 *   forward  absolute-form request (GET http://host/...)
 *   connect  CONNECT tunnel
 *   gateway  origin-form request routed by Host (or a rewrite header)
 *   sni      TLS passthrough routed by the ClientHello's server name
 */
export const PROXY_MODES = ['forward', 'connect', 'gateway', 'sni'] as const;

export type ProxyMode = (typeof PROXY_MODES)[number];
