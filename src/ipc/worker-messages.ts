/**
 * Messages between the coordinator and endpoint workers. Control goes through a
 * MessagePort that the worker reads synchronously (receiveMessageOnPort), because a
 * polling worker never runs its event loop; grain traffic goes through the rings.
 */
import type { MessagePort } from 'node:worker_threads';
import type { FabricsErrorRecord } from '../errors.js';
import type { ProviderName } from '../fabrics/provider.js';
import type { PollMode } from './control-block.js';

export interface CommonEndpointConfig {
  /** Bounded name used in metrics and logs. */
  name: string;
  provider: ProviderName;
  node?: string;
  service?: string;
  pollMode: PollMode;
  /** MXL domain directory of the flow. */
  domain: string;
}

export interface TargetWorkerConfig extends CommonEndpointConfig {
  role: 'target';
  /** Flow definition JSON (created, or joined when it exists). */
  flowDef: string;
  cqDepth?: number;
  autoCommit: boolean;
  maxInitiators?: number;
  idleMs?: number;
}

export interface InitiatorWorkerConfig extends CommonEndpointConfig {
  role: 'initiator';
  /** Source flow id in `domain`. */
  flowId: string;
  /** Forward every grain committed into the source flow (the CLI/demo job). */
  follow: boolean;
  maxInFlight?: number;
  reconnectDelayMs?: number;
  /** Map the source grains read-write (needed by EFA). */
  writableMapping?: boolean;
  /** Two-phase commit against torn grains (default true). */
  protectTorn?: boolean;
  /** Grain follow mode in the addon where it applies (default true). */
  nativeFollow?: boolean;
}

export type WorkerConfig = TargetWorkerConfig | InitiatorWorkerConfig;

export interface WorkerData {
  config: WorkerConfig;
  control: SharedArrayBuffer;
  events: SharedArrayBuffer;
  requests?: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  port: MessagePort;
}

/** main -> worker */
export type ControlMessage =
  | { type: 'addTarget'; id: number; info: string }
  | { type: 'removeTarget'; id: number; targetId: string }
  | { type: 'flush'; id: number }
  | { type: 'status'; id: number };

/** worker -> main */
export type WorkerMessage =
  | { type: 'ready'; info?: string; kind: 'grains' | 'samples'; grainCount: number; grainRate: { numerator: number; denominator: number }; flowId: string }
  | { type: 'reply'; id: number; ok: true; value?: unknown }
  | { type: 'reply'; id: number; ok: false; error: FabricsErrorRecord }
  | { type: 'peer'; event: 'connected' | 'disconnected' | 'idle' | 'active' | 'error'; peer: number; targetId?: string; reason?: string; error?: FabricsErrorRecord }
  | { type: 'dropped'; reason: string; immediate: number }
  | { type: 'fatal'; error: FabricsErrorRecord };
