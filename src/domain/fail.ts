/** Turning Node fs errors and invalid input into the library's typed FabricsError. */
import { FabricsError, type FabricsErrorCode } from '../errors.js';

const byErrnoCode: Record<string, FabricsErrorCode> = {
  ENOENT: 'MXL_ERR_NOT_FOUND',
  EACCES: 'MXL_ERR_PERMISSION_DENIED',
  EPERM: 'MXL_ERR_PERMISSION_DENIED',
  EROFS: 'MXL_ERR_PERMISSION_DENIED',
  EEXIST: 'MXL_ERR_EXISTS',
  ENOTEMPTY: 'MXL_ERR_EXISTS',
  EINVAL: 'MXL_ERR_INVALID_ARG',
};

/** Wraps a failed fs call; FabricsErrors pass through unchanged. */
export function sysFail(e: unknown, op: string, what: string, code?: FabricsErrorCode): FabricsError {
  if (e instanceof FabricsError) return e;
  const err = e as NodeJS.ErrnoException;
  const c = code ?? byErrnoCode[err?.code ?? ''] ?? 'MXL_ERR_UNKNOWN';
  return new FabricsError(c, `${op} failed for ${what}: ${err?.message ?? String(e)}`, {
    op,
    errno: typeof err?.errno === 'number' ? Math.abs(err.errno) : undefined,
    detail: err?.code,
    cause: e,
  });
}

/** An invalid input document or argument; `field` names what was wrong. */
export function badArg(message: string, field?: string): FabricsError {
  return new FabricsError('MXL_ERR_INVALID_ARG', message, field === undefined ? {} : { field });
}

/** A flow whose files do not match the format (wrong version, sizes...). */
export function badFlow(message: string, field?: string): FabricsError {
  return new FabricsError('MXL_ERR_FLOW_INVALID', message, field === undefined ? {} : { field });
}
