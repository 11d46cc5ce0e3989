/**
 * Finding flows in a domain (docs/domain-format.md §1.3), the liveness test and garbage collection (docs/domain-format.md §1.4), and
 * the listing behind `mxl-fabrics flows`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { addon } from '../native/index.js';
import { FabricsError } from '../errors.js';
import { canonicalUuid } from './flow-def.js';
import { checkFlowId, closeFlowFiles, flowDir, openFlowFiles } from './flow-files.js';
import { FLOW_DIR_SUFFIX, STAGING_PREFIX } from './layout.js';
import { sysFail } from './fail.js';
import { currentIndex, type Rational } from './time.js';

/** Ids of every `<uuid>.mxl-flow` directory (staging dirs and anything else are ignored). */
export function listFlowIds(domain: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(domain, { withFileTypes: true });
  } catch (e) {
    throw sysFail(e, 'readdir', domain);
  }
  const ids: string[] = [];
  for (const e of entries) {
    if (!e.isDirectory() || !e.name.endsWith(FLOW_DIR_SUFFIX)) continue;
    const id = canonicalUuid(e.name.slice(0, -FLOW_DIR_SUFFIX.length));
    if (id) ids.push(id);
  }
  return ids.sort();
}

/** The flow definition text exactly as stored. */
export function readFlowDef(domain: string, flowId: string): string {
  const p = path.join(flowDir(domain, checkFlowId(flowId)), 'flow_def.json');
  try {
    return fs.readFileSync(p, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'MXL_ERR_FLOW_NOT_FOUND' : undefined;
    throw sysFail(e, 'read', p, code);
  }
}

/** Tries LOCK_EX|LOCK_NB on `data` through a new fd; returns [active, fd-or-undefined when we hold the lock]. */
function lockTest(dataPath: string, keep: boolean): { active: boolean; fd?: number } {
  let fd: number;
  try {
    fd = fs.openSync(dataPath, fs.constants.O_RDONLY);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new FabricsError('MXL_ERR_FLOW_NOT_FOUND', `no flow at ${path.dirname(dataPath)}`, { op: 'open' });
    throw sysFail(e, 'open', dataPath);
  }
  const n = addon();
  const r = n.flock(fd, n.LOCK.EX | n.LOCK.NB);
  if (r !== 0 || !keep) {
    fs.closeSync(fd);
    return { active: r !== 0 };
  }
  return { active: false, fd };
}

/** mxlIsFlowActive: some process holds a lock on `data` (a writer's LOCK_SH). */
export function isFlowActive(domain: string, flowId: string): boolean {
  return lockTest(path.join(flowDir(domain, checkFlowId(flowId)), 'data'), false).active;
}

export interface GcOptions {
  /** Also remove `.mxl-tmp-*` staging dirs older than this (ms) whose `data` is unlocked. Default 60000; -1 = never. */
  stagingMaxAgeMs?: number;
}

/**
 * mxlGarbageCollectFlows: deletes every flow no writer holds (the exclusive lock is kept
 * while deleting). Also tidies staging dirs leaked by crashed or upstream writers (docs/domain-format.md §8.7).
 * Returns the ids (and staging names) removed.
 */
export function garbageCollectFlows(domain: string, opts: GcOptions = {}): string[] {
  const removed: string[] = [];
  for (const id of listFlowIds(domain)) {
    const dir = flowDir(domain, id);
    let t: { active: boolean; fd?: number };
    try {
      t = lockTest(path.join(dir, 'data'), true);
    } catch {
      continue; // no data file: a half-deleted dir or not a flow; leave it
    }
    if (t.active) continue;
    try {
      fs.rmSync(dir, { recursive: true, force: true });
      removed.push(id);
    } finally {
      fs.closeSync(t.fd!);
    }
  }
  const maxAge = opts.stagingMaxAgeMs ?? 60_000;
  if (maxAge >= 0) {
    for (const e of fs.readdirSync(domain, { withFileTypes: true })) {
      if (!e.isDirectory() || !e.name.startsWith(STAGING_PREFIX)) continue;
      const p = path.join(domain, e.name);
      try {
        if (Date.now() - fs.statSync(p).mtimeMs < maxAge) continue;
        const data = path.join(p, 'data');
        if (fs.existsSync(data) && lockTest(data, false).active) continue;
        fs.rmSync(p, { recursive: true, force: true });
        removed.push(e.name);
      } catch {
        /* raced with its owner */
      }
    }
  }
  return removed;
}

export interface FlowRow {
  id: string;
  label?: string;
  /** `video`, `audio` or `data` (from the header). */
  format?: string;
  mediaType?: string;
  rate?: Rational;
  /** Discrete flows. */
  grainCount?: number;
  /** Continuous flows (samples per channel ring). */
  bufferLength?: number;
  channelCount?: number;
  headIndex?: bigint;
  /** currentIndex(rate) − headIndex, in grains (samples for audio); undefined before the first commit. */
  lag?: bigint;
  active: boolean;
  /** Why the flow could not be read, when it could not. */
  error?: string;
}

/** One row per flow for tools (`mxl-fabrics flows`): never throws for a single broken flow. */
export function listFlows(domain: string): FlowRow[] {
  const rows: FlowRow[] = [];
  for (const id of listFlowIds(domain)) {
    const row: FlowRow = { id, active: false };
    try {
      row.active = isFlowActive(domain, id);
    } catch (e) {
      row.error = (e as Error).message;
    }
    try {
      const def = JSON.parse(readFlowDef(domain, id)) as Record<string, unknown>;
      if (typeof def.label === 'string') row.label = def.label;
      if (typeof def.media_type === 'string') row.mediaType = def.media_type;
    } catch (e) {
      row.error ??= `flow_def.json: ${(e as Error).message}`;
    }
    try {
      const f = openFlowFiles(domain, id, { writable: false, payloadWritable: false, lockShared: false });
      try {
        const g = f.geometry;
        row.format = g.format;
        row.rate = g.grainRate;
        if (g.kind === 'discrete') row.grainCount = g.grainCount;
        else {
          row.bufferLength = g.bufferLength;
          row.channelCount = g.channelCount;
        }
        const head = f.header.headIndex;
        row.headIndex = head;
        if (head !== 0n) row.lag = currentIndex(g.grainRate) - head;
      } finally {
        closeFlowFiles(f);
      }
    } catch (e) {
      row.error ??= (e as Error).message;
    }
    rows.push(row);
  }
  return rows;
}

const rateText = (r?: Rational) => (r ? (r.denominator === 1 ? `${r.numerator}` : `${r.numerator}/${r.denominator}`) : '-');

/** Text table of {@link listFlows} rows, one flow per line, in the spirit of upstream mxl-info. */
export function formatFlowsTable(rows: FlowRow[]): string {
  const header = ['ID', 'FORMAT', 'MEDIA TYPE', 'RATE', 'SLOTS/RING', 'HEAD INDEX', 'LAG', 'ACTIVE', 'LABEL'];
  const body = rows.map((r) => [
    r.id,
    r.format ?? '-',
    r.mediaType ?? '-',
    rateText(r.rate),
    r.grainCount !== undefined ? `${r.grainCount}` : r.bufferLength !== undefined ? `${r.bufferLength}x${r.channelCount}ch` : '-',
    r.headIndex !== undefined ? `${r.headIndex}` : '-',
    r.lag !== undefined ? `${r.lag}` : '-',
    r.active ? 'yes' : 'no',
    (r.label ?? '') + (r.error ? ` [error: ${r.error}]` : ''),
  ]);
  if (body.length === 0) return 'no flows\n';
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), ...body.map(line)].join('\n') + '\n';
}

/** JSON of {@link listFlows} rows (bigints as decimal strings). */
export function formatFlowsJson(rows: FlowRow[]): string {
  return JSON.stringify(rows, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2);
}
