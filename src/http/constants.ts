/** Public numeric constants of the scanner (plain numbers, not const enums: isolated-module builds). */

export const NEED_MORE = -1;
export const ERROR = -2;

export const METHOD_OTHER = 0;
export const METHOD_GET = 1;
export const METHOD_HEAD = 2;
export const METHOD_POST = 3;
export const METHOD_PUT = 4;
export const METHOD_DELETE = 5;
export const METHOD_CONNECT = 6;
export const METHOD_OPTIONS = 7;
export const METHOD_TRACE = 8;
export const METHOD_PATCH = 9;

export const FORM_ORIGIN = 1;
export const FORM_ABSOLUTE = 2;
export const FORM_AUTHORITY = 3;
export const FORM_ASTERISK = 4;

export const H_OTHER = 0;
export const H_HOST = 1;
export const H_CONTENT_LENGTH = 2;
export const H_TRANSFER_ENCODING = 3;
export const H_CONNECTION = 4;
export const H_PROXY_CONNECTION = 5;
export const H_PROXY_AUTHORIZATION = 6;
export const H_UPGRADE = 7;
export const H_EXPECT = 8;
export const H_KEEP_ALIVE = 9;
export const H_TE = 10;
export const H_TRAILER = 11;
export const H_VIA = 12;
export const H_PROXY_AUTHENTICATE = 13;
export const H_HTTP2_SETTINGS = 14;
/** A field named Close (reserved, RFC 9110 §16.3.1): always hop-by-hop, as `Connection: close` names it. */
export const H_CLOSE = 15;

export const BODY_NONE = 0;
export const BODY_LENGTH = 1;
export const BODY_CHUNKED = 2;
export const BODY_EOF = 3;

export const HEADER_STRIDE = 5;

/** Largest Content-Length and chunk size accepted: 2^53 - 1 (exact in a double). Beyond: *_OVERFLOW. */
export const MAX_BODY_LENGTH = Number.MAX_SAFE_INTEGER;
