/**
 * Typed errors. Every failure the library reports is a {@link FabricsError} whose
 * `code` is one of upstream's `mxlStatus` names (docs/protocol.md §1.2), so
 * code written against libmxl's status values maps one to one.
 */

export const MxlStatus = {
  MXL_STATUS_OK: 0,
  MXL_ERR_UNKNOWN: 1,
  MXL_ERR_FLOW_NOT_FOUND: 2,
  MXL_ERR_OUT_OF_RANGE_TOO_LATE: 3,
  MXL_ERR_OUT_OF_RANGE_TOO_EARLY: 4,
  MXL_ERR_INVALID_FLOW_READER: 5,
  MXL_ERR_INVALID_FLOW_WRITER: 6,
  MXL_ERR_TIMEOUT: 7,
  MXL_ERR_INVALID_ARG: 8,
  MXL_ERR_CONFLICT: 9,
  MXL_ERR_PERMISSION_DENIED: 10,
  MXL_ERR_FLOW_INVALID: 11,
  MXL_ERR_STRLEN: 1024,
  MXL_ERR_INTERRUPTED: 1025,
  MXL_ERR_NO_FABRIC: 1026,
  MXL_ERR_INVALID_STATE: 1027,
  MXL_ERR_INTERNAL: 1028,
  MXL_ERR_NOT_READY: 1029,
  MXL_ERR_NOT_FOUND: 1030,
  MXL_ERR_EXISTS: 1031,
  MXL_ERR_UNSUPPORTED_OPERATION: 1032,
} as const;

export type MxlStatusCode = keyof typeof MxlStatus;

/** Codes for failures that are ours alone (not an upstream status). */
export type LocalErrorCode = 'ERR_MXL_ADDON_LOAD';

export type FabricsErrorCode = MxlStatusCode | LocalErrorCode;

export interface FabricsErrorDetails {
  /** OS errno (positive), when a system call failed. */
  errno?: number;
  /** libfabric error number (positive FI_E* value), when a libfabric call failed. */
  fiErrno?: number;
  /** The call that failed, e.g. `fi_getinfo` or `mmap`. */
  op?: string;
  /** `fi_strerror` / `strerror` text for the failure. */
  detail?: string;
  /** Field of an input document that was wrong (flow definition, TargetInfo...). */
  field?: string;
  cause?: unknown;
}

export class FabricsError extends Error {
  override name = 'FabricsError';
  readonly code: FabricsErrorCode;
  readonly status: number;
  readonly errno?: number;
  readonly fiErrno?: number;
  readonly op?: string;
  readonly detail?: string;
  readonly field?: string;

  constructor(code: FabricsErrorCode, message: string, details: FabricsErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.status = code in MxlStatus ? MxlStatus[code as MxlStatusCode] : MxlStatus.MXL_ERR_INTERNAL;
    if (details.errno !== undefined) this.errno = details.errno;
    if (details.fiErrno !== undefined) this.fiErrno = details.fiErrno;
    if (details.op !== undefined) this.op = details.op;
    if (details.detail !== undefined) this.detail = details.detail;
    if (details.field !== undefined) this.field = details.field;
  }

  /** Plain record for crossing a thread boundary (postMessage drops subclass fields). */
  toRecord(): FabricsErrorRecord {
    return {
      name: this.name, code: this.code, message: this.message, stack: this.stack,
      errno: this.errno, fiErrno: this.fiErrno, op: this.op, detail: this.detail, field: this.field,
    };
  }

  static fromRecord(r: FabricsErrorRecord, callSite?: Error): FabricsError {
    const e = new FabricsError(r.code as FabricsErrorCode, r.message, r);
    e.stack = `${r.stack ?? `${e.name}: ${e.message}`}${callSite?.stack ? `\n    --- called from ---\n${callSite.stack.split('\n').slice(1).join('\n')}` : ''}`;
    return e;
  }
}

export interface FabricsErrorRecord extends FabricsErrorDetails {
  name: string;
  code: string;
  message: string;
  stack?: string;
}

/** Turns anything thrown into a FabricsError (unknown errors become MXL_ERR_UNKNOWN). */
export function asFabricsError(e: unknown, op?: string): FabricsError {
  if (e instanceof FabricsError) return e;
  const err = e as NodeJS.ErrnoException;
  return new FabricsError('MXL_ERR_UNKNOWN', err?.message ?? String(e), { op, cause: e, errno: typeof err?.errno === 'number' ? -err.errno : undefined });
}

/** Status name for a numeric mxlStatus value (undefined when unknown). */
export function statusName(status: number): MxlStatusCode | undefined {
  return (Object.keys(MxlStatus) as MxlStatusCode[]).find((k) => MxlStatus[k] === status);
}
