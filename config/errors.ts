/**
 * Coded errors (fastify's FST_ERR_* habit): tests and callers match on `code`, never on text.
 * Every module throws GatewayError with one of these codes and, where there is one, a `cause`.
 */
export const ErrorCodes = {
  CONFIG: 'GW_ERR_CONFIG', // a config file failed validation; `details` holds one line per problem
  CONFIG_ENV: 'GW_ERR_CONFIG_ENV', // ${VAR} without default and VAR unset
  CONFIG_READ: 'GW_ERR_CONFIG_READ', // file missing / not YAML
  STORE: 'GW_ERR_STORE', // the embedded store failed (I/O error, lock, damaged file it may not move aside)
  STORE_FULL: 'GW_ERR_STORE_FULL', // the store has no room for readings (full disk, or maxSize with nothing it may drop)
  DEVICE_UNKNOWN: 'GW_ERR_DEVICE_UNKNOWN',
  TAG_UNKNOWN: 'GW_ERR_TAG_UNKNOWN',
  WRITE_TYPE: 'GW_ERR_WRITE_TYPE', // value does not fit the tag's type
  WRITE_RANGE: 'GW_ERR_WRITE_RANGE', // value outside the tag's configured min/max
  WRITE_UNSUPPORTED: 'GW_ERR_WRITE_UNSUPPORTED', // tag or protocol cannot be written
  WRITE_FAILED: 'GW_ERR_WRITE_FAILED', // the device refused or did not answer
  NOT_CONNECTED: 'GW_ERR_NOT_CONNECTED',
  TIMEOUT: 'GW_ERR_TIMEOUT',
  OPCUA_UNTRUSTED: 'GW_ERR_OPCUA_UNTRUSTED', // server certificate not in the trust list
  OPCUA_AUTH: 'GW_ERR_OPCUA_AUTH', // user identity rejected
  INFLUX_AUTH: 'GW_ERR_INFLUX_AUTH',
  INFLUX: 'GW_ERR_INFLUX',
  VERIFY_INPUT: 'GW_ERR_VERIFY_INPUT', // bad project file, invoice, window
  POLICY: 'GW_ERR_POLICY', // bad or missing policy file
  USAGE: 'GW_ERR_USAGE', // bad command-line usage
  COMMAND: 'GW_ERR_COMMAND', // a northbound command (MQTT write request, Sparkplug DCMD) that does not parse or names nothing
  COMMAND_DENIED: 'GW_ERR_COMMAND_DENIED', // a northbound command from a target that may not write (allowWrites false)
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly details: readonly string[];
  constructor(code: ErrorCode, message: string, opts: { cause?: unknown; details?: readonly string[] } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.details = opts.details ?? [];
  }
}

export function isGatewayError(e: unknown, code?: ErrorCode): e is GatewayError {
  return e instanceof GatewayError && (code === undefined || e.code === code);
}

/** A short, loggable text of any thrown value (never the stack). */
export function errorText(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as Error & { code?: unknown }).code;
    return typeof code === 'string' && code ? `${code}: ${e.message}` : e.message;
  }
  return String(e);
}
