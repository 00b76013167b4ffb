/**
 * One error handler for the whole API: validation errors name the zod path (`body.value`,
 * `querystring.from`), the runtime's coded GatewayErrors map to HTTP statuses, anything else is a
 * 500 with no internals in the body. Error bodies: { statusCode, code, error, message, issues?, details? }.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { ErrorCodes, isGatewayError, type ErrorCode } from '../../config/errors.js';
import { ApiCodes, sendError } from './auth.js';

/** HTTP status of each runtime error code an API call can meet. */
export const STATUS_OF_CODE: Partial<Record<ErrorCode, number>> = {
  [ErrorCodes.DEVICE_UNKNOWN]: 404,
  [ErrorCodes.TAG_UNKNOWN]: 404,
  [ErrorCodes.WRITE_TYPE]: 400,
  [ErrorCodes.WRITE_RANGE]: 400,
  [ErrorCodes.WRITE_UNSUPPORTED]: 409,
  [ErrorCodes.NOT_CONNECTED]: 503,
  [ErrorCodes.WRITE_FAILED]: 502,
  [ErrorCodes.TIMEOUT]: 504,
  [ErrorCodes.CONFIG]: 400,
  [ErrorCodes.CONFIG_READ]: 400,
  [ErrorCodes.CONFIG_ENV]: 400,
  [ErrorCodes.USAGE]: 409,
  [ErrorCodes.VERIFY_INPUT]: 400,
  [ErrorCodes.STORE]: 503,
  [ErrorCodes.INFLUX]: 502,
  [ErrorCodes.INFLUX_AUTH]: 502,
  [ErrorCodes.POLICY]: 400,
};

/** An API-level client error (a combination of query fields that zod alone cannot judge). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues: Issue[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** 400 naming the offending field, shaped like a validation error. */
export function badRequest(path: string, message: string): ApiError {
  return new ApiError(400, ApiCodes.VALIDATION, `${path}: ${message}`, [{ path, message }]);
}

export interface Issue {
  /** where: `body.value`, `querystring.limit`, `params.id` */
  path: string;
  message: string;
}

export function issuesOf(err: FastifyError): Issue[] {
  const ctx = (err as FastifyError & { validationContext?: string }).validationContext ?? 'request';
  return (err.validation ?? []).map((v) => {
    const sub = (v.instancePath ?? '').split('/').filter(Boolean).join('.');
    return { path: sub ? `${ctx}.${sub}` : ctx, message: v.message ?? 'invalid' };
  });
}

export function errorHandler(err: FastifyError | ApiError, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (err instanceof ApiError) {
    req.auditDetail = err.code;
    return sendError(reply, err.status, err.code, err.message, err.issues.length > 0 ? { issues: err.issues } : {});
  }
  if (hasZodFastifySchemaValidationErrors(err) || (Array.isArray(err.validation) && err.validation.length > 0)) {
    const issues = issuesOf(err);
    req.auditDetail = ApiCodes.VALIDATION;
    return sendError(reply, 400, ApiCodes.VALIDATION, issues.map((i) => `${i.path}: ${i.message}`).join('; '), { issues });
  }
  if (isGatewayError(err)) {
    const status = STATUS_OF_CODE[err.code] ?? 500;
    req.auditDetail = err.code;
    if (status >= 500) req.log.warn({ code: err.code, msg: err.message }, 'request failed');
    return sendError(reply, status, err.code, err.message, err.details.length > 0 ? { details: err.details } : {});
  }
  if (isResponseSerializationError(err as never) && (err as { code?: string }).code === 'FST_ERR_RESPONSE_SERIALIZATION') {
    req.log.error({ route: req.routeOptions.url, issues: (err.cause as { issues?: unknown })?.issues }, 'response does not match its schema');
    req.auditDetail = ApiCodes.INTERNAL;
    return sendError(reply, 500, ApiCodes.INTERNAL, 'internal error');
  }
  const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
  if (status < 500) {
    // fastify's own client errors: body too large (413), bad JSON (400), wrong content type (415)
    req.auditDetail = err.code ?? 'CLIENT_ERROR';
    return sendError(reply, status, err.code ?? 'GW_ERR_API_CLIENT', err.message);
  }
  req.log.error({ code: err.code, msg: err.message }, 'unexpected error');
  req.auditDetail = ApiCodes.INTERNAL;
  return sendError(reply, 500, ApiCodes.INTERNAL, 'internal error');
}

export function notFoundHandler(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendError(reply, 404, ApiCodes.NOT_FOUND, `no route ${req.method} ${req.url.split('?')[0]}`);
}
