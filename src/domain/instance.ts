/**
 * An MXL instance over one domain directory: creates writers, opens readers, and releases
 * whatever it still holds on close (like mxlDestroyInstance).
 */
import fs from 'node:fs';
import path from 'node:path';
import { FabricsError } from '../errors.js';
import { parseFlowDef, parseWriterOptions, type FlowWriterOptions } from './flow-def.js';
import { deriveGeometry } from './geometry.js';
import { createOrJoinFlow } from './flow-create.js';
import { openFlowFiles } from './flow-files.js';
import { DiscreteFlowWriter } from './discrete-writer.js';
import { ContinuousFlowWriter } from './continuous-writer.js';
import { DiscreteFlowReader } from './discrete-reader.js';
import { ContinuousFlowReader } from './continuous-reader.js';
import type { FlowReaderOptions } from './flow-reader-base.js';
import { garbageCollectFlows, isFlowActive, listFlowIds, listFlows, readFlowDef, type FlowRow, type GcOptions } from './discovery.js';
import { DEFAULT_HISTORY_NS, HISTORY_OPTION_KEY } from './layout.js';
import { badArg, sysFail } from './fail.js';
import { readUserFile } from '../util/bounded-read.js';

export type FlowWriter = DiscreteFlowWriter | ContinuousFlowWriter;
export type FlowReader = DiscreteFlowReader | ContinuousFlowReader;

export interface InstanceOptions {
  /** Overrides options.json's history (ns). */
  historyNs?: bigint;
}

/** History from `<domain>/options.json` (docs/domain-format.md §5.4); parse errors fall back to the default, as upstream. */
export function readDomainHistory(domain: string): bigint {
  let text: string;
  try {
    text = readUserFile(path.join(domain, 'options.json'), { what: 'domain options' });
  } catch {
    return DEFAULT_HISTORY_NS;
  }
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    const v = o?.[HISTORY_OPTION_KEY];
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) return BigInt(Math.trunc(v));
  } catch {
    /* ignored like upstream */
  }
  return DEFAULT_HISTORY_NS;
}

export class MxlInstance {
  readonly domain: string;
  readonly historyNs: bigint;
  private readonly writers = new Set<FlowWriter>();
  private readonly readers = new Set<FlowReader>();
  private closed = false;

  constructor(domain: string, opts: InstanceOptions = {}) {
    // path.resolve('') is the current directory: an empty domain must not mean "here".
    if (typeof domain !== 'string' || domain.trim().length === 0) {
      throw new FabricsError('MXL_ERR_INVALID_ARG', `domain must be a directory path, not ${JSON.stringify(domain)}`, { field: 'domain' });
    }
    this.domain = path.resolve(domain);
    let st: fs.Stats;
    try {
      st = fs.statSync(this.domain);
    } catch (e) {
      throw sysFail(e, 'stat', `domain ${this.domain}`);
    }
    if (!st.isDirectory()) throw new FabricsError('MXL_ERR_INVALID_ARG', `domain ${this.domain} is not a directory`, { field: 'domain' });
    this.historyNs = opts.historyNs ?? readDomainHistory(this.domain);
  }

  private ensureOpen(): void {
    if (this.closed) throw new FabricsError('MXL_ERR_INVALID_STATE', 'instance is closed');
  }

  /**
   * Creates the flow described by `flowDefJson` (stored verbatim), or joins it when it exists.
   * Discrete flows give a {@link DiscreteFlowWriter}, audio a {@link ContinuousFlowWriter}.
   */
  createFlowWriter(flowDefJson: string, options?: FlowWriterOptions | string): FlowWriter {
    this.ensureOpen();
    if (typeof flowDefJson !== 'string') throw badArg('flow definition must be a JSON string', '$');
    const def = parseFlowDef(flowDefJson);
    const { prefault, ...opts } = parseWriterOptions(options);
    const geometry = deriveGeometry(def, { historyNs: this.historyNs, ...opts });
    try {
      fs.accessSync(this.domain, fs.constants.W_OK | fs.constants.X_OK);
    } catch (e) {
      throw sysFail(e, 'access', `domain ${this.domain}`, 'MXL_ERR_PERMISSION_DENIED');
    }
    const { files, created } = createOrJoinFlow(this.domain, def, geometry, prefault === true);
    const w: FlowWriter = files.geometry.kind === 'discrete' ? new DiscreteFlowWriter(files, created) : new ContinuousFlowWriter(files, created);
    this.writers.add(w);
    w.onClose = () => this.writers.delete(w);
    return w;
  }

  /** Opens a reader; geometry comes from the flow's binary headers. */
  openFlowReader(flowId: string, opts: FlowReaderOptions = {}): FlowReader {
    this.ensureOpen();
    const files = openFlowFiles(this.domain, flowId, { writable: false, payloadWritable: opts.writableMapping === true, lockShared: false, prefaultPayload: opts.prefault === true });
    let r: FlowReader;
    if (files.geometry.kind === 'discrete') r = new DiscreteFlowReader(files);
    else {
      // Upstream's continuous reader insists on a readable flow_def.json (docs/domain-format.md §1.3).
      try {
        fs.accessSync(path.join(files.dir, 'flow_def.json'), fs.constants.R_OK);
      } catch (e) {
        for (const f of [files.data, files.channels]) f?.close();
        throw sysFail(e, 'access', 'flow_def.json', 'MXL_ERR_FLOW_INVALID');
      }
      r = new ContinuousFlowReader(files);
    }
    this.readers.add(r);
    r.onClose = () => this.readers.delete(r);
    return r;
  }

  openDiscreteFlowReader(flowId: string, opts?: FlowReaderOptions): DiscreteFlowReader {
    const r = this.openFlowReader(flowId, opts);
    if (r.kind !== 'discrete') {
      r.close();
      throw badArg(`flow ${flowId} is continuous`, 'flowId');
    }
    return r;
  }

  openContinuousFlowReader(flowId: string, opts?: FlowReaderOptions): ContinuousFlowReader {
    const r = this.openFlowReader(flowId, opts);
    if (r.kind !== 'continuous') {
      r.close();
      throw badArg(`flow ${flowId} is discrete`, 'flowId');
    }
    return r;
  }

  listFlowIds(): string[] { return listFlowIds(this.domain); }
  listFlows(): FlowRow[] { return listFlows(this.domain); }
  getFlowDef(flowId: string): string { return readFlowDef(this.domain, flowId); }
  isFlowActive(flowId: string): boolean { return isFlowActive(this.domain, flowId); }
  garbageCollectFlows(opts?: GcOptions): string[] { return garbageCollectFlows(this.domain, opts); }

  /** Closes every reader, then releases every writer (deleting flows nobody else writes). */
  close(): void {
    if (this.closed) return;
    for (const r of [...this.readers]) r.close();
    for (const w of [...this.writers]) w.close();
    this.closed = true;
  }
}
