/**
 * Typed errors of the platform. The codes are MLflow's `ErrorCode` names so the server can answer
 * `{"error_code", "message"}` exactly as MLflow does, and the CLI can print them as they are.
 */
export type ErrorCode =
  | 'INVALID_PARAMETER_VALUE'
  | 'RESOURCE_DOES_NOT_EXIST'
  | 'RESOURCE_ALREADY_EXISTS'
  | 'INVALID_STATE'
  | 'BAD_REQUEST'
  | 'MALFORMED_REQUEST'
  | 'ENDPOINT_NOT_FOUND'
  | 'PERMISSION_DENIED'
  | 'UNAUTHENTICATED'
  | 'REQUEST_LIMIT_EXCEEDED'
  | 'RESOURCE_CONFLICT'
  | 'TEMPORARILY_UNAVAILABLE'
  | 'INTERNAL_ERROR';

/** HTTP status for each code, as mlflow/exceptions.py maps them (INVALID_STATE really is a 500 there). */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  INVALID_PARAMETER_VALUE: 400,
  RESOURCE_DOES_NOT_EXIST: 404,
  RESOURCE_ALREADY_EXISTS: 400,
  INVALID_STATE: 500,
  BAD_REQUEST: 400,
  MALFORMED_REQUEST: 400,
  ENDPOINT_NOT_FOUND: 404,
  PERMISSION_DENIED: 403,
  UNAUTHENTICATED: 401,
  REQUEST_LIMIT_EXCEEDED: 429,
  RESOURCE_CONFLICT: 409,
  TEMPORARILY_UNAVAILABLE: 503,
  INTERNAL_ERROR: 500,
};

export class TrellisError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TrellisError';
  }

  get httpStatus(): number {
    return HTTP_STATUS[this.code];
  }
}

export const invalidParameter = (message: string): TrellisError =>
  new TrellisError('INVALID_PARAMETER_VALUE', message);
export const notFound = (message: string): TrellisError =>
  new TrellisError('RESOURCE_DOES_NOT_EXIST', message);
export const alreadyExists = (message: string): TrellisError =>
  new TrellisError('RESOURCE_ALREADY_EXISTS', message);
export const invalidState = (message: string): TrellisError => new TrellisError('INVALID_STATE', message);
