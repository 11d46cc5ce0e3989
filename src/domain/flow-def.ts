/**
 * NMOS flow definition parsing and validation (docs/domain-format.md §5.1). Every rejection is a FabricsError
 * MXL_ERR_INVALID_ARG whose `field` names the offending JSON field.
 */
import { badArg } from './fail.js';
import { reduceRational, type Rational } from './time.js';
import type { FlowFormat } from './layout.js';

export type InterlaceMode = 'progressive' | 'interlaced_tff' | 'interlaced_bff';
export type VideoMediaType = 'video/v210' | 'video/v210a';

interface FlowDefCommon {
  /** Lowercase canonical UUID (the directory name stem). */
  id: string;
  label: string;
  description?: string;
  groupHints: string[];
  mediaType: string;
  /** The JSON text exactly as given; stored verbatim in flow_def.json. */
  json: string;
}

export interface VideoFlowDef extends FlowDefCommon {
  format: 'video';
  mediaType: VideoMediaType;
  /** grain_rate as given in the JSON (frame rate), gcd-reduced. */
  grainRate: Rational;
  /** Rate stored in shared memory: the field rate for interlaced video (docs/domain-format.md §4.3). */
  storedRate: Rational;
  width: number;
  height: number;
  interlaceMode: InterlaceMode;
}

export interface DataFlowDef extends FlowDefCommon {
  format: 'data';
  mediaType: 'video/smpte291';
  grainRate: Rational;
  storedRate: Rational;
}

export interface AudioFlowDef extends FlowDefCommon {
  format: 'audio';
  mediaType: 'audio/float32' | 'audio/float64';
  sampleRate: Rational;
  storedRate: Rational;
  bitDepth: 32 | 64;
  channelCount: number;
}

export type FlowDef = VideoFlowDef | DataFlowDef | AudioFlowDef;

const UUID_RE = /^\{?([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})\}?$/i;
const GROUP_HINT = 'urn:x-nmos:tag:grouphint/v1.0';
// A Map, not an object literal: "constructor" or "__proto__" must not look like a format.
const FORMAT_URNS: ReadonlyMap<string, FlowFormat> = new Map([
  ['urn:x-nmos:format:video', 'video'],
  ['urn:x-nmos:format:audio', 'audio'],
  ['urn:x-nmos:format:data', 'data'],
]);

/** Canonical lowercase form of a UUID string, or undefined when it is not one. */
export function canonicalUuid(s: string): string | undefined {
  const m = UUID_RE.exec(s);
  return m ? m.slice(1, 6).join('-').toLowerCase() : undefined;
}

/** The 16 bytes of a UUID in textual (RFC 4122) order, as stored at data[8..24). */
export function uuidBytes(id: string): Uint8Array {
  const c = canonicalUuid(id);
  if (!c) throw badArg(`not a UUID: ${id}`, 'id');
  return Uint8Array.from(Buffer.from(c.replace(/-/g, ''), 'hex'));
}

export function uuidFromBytes(b: Uint8Array): string {
  const h = Buffer.from(b.buffer, b.byteOffset, 16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** JSON numbers are doubles truncated toward zero, as upstream reads them. */
/** An own property only: inherited names (constructor, toString...) are absent, not values. */
const own = (o: Json, key: string): unknown => (Object.hasOwn(o, key) ? o[key] : undefined);

function integer(o: Json, key: string, field: string, opts: { min?: number; max?: number; default?: number } = {}): number {
  const v = own(o, key);
  if (v === undefined && opts.default !== undefined) return opts.default;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw badArg(`${field} must be a number`, field);
  const n = Math.trunc(v);
  if (opts.min !== undefined && n < opts.min) throw badArg(`${field} must be >= ${opts.min} (got ${v})`, field);
  if (opts.max !== undefined && n > opts.max) throw badArg(`${field} must be <= ${opts.max} (got ${v})`, field);
  return n;
}

function rational(o: Json, key: string): Rational {
  const v = own(o, key);
  if (!isObject(v)) throw badArg(`${key} must be an object {numerator, denominator}`, key);
  const numerator = integer(v, 'numerator', `${key}.numerator`, { min: 1, max: 2 ** 31 - 1 });
  const denominator = integer(v, 'denominator', `${key}.denominator`, { min: 1, max: 2 ** 31 - 1, default: 1 });
  return reduceRational({ numerator, denominator });
}

function nonEmptyString(o: Json, key: string): string {
  const v = own(o, key);
  if (typeof v !== 'string' || v.length === 0) throw badArg(`${key} must be a non-empty string`, key);
  return v;
}

function groupHints(o: Json): string[] {
  const field = `tags.${GROUP_HINT}`;
  const tags = o.tags;
  const hints = isObject(tags) ? own(tags, GROUP_HINT) : undefined;
  if (!Array.isArray(hints) || hints.length === 0) throw badArg(`${field} must be a non-empty array`, field);
  for (const h of hints) {
    const parts = typeof h === 'string' ? h.split(':') : [];
    const ok =
      (parts.length === 2 || (parts.length === 3 && (parts[2] === 'device' || parts[2] === 'node'))) &&
      parts[0].length > 0 &&
      parts[1].length > 0;
    if (!ok) throw badArg(`${field} entries must be "<group>:<role>[:device|node]" (got ${JSON.stringify(h)})`, field);
  }
  return hints as string[];
}

/** Parses and validates a flow definition; throws MXL_ERR_INVALID_ARG naming the field. */
export function parseFlowDef(json: string): FlowDef {
  let root: unknown;
  try {
    root = JSON.parse(json);
  } catch (e) {
    throw badArg(`flow definition is not valid JSON: ${(e as Error).message}`, '$');
  }
  if (!isObject(root)) throw badArg('flow definition must be a JSON object', '$');
  if (typeof root.id !== 'string') throw badArg('id must be a UUID string', 'id');
  const id = canonicalUuid(root.id);
  if (!id) throw badArg(`id is not a UUID: ${root.id}`, 'id');
  const fmt = typeof root.format === 'string' ? FORMAT_URNS.get(root.format) : undefined;
  if (!fmt) throw badArg(`format must be one of ${[...FORMAT_URNS.keys()].join(', ')} (got ${JSON.stringify(root.format)})`, 'format');
  const label = nonEmptyString(root, 'label');
  const hints = groupHints(root);
  const description = typeof root.description === 'string' ? root.description : undefined;
  const common = { id, label, description, groupHints: hints, json };

  if (fmt === 'video') {
    const grainRate = rational(root, 'grain_rate');
    const width = integer(root, 'frame_width', 'frame_width', { min: 2, max: 7680 });
    const height = integer(root, 'frame_height', 'frame_height', { min: 1, max: 4320 });
    const mt = root.media_type;
    if (mt !== 'video/v210' && mt !== 'video/v210a') throw badArg(`media_type must be video/v210 or video/v210a (got ${JSON.stringify(mt)})`, 'media_type');
    const im = root.interlace_mode ?? 'progressive';
    if (im !== 'progressive' && im !== 'interlaced_tff' && im !== 'interlaced_bff') {
      throw badArg(`interlace_mode must be progressive, interlaced_tff or interlaced_bff (got ${JSON.stringify(im)})`, 'interlace_mode');
    }
    let storedRate = grainRate;
    if (im !== 'progressive') {
      const { numerator: n, denominator: d } = grainRate;
      if (n * 1 !== 25 * d && n * 1001 !== 30000 * d) throw badArg('interlaced video needs grain_rate 25/1 or 30000/1001', 'grain_rate');
      if (height % 2 !== 0) throw badArg('interlaced video needs an even frame_height', 'frame_height');
      storedRate = reduceRational({ numerator: n * 2, denominator: d });
    }
    return { ...common, format: 'video', mediaType: mt, grainRate, storedRate, width, height, interlaceMode: im };
  }
  if (fmt === 'data') {
    const grainRate = rational(root, 'grain_rate');
    if (root.media_type !== 'video/smpte291') throw badArg(`media_type must be video/smpte291 (got ${JSON.stringify(root.media_type)})`, 'media_type');
    return { ...common, format: 'data', mediaType: 'video/smpte291', grainRate, storedRate: grainRate };
  }
  const sampleRate = rational(root, 'sample_rate');
  const bitDepth = integer(root, 'bit_depth', 'bit_depth');
  if (bitDepth !== 32 && bitDepth !== 64) throw badArg(`bit_depth must be 32 or 64 (got ${bitDepth})`, 'bit_depth');
  const channelCount = integer(root, 'channel_count', 'channel_count', { min: 1, max: 65535, default: 1 });
  // Upstream does not check media_type; we are strict on creation (docs/domain-format.md §8.12).
  const want = bitDepth === 32 ? 'audio/float32' : 'audio/float64';
  if (root.media_type !== want) throw badArg(`media_type must be ${want} for bit_depth ${bitDepth} (got ${JSON.stringify(root.media_type)})`, 'media_type');
  return { ...common, format: 'audio', mediaType: want, sampleRate, storedRate: sampleRate, bitDepth, channelCount };
}

/** Writer options (docs/domain-format.md §5.3): batch-size hints, in slices (discrete) or samples (continuous). */
export interface FlowWriterOptions {
  maxCommitBatchSizeHint?: number;
  maxSyncBatchSizeHint?: number;
  /**
   * This library's own (not upstream's): fill the page tables of the payload files when the
   * flow is opened (docs/domain.md, "Prefaulted payloads"). Targets set it for the flow
   * they land grains in.
   */
  prefault?: boolean;
}

/** Validates writer options given as an object or as upstream's JSON string. */
export function parseWriterOptions(options: FlowWriterOptions | string | undefined): FlowWriterOptions {
  if (options === undefined || options === '') return {};
  let o: unknown = options;
  if (typeof options === 'string') {
    try {
      o = JSON.parse(options);
    } catch (e) {
      throw badArg(`writer options are not valid JSON: ${(e as Error).message}`, 'options');
    }
  }
  if (o === null) return {};
  if (!isObject(o)) throw badArg('writer options must be an object', 'options');
  const out: FlowWriterOptions = {};
  if (o.maxCommitBatchSizeHint !== undefined) out.maxCommitBatchSizeHint = integer(o, 'maxCommitBatchSizeHint', 'maxCommitBatchSizeHint', { min: 1, max: 0xffffffff });
  if (o.maxSyncBatchSizeHint !== undefined) {
    const s = integer(o, 'maxSyncBatchSizeHint', 'maxSyncBatchSizeHint', { min: 1, max: 0xffffffff });
    if (s % (out.maxCommitBatchSizeHint ?? 1) !== 0) throw badArg('maxSyncBatchSizeHint must be a multiple of maxCommitBatchSizeHint', 'maxSyncBatchSizeHint');
    out.maxSyncBatchSizeHint = s;
  }
  if (o.prefault !== undefined) {
    if (typeof o.prefault !== 'boolean') throw badArg('prefault must be a boolean', 'prefault');
    out.prefault = o.prefault;
  }
  return out;
}
