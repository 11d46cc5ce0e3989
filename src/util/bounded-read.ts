/**
 * Reads a user-given file (a TargetInfo, a flow definition, a domain's options.json) with a
 * size cap. Only regular files are read: a device, FIFO, socket or directory is refused
 * before any byte is read (`-t @/dev/zero` would otherwise grow without bound, and a FIFO
 * would block the process). The file is opened non-blocking so a FIFO cannot hang the open.
 */
import fs from 'node:fs';
import { FabricsError } from '../errors.js';

/** Default cap: far more than any flow definition or TargetInfo of a few hundred slots. */
export const DEFAULT_MAX_FILE_BYTES = 1 << 20;

export interface BoundedReadOptions {
  /** Largest accepted size in bytes (default 1 MiB). */
  maxBytes?: number;
  /** What the file holds, for the message ("TargetInfo file", "flow definition"). */
  what?: string;
  /** FabricsError field (default 'path'). */
  field?: string;
}

function kindOf(st: fs.Stats): string | undefined {
  if (st.isFile()) return undefined;
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/** The file's text (UTF-8); FabricsError naming the path on every refusal. */
export function readUserFile(file: string, opts: BoundedReadOptions = {}): string {
  const max = opts.maxBytes ?? DEFAULT_MAX_FILE_BYTES;
  const what = opts.what ?? 'file';
  const field = opts.field ?? 'path';
  if (typeof file !== 'string' || file.length === 0) throw new FabricsError('MXL_ERR_INVALID_ARG', `${what}: empty path`, { field });
  // Look before opening: opening a FIFO or a device can block or have effects; a socket cannot be opened.
  let pre: fs.Stats | undefined;
  try {
    pre = fs.statSync(file);
  } catch {
    pre = undefined; // open() below reports why
  }
  const preKind = pre ? kindOf(pre) : undefined;
  if (preKind) throw new FabricsError('MXL_ERR_INVALID_ARG', `cannot read ${what} ${file} (${preKind === 'a directory' ? 'EISDIR' : 'not a regular file'}): ${preKind}, not a regular file`, { field });
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // EISDIR on some systems when opening a directory; report it like fstat would.
    if (code === 'EISDIR') throw new FabricsError('MXL_ERR_INVALID_ARG', `cannot read ${what} ${file} (EISDIR): a directory, not a regular file`, { field });
    throw new FabricsError(code === 'ENOENT' ? 'MXL_ERR_NOT_FOUND' : code === 'EACCES' || code === 'EPERM' ? 'MXL_ERR_PERMISSION_DENIED' : 'MXL_ERR_INVALID_ARG',
      `cannot read ${what} ${file} (${code ?? (e as Error).message})`, { field, cause: e });
  }
  try {
    const st = fs.fstatSync(fd);
    const kind = kindOf(st);
    if (kind) throw new FabricsError('MXL_ERR_INVALID_ARG', `cannot read ${what} ${file} (${kind === 'a directory' ? 'EISDIR' : 'not a regular file'}): ${kind}, not a regular file`, { field });
    if (st.size > max) throw new FabricsError('MXL_ERR_INVALID_ARG', `cannot read ${what} ${file} (${st.size} bytes, more than the ${max} accepted)`, { field });
    // Read until EOF, but never more than max + 1 bytes: a file that grows (or lies about
    // its size, like /proc files) is still bounded.
    const chunks: Buffer[] = [];
    let n = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(64 * 1024, max + 1 - n));
      const r = fs.readSync(fd, chunk, 0, chunk.length, null);
      if (r === 0) break;
      chunks.push(chunk.subarray(0, r));
      n += r;
      if (n > max) throw new FabricsError('MXL_ERR_INVALID_ARG', `cannot read ${what} ${file} (more than the ${max} bytes accepted)`, { field });
    }
    const buf = Buffer.concat(chunks, n);
    return buf.toString('utf8');
  } catch (e) {
    if (e instanceof FabricsError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new FabricsError('MXL_ERR_INVALID_ARG', `cannot read ${what} ${file} (${code ?? (e as Error).message})`, { field, cause: e });
  } finally {
    fs.closeSync(fd);
  }
}
