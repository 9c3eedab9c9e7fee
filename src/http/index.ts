/**
 * dfp's HTTP/1.1 scanner: an incremental, zero-copy parser for request and response heads (HeadParser) and
 * message bodies (BodyParser), plus parseStream for tests and fuzzers. Imports nothing outside src/http.
 */
export * from './constants.js';
export { HeadParser, DEFAULT_HEAD_LIMITS } from './head.js';
export type { HeadLimits } from './head.js';
export { BodyParser } from './body.js';
export type { BodyLimits } from './body.js';
export { parseStream } from './stream.js';
export type { ParsedMessage, ParseResult, ParseStreamOptions } from './stream.js';
export { REASON_STATUS, statusOfReason } from './reasons.js';
