// What a process test leaves behind, and one place to remove it: child processes still
// running, temporary directories under /dev/shm, and the shm endpoint regions that
// libfabric could not unlink because their owner was SIGKILLed.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const children = new Set<ChildProcess>();
const pids = new Set<number>();
const dirs = new Set<string>();

/** Tracks a child until it exits (call `untrack` from its exit handler). */
export function trackChild(proc: ChildProcess): void {
  children.add(proc);
  if (proc.pid) pids.add(proc.pid);
}

export function untrackChild(proc: ChildProcess): void {
  children.delete(proc);
}

/** A fresh directory under /dev/shm, removed by cleanupAll. */
export function tempShmDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join('/dev/shm', prefix));
  dirs.add(d);
  return d;
}

/** SIGKILLs every child still running, removes temporary dirs and leaked shm endpoint files. */
export function cleanupAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) { try { c.kill('SIGKILL'); } catch { /* gone */ } }
  children.clear();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  dirs.clear();
  for (const name of fs.readdirSync('/dev/shm')) {
    const m = /^mxlf-(\d+)-/.exec(name);
    if (m && pids.has(Number(m[1]))) fs.rmSync(path.join('/dev/shm', name), { force: true });
  }
  pids.clear();
}
