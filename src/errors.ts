/**
 * The error table: every reply the proxy makes itself comes from one row here.
 * Codes are stable: never rename or reuse one, add new rows at the end.
 * The place that fails names only the code and a detail; status, Proxy-Status
 * and body are derived here (RFC 9209).
 */

export interface ErrorSpec {
  readonly status: number;
  readonly proxyStatus: string;
  /** One-line reason for the body when the detail is empty. */
  readonly text: string;
  /** Header fields the reply must carry; the ProxyError gives their values (`headerValues`), in this order. */
  readonly headers?: readonly string[];
}

export const ERRORS = {
  REQUEST_MALFORMED: { status: 400, proxyStatus: 'http_request_error', text: 'malformed request' },
  REQUEST_HEAD_TOO_LARGE: { status: 431, proxyStatus: 'http_request_error', text: 'request head too large' },
  REQUEST_URI_TOO_LONG: { status: 414, proxyStatus: 'http_request_error', text: 'request-line too long' },
  AUTH_REQUIRED: { status: 407, proxyStatus: 'http_request_denied', text: 'proxy authentication required', headers: ['Proxy-Authenticate'] },
  DESTINATION_DENIED: { status: 403, proxyStatus: 'destination_ip_prohibited', text: 'destination denied by policy' },
  REQUEST_DENIED: { status: 403, proxyStatus: 'http_request_denied', text: 'request denied by policy' },
  RATE_LIMITED: { status: 429, proxyStatus: 'http_request_denied', text: 'rate limited', headers: ['Retry-After'] },
  DNS_NXDOMAIN: { status: 502, proxyStatus: 'dns_error', text: 'name does not exist' },
  DNS_TIMEOUT: { status: 504, proxyStatus: 'dns_timeout', text: 'DNS query timed out' },
  DNS_FAILURE: { status: 502, proxyStatus: 'dns_error', text: 'DNS lookup failed' },
  CONNECTION_REFUSED: { status: 502, proxyStatus: 'connection_refused', text: 'connection refused' },
  DESTINATION_UNAVAILABLE: { status: 502, proxyStatus: 'destination_unavailable', text: 'destination unreachable' },
  CONNECT_TIMEOUT: { status: 504, proxyStatus: 'connection_timeout', text: 'upstream connect timed out' },
  TLS_PROTOCOL_ERROR: { status: 502, proxyStatus: 'tls_protocol_error', text: 'upstream TLS handshake failed' },
  TLS_CERTIFICATE_ERROR: { status: 502, proxyStatus: 'tls_certificate_error', text: 'upstream certificate rejected' },
  UPSTREAM_INCOMPLETE: { status: 502, proxyStatus: 'http_response_incomplete', text: 'upstream closed before a complete response' },
  UPSTREAM_PROTOCOL_ERROR: { status: 502, proxyStatus: 'http_protocol_error', text: 'upstream sent an invalid response' },
  LOOP_DETECTED: { status: 508, proxyStatus: 'proxy_loop_detected', text: 'request loops back to the proxy' },
  DNS_OVERLOADED: { status: 503, proxyStatus: 'dns_error', text: 'too many pending DNS lookups' },
  NOT_IMPLEMENTED: { status: 501, proxyStatus: 'http_request_error', text: 'not implemented' },
  RESPONSE_TIMEOUT: { status: 504, proxyStatus: 'http_response_timeout', text: 'upstream response timed out' },
  SERVICE_UNAVAILABLE: { status: 503, proxyStatus: 'proxy_internal_error', text: 'proxy is shutting down' },
  REQUEST_TIMEOUT: { status: 408, proxyStatus: 'http_request_error', text: 'request head not received in time' },
  CONNECTION_LIMIT: { status: 503, proxyStatus: 'connection_limit_reached', text: 'too many connections' },
  IDLE_TIMEOUT: { status: 504, proxyStatus: 'http_response_timeout', text: 'exchange idle for too long' },
  REQUEST_BODY_TIMEOUT: { status: 408, proxyStatus: 'http_request_error', text: 'request body stalled' },
  /** A bug in dfp itself (an exception on the data path), never an upstream's fault. */
  INTERNAL_ERROR: { status: 500, proxyStatus: 'proxy_internal_error', text: 'internal error' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export interface ProxyErrorOptions {
  cause?: unknown;
  /** DNS response code for Proxy-Status `rcode=` (e.g. NXDOMAIN, SERVFAIL). */
  rcode?: string;
  /** Values of the code's `headers`, in the table's order (no CR/LF: they are dropped). */
  headerValues?: readonly string[];
  /** The policy rule that decided a denial (for the access log). */
  rule?: string;
}

export class ProxyError extends Error {
  readonly code: ErrorCode;
  readonly detail: string;
  readonly rcode: string | undefined;
  readonly headerValues: readonly string[];
  readonly rule: string | null;

  constructor(code: ErrorCode, detail = '', options: ProxyErrorOptions = {}) {
    super(detail ? `${code}: ${detail}` : code, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProxyError';
    this.code = code;
    this.detail = detail;
    this.rcode = options.rcode;
    this.headerValues = options.headerValues ?? NO_VALUES;
    this.rule = options.rule ?? null;
  }

  get status(): number {
    return ERRORS[this.code].status;
  }

  get proxyStatus(): string {
    return ERRORS[this.code].proxyStatus;
  }
}

const NO_VALUES: readonly string[] = [];

/** Any thrown value as a ProxyError: ours as they are, anything else is a bug of ours (500). */
export function toProxyError(err: unknown): ProxyError {
  return err instanceof ProxyError ? err : new ProxyError('INTERNAL_ERROR', '', { cause: err });
}

export function isProxyError(err: unknown): err is ProxyError {
  return err instanceof ProxyError;
}

/** Quote a string for an RFC 8941 sf-string (Proxy-Status `details`). */
function quoteSfString(text: string): string {
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) continue;
    if (c === 0x22 || c === 0x5c) out += '\\';
    out += text[i];
  }
  return out + '"';
}

/** The `Proxy-Status` field value for an error (RFC 9209). */
export function proxyStatusValue(err: ProxyError): string {
  let value = `dfp; error=${err.proxyStatus}`;
  if (err.rcode) value += `; rcode=${quoteSfString(err.rcode)}`;
  const details = detailsOf(err);
  if (details) value += `; details=${quoteSfString(details)}`;
  return value;
}

/**
 * Proxy-Status details: the detail, and for a policy decision the rule that made it, unless the detail
 * already names it (`deny rule 2: *.example.net`; `10.1.2.3 is private (default: private destinations)`).
 */
function detailsOf(err: ProxyError): string {
  const rule = err.rule;
  if (rule === null || err.detail.includes(rule)) return err.detail;
  return err.detail ? `${err.detail} (${rule})` : rule;
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  500: 'Internal Server Error',
  414: 'URI Too Long',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  508: 'Loop Detected',
};

export interface ErrorReplyOptions {
  /** Close the connection after the reply (default true). */
  close?: boolean;
  /** HEAD requests get no body bytes (Content-Length still describes it). */
  isHead?: boolean;
}

/** Serialise a complete HTTP/1.1 error response for `err`. */
export function renderErrorReply(err: ProxyError, options: ErrorReplyOptions = {}): Buffer {
  const spec: ErrorSpec = ERRORS[err.code];
  const details = detailsOf(err);
  const body = oneLine(details ? `${spec.text}: ${details}` : spec.text) + '\n';
  let head =
    `HTTP/1.1 ${spec.status} ${REASONS[spec.status] ?? 'Error'}\r\n` +
    `Content-Type: text/plain; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    `Proxy-Status: ${proxyStatusValue(err)}\r\n`;
  const names = spec.headers;
  if (names !== undefined) {
    for (let i = 0; i < names.length; i++) head += `${names[i]}: ${oneLine(err.headerValues[i] ?? '')}\r\n`;
  }
  head += options.close === false ? '\r\n' : 'Connection: close\r\n\r\n';
  return Buffer.from(options.isHead ? head : head + body, 'latin1');
}

function oneLine(text: string): string {
  let out = '';
  for (let i = 0; i < text.length && out.length < 200; i++) {
    const c = text.charCodeAt(i);
    out += c < 0x20 || c > 0x7e ? ' ' : text[i];
  }
  return out;
}
