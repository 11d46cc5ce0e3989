/**
 * Where an initiator gets a target's TargetInfo, and how it learns of a new one:
 *   - inline text (base64 or JSON): fixed;
 *   - a file (`-t @FILE`, as `target -t` writes it): watched with fs.watch on its directory
 *     (the target replaces the file by rename, which a watch on the file itself would lose)
 *     plus a poll fallback for file systems without notifications; re-read with the bounded
 *     reader;
 *   - an HTTP URL (`-t http://HOST:PORT/targetinfo`, as `target --info-http` serves it):
 *     fetched at start and again on refresh().
 * Every source has current(), refresh() (re-read now; true when the TargetInfo changed),
 * onChange(cb) and close().
 */
import fs from 'node:fs';
import path from 'node:path';
import { FabricsError } from '../errors.js';
import type { TargetInfo } from '../fabrics/target-info.js';
import { readUserFile } from '../util/bounded-read.js';
import { MAX_TARGET_INFO_BYTES, type ParsedTargetInfo, parseTargetInfoText } from './target-info-text.js';

export type ChangeListener = (next: ParsedTargetInfo, previous: ParsedTargetInfo) => void;

export interface TargetInfoSource {
  /** 'inline', the file path or the URL. */
  readonly from: string;
  readonly kind: 'inline' | 'file' | 'http';
  current(): ParsedTargetInfo;
  /** Reads the source again now; resolves true when it holds a different TargetInfo (listeners were called). */
  refresh(): Promise<boolean>;
  /** Called with each new TargetInfo; returns a function that removes the listener. */
  onChange(cb: ChangeListener): () => void;
  close(): void;
}

export interface SourceOptions {
  /** For messages: "-t #1". */
  which?: string;
  /** File sources: poll interval of the fallback (default 500 ms). */
  pollMs?: number;
  /** HTTP sources: timeout of one fetch (default 2000 ms). */
  fetchTimeoutMs?: number;
}

abstract class BaseSource implements TargetInfoSource {
  abstract readonly kind: 'inline' | 'file' | 'http';
  private readonly listeners = new Set<ChangeListener>();
  protected closed = false;
  /** Errors of background re-reads (a half-written file by a foreign tool...): kept, not thrown. */
  lastError?: FabricsError;

  constructor(readonly from: string, protected cur: ParsedTargetInfo, protected readonly which: string) {}

  current(): ParsedTargetInfo { return this.cur; }

  onChange(cb: ChangeListener): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  abstract refresh(): Promise<boolean>;

  close(): void {
    this.closed = true;
    this.listeners.clear();
  }

  /** Adopts a newly read TargetInfo; calls the listeners when it differs. */
  protected offer(next: ParsedTargetInfo): boolean {
    if (this.closed || next.info.equals(this.cur.info)) return false;
    const prev = this.cur;
    this.cur = next;
    for (const cb of [...this.listeners]) cb(next, prev);
    return true;
  }
}

class InlineSource extends BaseSource {
  readonly kind = 'inline' as const;
  async refresh(): Promise<boolean> { return false; }
}

class FileSource extends BaseSource {
  readonly kind = 'file' as const;
  private watcher?: fs.FSWatcher;
  private poll?: NodeJS.Timeout;
  private lastStamp = '';

  constructor(file: string, cur: ParsedTargetInfo, which: string, pollMs: number) {
    super(file, cur, which);
    this.lastStamp = this.stamp();
    try {
      const base = path.basename(file);
      this.watcher = fs.watch(path.dirname(path.resolve(file)), { persistent: false }, (_ev, name) => {
        if (name === null || name === base) this.check();
      });
      this.watcher.on('error', () => { this.watcher?.close(); this.watcher = undefined; });
    } catch {
      this.watcher = undefined; // the poll below still notices changes
    }
    this.poll = setInterval(() => this.check(), pollMs);
    this.poll.unref();
  }

  /** Inode, size and mtime: cheap to compare every poll. */
  private stamp(): string {
    try {
      const st = fs.statSync(this.from);
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return 'missing';
    }
  }

  private check(): void {
    if (this.closed) return;
    const s = this.stamp();
    if (s === this.lastStamp) return;
    this.lastStamp = s;
    this.reread();
  }

  private reread(): boolean {
    if (this.closed) return false;
    try {
      const text = readUserFile(this.from, { what: 'TargetInfo file', field: 'target-info', maxBytes: MAX_TARGET_INFO_BYTES });
      this.lastError = undefined;
      return this.offer(parseTargetInfoText(text, this.from, this.which));
    } catch (e) {
      // Gone (the target is restarting) or not complete yet: keep the current one.
      this.lastError = e as FabricsError;
      return false;
    }
  }

  async refresh(): Promise<boolean> {
    this.lastStamp = this.stamp();
    return this.reread();
  }

  override close(): void {
    super.close();
    this.watcher?.close();
    if (this.poll) clearInterval(this.poll);
  }
}

async function fetchText(url: string, timeoutMs: number, which: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
  } catch (e) {
    const cause = (e as Error & { cause?: { code?: string } }).cause?.code ?? (e as Error).name;
    throw new FabricsError(cause === 'TimeoutError' ? 'MXL_ERR_TIMEOUT' : 'MXL_ERR_NOT_FOUND', `${which}: cannot fetch TargetInfo from ${url} (${cause}): is the target running with --info-http?`, { field: 'target-info', cause: e });
  }
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new FabricsError('MXL_ERR_NOT_FOUND', `${which}: ${url} answered HTTP ${res.status}: the target serves its TargetInfo at /targetinfo`, { field: 'target-info' });
  }
  const len = Number(res.headers.get('content-length') ?? 0);
  if (len > MAX_TARGET_INFO_BYTES) {
    await res.body?.cancel();
    throw new FabricsError('MXL_ERR_INVALID_ARG', `${which}: ${url} sends ${len} bytes, more than the ${MAX_TARGET_INFO_BYTES} a TargetInfo takes`, { field: 'target-info' });
  }
  // Read with a cap: a server that lies about (or omits) its length is still bounded.
  const reader = res.body!.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > MAX_TARGET_INFO_BYTES) {
      await reader.cancel();
      throw new FabricsError('MXL_ERR_INVALID_ARG', `${which}: ${url} sends more than the ${MAX_TARGET_INFO_BYTES} bytes a TargetInfo takes`, { field: 'target-info' });
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

class HttpSource extends BaseSource {
  readonly kind = 'http' as const;
  constructor(url: string, cur: ParsedTargetInfo, which: string, private readonly timeoutMs: number) {
    super(url, cur, which);
  }

  async refresh(): Promise<boolean> {
    if (this.closed) return false;
    try {
      const text = await fetchText(this.from, this.timeoutMs, this.which);
      this.lastError = undefined;
      return this.offer(parseTargetInfoText(text, this.from, this.which));
    } catch (e) {
      this.lastError = e as FabricsError;
      return false;
    }
  }
}

/**
 * Opens a source for one `-t` value: `@FILE`, `http://...`/`https://...`, or inline text.
 * The first read must succeed (typed error otherwise); later failures keep the last good one.
 */
export async function openTargetInfoSource(spec: string, opts: SourceOptions = {}): Promise<TargetInfoSource> {
  const which = opts.which ?? '-t';
  if (spec.startsWith('@')) {
    const file = spec.slice(1);
    if (!file) throw new FabricsError('MXL_ERR_INVALID_ARG', `${which}: @ must be followed by a file name`, { field: 'target-info' });
    let text: string;
    try {
      text = readUserFile(file, { what: 'TargetInfo file', field: 'target-info', maxBytes: MAX_TARGET_INFO_BYTES });
    } catch (e) {
      const err = e as FabricsError;
      throw new FabricsError(err.code, `${which}: ${err.message}: give the file the target wrote with -t`, { field: 'target-info', cause: e });
    }
    return new FileSource(file, parseTargetInfoText(text, file, which), which, opts.pollMs ?? 500);
  }
  if (/^https?:\/\//i.test(spec)) {
    const text = await fetchText(spec, opts.fetchTimeoutMs ?? 2000, which);
    return new HttpSource(spec, parseTargetInfoText(text, spec, which), which, opts.fetchTimeoutMs ?? 2000);
  }
  try {
    return new InlineSource('inline', parseTargetInfoText(spec, 'inline', which), which);
  } catch (e) {
    // A path given without @: say so instead of "not base64".
    if (spec.length < 4096 && fs.existsSync(spec)) {
      throw new FabricsError('MXL_ERR_INVALID_ARG', `${which} (inline): ${spec} is a file: write -t @${spec}`, { field: 'target-info', cause: e });
    }
    throw e;
  }
}

export type { TargetInfo };
