/**
 * Stable reason codes of the scanner and the HTTP status a server answers with. Codes are never renamed or
 * reused; add new ones at the end. The proxy puts the code into Proxy-Status `details`.
 */
export const REASON_STATUS: Readonly<Record<string, number>> = {
  // start line
  INVALID_METHOD: 400,
  INVALID_TARGET: 400,
  INVALID_VERSION: 400,
  INVALID_STATUS: 400,
  INVALID_REASON: 400,
  URI_TOO_LONG: 414,
  STATUS_LINE_TOO_LONG: 400,
  TOO_MANY_EMPTY_LINES: 400,
  // line endings and header syntax
  BARE_CR: 400,
  BARE_LF: 400,
  OBS_FOLD: 400,
  SPACE_BEFORE_COLON: 400,
  EMPTY_HEADER_NAME: 400,
  INVALID_HEADER_NAME: 400,
  INVALID_HEADER_VALUE: 400,
  HEAD_TOO_LARGE: 431,
  TOO_MANY_HEADERS: 431,
  DUPLICATE_HOST: 400,
  // framing (RFC 9112 §6)
  INVALID_CONTENT_LENGTH: 400,
  CONTENT_LENGTH_OVERFLOW: 400,
  CL_MISMATCH: 400,
  CL_TE_CONFLICT: 400,
  INVALID_TRANSFER_ENCODING: 400,
  TE_NOT_CHUNKED: 400,
  CHUNKED_TWICE: 400,
  TE_IN_HTTP10: 400,
  // body (BodyParser)
  INVALID_CHUNK_SIZE: 400,
  CHUNK_SIZE_OVERFLOW: 400,
  INVALID_CHUNK_EXTENSION: 400,
  CHUNK_EXTENSION_TOO_LARGE: 400,
  CHUNK_MISSING_CRLF: 400,
  INVALID_TRAILER: 400,
  TRAILER_TOO_LARGE: 431,
  // parseStream only
  DATA_AFTER_CLOSE: 400,
  INCOMPLETE_MESSAGE: 400,
  // internal: a state the scanner never enters (a bug if ever seen)
  INVALID_STATE: 400,
  // added later (codes are never renumbered or reused)
  DUPLICATE_CONTENT_LENGTH: 400,
  CHUNK_SIZE_TOO_LONG: 400,
};

export function statusOfReason(code: string): number {
  return REASON_STATUS[code] ?? 400;
}
