/**
 * Main-thread session logic for the targets of one initiator: each `-t` source becomes one
 * TargetSession that adds its TargetInfo to the InitiatorHandle and, when the TargetInfo
 * changes (the file was rewritten, or a refetch after a failure returned another id,
 * address or keys), swaps the old target for the new one and reports the event, the
 * downtime (from the failure, or from noticing the change when no failure was seen, to
 * the new target's first completion) and the grains lost (index gap between the old
 * target's last completion and the new one's first).
 */
import { EventEmitter } from 'node:events';
import type { TargetInfo } from '../fabrics/target-info.js';
import type { CompletedGrain, InitiatorHandle, PeerEvent } from '../runtime/initiator-handle.js';
import type { TargetInfoSource } from './target-info-source.js';
import { describeChange, type ParsedTargetInfo } from './target-info-text.js';

/** A target replaced by a new one and the new one moving grains. */
export interface ResumedEvent {
  session: number;
  oldId: bigint;
  newId: bigint;
  /** What changed and how it was noticed. */
  reason: string;
  /** Failure event (or change notice) to the new target's first completion, ms. */
  downtimeMs: number;
  /** Old target's last completion to the new target's first, ms (undefined if none before). */
  gapMs?: number;
  /** Grains (audio: samples) the source committed that neither target got. */
  lost?: number;
  firstIndex: bigint;
}

export interface ReplacedEvent { session: number; oldId: bigint; newId: bigint; reason: string; peer: number }

/** Back-off of refetches after a failure (HTTP sources, and file sources as a fallback to the watch). */
const REFETCH_MIN_MS = 200;
const REFETCH_MAX_MS = 5000;

/**
 * Swaps a target: removes the old one, adds the new one; resolves with the new peer number.
 * Kept in one place so that an engine-side replaceTarget(id, info) can take over.
 */
export async function replaceTarget(ini: InitiatorHandle, oldId: bigint, next: ParsedTargetInfo): Promise<number> {
  await ini.removeTarget(oldId).catch(() => { /* already gone */ });
  const { peer } = await ini.addTarget(next.text);
  return peer;
}

/** `at`: process.hrtime in ms, the clock the worker stamps completions with (CompletedGrain.timeNs). */
interface Failure { at: number; reason: string }

const hrMs = (): number => Number(process.hrtime.bigint()) / 1e6;

export class TargetSession {
  info: TargetInfo;
  peer?: number;
  /** Completions at this session's targets, all of them. */
  completed = 0;
  private lastIndex?: bigint;
  private lastCompletionAt?: number;
  private failure?: Failure;
  /** Set between a swap and the new target's first completion. */
  private awaiting?: { oldId: bigint; reason: string; failure: Failure; lastIndex?: bigint; lastAt?: number };
  private chain: Promise<void> = Promise.resolve();
  private refetching = false;
  private closed = false;
  private readonly offChange: () => void;

  constructor(private readonly owner: TargetSessions, readonly n: number, readonly source: TargetInfoSource) {
    this.info = source.current().info;
    this.offChange = source.onChange((next, prev) => this.changed(next, prev, `TargetInfo changed${source.kind === 'inline' ? '' : ` at ${source.from}`}`));
  }

  get name(): string { return `target #${this.n}`; }

  async start(): Promise<number> {
    const { peer } = await this.owner.ini.addTarget(this.source.current().text);
    this.owner.bindPeer(peer, this);
    this.peer = peer;
    return peer;
  }

  /** A disconnect or error of this session's current target. */
  failed(reason: string): void {
    if (this.closed) return;
    this.failure ??= { at: hrMs(), reason };
    if (this.source.kind !== 'inline') void this.refetch();
  }

  completion(c: CompletedGrain): void {
    this.completed++;
    if (c.peer !== this.peer) return;
    const now = Number(c.timeNs) / 1e6; // the worker's clock
    // A swap's first completion at the new target is its resumption whenever it was timed:
    // a failure of the new target noticed since (its event comes at once, the completion in
    // a later batch) must not hide it, or the resumption is folded into the next outage.
    const a = this.awaiting;
    if (a) {
      this.awaiting = undefined;
      const audio = c.count > 0;
      const lost = a.lastIndex === undefined ? undefined : Number(audio ? c.index - BigInt(c.count) - a.lastIndex : c.index - a.lastIndex - 1n);
      this.owner.emit('resumed', {
        session: this.n, oldId: a.oldId, newId: this.info.id, reason: a.reason, firstIndex: c.index,
        downtimeMs: now - a.failure.at, gapMs: a.lastAt === undefined ? undefined : now - a.lastAt, lost: lost === undefined ? undefined : Math.max(0, lost),
      } satisfies ResumedEvent);
    }
    this.lastIndex = c.index;
    this.lastCompletionAt = now;
    // Completions may be read in batches, after the peer events that followed them
    // (docs/runtime.md §1): one that completed before the failure was seen is no sign that
    // the target moves again. A later one is (a tcp reconnect to the same target, or the new one).
    if (this.failure && now >= this.failure.at) this.failure = undefined;
  }

  /** Refetches with back-off until the TargetInfo changes or the target moves grains again. */
  private async refetch(): Promise<void> {
    if (this.refetching) return;
    this.refetching = true;
    try {
      let delay = REFETCH_MIN_MS;
      while (!this.closed && this.failure && !this.awaiting) {
        if (await this.source.refresh()) return; // changed(): the swap is under way
        await new Promise((r) => setTimeout(r, delay).unref());
        delay = Math.min(REFETCH_MAX_MS, delay * 2);
      }
    } finally {
      this.refetching = false;
    }
  }

  private changed(next: ParsedTargetInfo, prev: ParsedTargetInfo, how: string): void {
    const failure = this.failure ?? { at: hrMs(), reason: 'none seen' };
    const reason = `${how} (${describeChange(prev.info, next.info)})${this.failure ? ` after ${this.failure.reason}` : ''}`;
    this.chain = this.chain.then(async () => {
      if (this.closed) return;
      const oldId = this.info.id;
      // A swap still awaiting its first completion keeps its original failure time.
      const from = this.awaiting?.failure ?? failure;
      const lastIndex = this.awaiting?.lastIndex ?? this.lastIndex;
      const lastAt = this.awaiting?.lastAt ?? this.lastCompletionAt;
      this.owner.unbind(this);
      this.info = next.info;
      this.owner.bindTargetId(next.info.id, this);
      try {
        const peer = await replaceTarget(this.owner.ini, oldId, next);
        this.peer = peer;
        this.failure = undefined;
        this.awaiting = { oldId, reason, failure: from, lastIndex, lastAt };
        this.owner.bindPeer(peer, this);
        this.owner.emit('replaced', { session: this.n, oldId, newId: next.info.id, reason, peer } satisfies ReplacedEvent);
      } catch (e) {
        this.owner.emit('sessionError', { session: this.n, error: e as Error });
      }
    });
  }

  close(): void {
    this.closed = true;
    this.offChange();
    this.source.close();
  }
}

/** Every session of one initiator; routes the handle's peer events and completions to them. */
export class TargetSessions extends EventEmitter {
  readonly sessions: TargetSession[] = [];
  private readonly byPeer = new Map<number, TargetSession>();
  private readonly byId = new Map<string, TargetSession>();
  /** Completions of a peer whose addTarget answer has not come yet (shm moves at once). */
  private readonly early = new Map<number, CompletedGrain[]>();
  /** Peers of replaced targets: their late completions are dropped. */
  private readonly retired = new Set<number>();

  constructor(readonly ini: InitiatorHandle) {
    super();
    ini.on('disconnected', (e: PeerEvent) => this.of(e)?.failed(e.reason ?? 'disconnected'));
    ini.on('peerError', (e: PeerEvent) => this.of(e)?.failed(e.error?.message ?? e.reason ?? 'error'));
  }

  /** Adds a session per source, in order; resolves once every target is added. */
  async add(sources: readonly TargetInfoSource[]): Promise<void> {
    for (const src of sources) {
      const s = new TargetSession(this, this.sessions.length + 1, src);
      this.sessions.push(s);
      this.bindTargetId(s.info.id, s);
      await s.start();
    }
  }

  /** The session whose current target an event is about. */
  of(e: { targetId?: string; peer?: number }): TargetSession | undefined {
    return (e.targetId !== undefined ? this.byId.get(e.targetId) : undefined) ?? (e.peer !== undefined ? this.byPeer.get(e.peer) : undefined);
  }

  completion(c: CompletedGrain): void {
    const s = this.byPeer.get(c.peer);
    if (s) { s.completion(c); return; }
    if (this.retired.has(c.peer)) return;
    const held = this.early.get(c.peer) ?? [];
    if (held.length < 1024) held.push(c);
    this.early.set(c.peer, held);
  }

  bindPeer(peer: number, s: TargetSession): void {
    this.byPeer.set(peer, s);
    const held = this.early.get(peer);
    this.early.delete(peer);
    for (const c of held ?? []) s.completion(c);
  }

  bindTargetId(id: bigint, s: TargetSession): void { this.byId.set(id.toString(), s); }

  unbind(s: TargetSession): void {
    if (s.peer !== undefined && this.byPeer.get(s.peer) === s) {
      this.byPeer.delete(s.peer);
      this.retired.add(s.peer);
    }
    this.byId.delete(s.info.id.toString());
  }

  close(): void {
    for (const s of this.sessions) s.close();
  }
}
