/** Turning Node fs errors and invalid input into the library's typed FabricsError. */
import { FabricsError, type FabricsErrorCode } from '../errors.js';
import { addon } from '../native/index.js';

/** Wraps a failed fs call; FabricsErrors pass through unchanged. */
export function sysFail(e: unknown, op: string, what: string, code?: FabricsErrorCode): FabricsError {
  if (e instanceof FabricsError) return e;
  const err = e as NodeJS.ErrnoException;
  // The errno -> status map lives in the addon (native/src/common.cc), next to the syscalls
  // that raise most of these errors, and is shared with them.
  const c = code ?? (typeof err?.errno === 'number' ? addon().statusForErrno(err.errno) : 'MXL_ERR_UNKNOWN');
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
