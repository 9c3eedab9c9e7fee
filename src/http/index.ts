/**
 * dfp's HTTP/1.1 scanner: an incremental, zero-copy parser for request and response heads (HeadParser) and
 * message bodies (BodyParser), plus parseStream for tests and fuzzers. Imports nothing outside src/http.
 *
 * Decisions (each rejection has a stable reason code; REASON_STATUS maps it to 400 / 414 / 431):
 * - Only HTTP/1.0 and HTTP/1.1 (INVALID_VERSION): no HTTP/0.9, RTSP, ICE or h2 preface. Methods are any token
 *   (extension methods are METHOD_OTHER). Up to 8 empty lines before a start line are skipped.
 * - request-target: visible ASCII only (no CTL, SP, DEL, >= 0x80). origin-form; absolute-form with http/https
 *   and a non-empty host, not followed directly by "#"; authority-form host:port only and always with CONNECT;
 *   "*" only with OPTIONS (INVALID_TARGET).
 * - Framing (RFC 9112 §6): Content-Length with Transfer-Encoding is rejected in both directions
 *   (CL_TE_CONFLICT). Repeated Content-Length fields or lists are accepted only when every value is the same
 *   (RFC 9110 §8.6), else CL_MISMATCH; values are 1*DIGIT up to 2^53-1 (INVALID_CONTENT_LENGTH /
 *   CONTENT_LENGTH_OVERFLOW). Codings other than chunked are forwarded as they are; chunked must be final in a
 *   request (TE_NOT_CHUNKED) and a response whose final coding is not chunked is close-delimited; chunked twice
 *   (CHUNKED_TWICE), parameters on chunked, empty list members (INVALID_TRANSFER_ENCODING), and
 *   Transfer-Encoding in an HTTP/1.0 request (TE_IN_HTTP10) are rejected. CONNECT requests never have a body.
 * - Lines end in CRLF only (BARE_LF, BARE_CR); no obs-fold (OBS_FOLD), no whitespace before the colon
 *   (SPACE_BEFORE_COLON); values are field-vchar / SP / HTAB with obs-text allowed (INVALID_HEADER_VALUE).
 * - Chunked bodies: hex sizes up to 2^53-1, extensions as strict RFC 9112 §7.1.1 grammar with no whitespace,
 *   CRLF after data, trailer fields validated like header fields; forwarded raw, never re-encoded.
 * - keepAlive is false for a close-delimited response; Proxy-Connection close / keep-alive count like
 *   Connection's (as llhttp). Limits count from the first byte of the start line.
 */
export * from './constants.js';
export { HeadParser, DEFAULT_HEAD_LIMITS } from './head.js';
export type { HeadLimits } from './head.js';
export { BodyParser } from './body.js';
export type { BodyLimits } from './body.js';
export { parseStream } from './stream.js';
export type { ParsedMessage, ParseResult, ParseStreamOptions } from './stream.js';
export { REASON_STATUS, statusOfReason } from './reasons.js';
