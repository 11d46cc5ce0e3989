/** Shared helpers for the domain tests: temp domains under /dev/shm and flow definitions. */
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const made: string[] = [];

/** A fresh domain directory /dev/shm/mxlf-test-*; removed by {@link removeDomains}. */
export function makeDomain(): string {
  const d = fs.mkdtempSync('/dev/shm/mxlf-test-');
  made.push(d);
  return d;
}

export function removeDomains(): void {
  for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/** Entries of a domain other than options.json (to check nothing was left behind). */
export function domainEntries(d: string): string[] {
  return fs.readdirSync(d).filter((n) => n !== 'options.json').sort();
}

const TAGS = { 'urn:x-nmos:tag:grouphint/v1.0': ['test:video'] };

export function videoDef(id: string, o: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id, label: 'test video', description: 'domain test', format: 'urn:x-nmos:format:video', tags: TAGS,
    grain_rate: { numerator: 50, denominator: 1 }, frame_width: 1920, frame_height: 1080, media_type: 'video/v210',
    interlace_mode: 'progressive', colorspace: 'BT709', ...o,
  };
}

export function dataDef(id: string, o: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, label: 'test anc', format: 'urn:x-nmos:format:data', tags: TAGS, grain_rate: { numerator: 30000, denominator: 1001 }, media_type: 'video/smpte291', ...o };
}

export function audioDef(id: string, o: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id, label: 'test audio', format: 'urn:x-nmos:format:audio', tags: TAGS, sample_rate: { numerator: 48000 },
    channel_count: 2, bit_depth: 32, media_type: 'audio/float32', ...o,
  };
}

export const json = (o: unknown): string => JSON.stringify(o);

/** Path of a compiled fixture next to this file (build/test/domain/fixtures/...). */
export const fixture = (name: string): string => path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', name);

export interface Child {
  proc: ChildProcess;
  /** Resolves with the next JSON line the child prints. */
  next(): Promise<any>;
  /** Resolves with the exit code. */
  exit: Promise<number | null>;
}

/** Runs a fixture in a child node process; it reports JSON lines on stdout. */
export function runChild(name: string, args: string[]): Child {
  const proc = spawn(process.execPath, [fixture(name), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: any[] = [];
  const waiters: ((v: any) => void)[] = [];
  let buf = '';
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const v = JSON.parse(line);
      const w = waiters.shift();
      if (w) w(v);
      else lines.push(v);
    }
  });
  const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return {
    proc,
    exit,
    next: () =>
      lines.length > 0
        ? Promise.resolve(lines.shift())
        : new Promise((resolve, reject) => {
            waiters.push(resolve);
            void exit.then((c) => reject(new Error(`child ${name} exited (${c}) before reporting`)));
          }),
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Deterministic content of line `line` of grain `index` (first byte of each line checked). */
export const lineByte = (index: bigint, line: number): number => Number((index * 7n + BigInt(line)) & 0xffn);

/** Fills the lines [from, to) of a single-plane payload with the test pattern. */
export function fillLines(payload: Uint8Array, lineLength: number, index: bigint, from: number, to: number): void {
  for (let l = from; l < to; l++) payload.fill(lineByte(index, l), l * lineLength, (l + 1) * lineLength);
}

/** Number of lines in [0, count) whose first and last byte do not match the pattern. */
export function badLines(payload: Uint8Array, lineLength: number, index: bigint, count: number): number {
  let bad = 0;
  for (let l = 0; l < count; l++) {
    const b = lineByte(index, l);
    if (payload[l * lineLength] !== b || payload[(l + 1) * lineLength - 1] !== b) bad++;
  }
  return bad;
}

/** Threads of this process parked in a shared FUTEX_WAIT (what readers do; V8 and libuv use private waits). */
export function sharedFutexWaiters(): number {
  let n = 0;
  for (const tid of fs.readdirSync('/proc/self/task')) {
    let line: string;
    try {
      line = fs.readFileSync(`/proc/self/task/${tid}/syscall`, 'utf8');
    } catch {
      continue; // the thread exited
    }
    const [nr, , op] = line.trim().split(' ');
    if (nr === '202' && op === '0x0') n++; // SYS_futex, FUTEX_WAIT (not _PRIVATE)
  }
  return n;
}

/**
 * Resolves once a reader of this process sleeps in the kernel on a flow's sync counter:
 * the condition a "wakes the waiting reader" test depends on. Rejects after `ms` if no
 * thread ever parks (the reader never waited). Run such tests serially.
 */
export async function untilReaderParked(ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (sharedFutexWaiters() === 0) {
    if (Date.now() > end) throw new Error(`no reader parked in FUTEX_WAIT within ${ms} ms: the reader never waited`);
    await new Promise((r) => setImmediate(r));
  }
}
