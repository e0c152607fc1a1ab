/**
 * Per-conversation ordering of durable events (docs/protocol.md, "seq, gaps and resume").
 *
 * `held[c]` is the last seq applied for conversation c. An event with seq <= held is a
 * duplicate (replay overlapping live delivery); held+1 is applied; anything further ahead is
 * kept aside and the conversation is resumed from held. Kept events are released, in order,
 * as soon as the hole is filled. The sequencer is pure bookkeeping: it never touches a
 * socket; the client sends the resumes it asks for.
 */
import type { DurableEvent, ReadyFrame } from "./frames";

export interface Step {
  /** Events to apply now, in order. */
  apply: DurableEvent[];
  /** Conversations to resume, with the seq to resume from. */
  resume: Map<number, number>;
}

const empty = (): Step => ({ apply: [], resume: new Map() });

/** After this many resumes that did not close a gap, ask the app to reload the window. */
const MAX_FUTILE_RESUMES = 3;

export class Sequencer {
  private held = new Map<number, number>();
  private kept = new Map<number, Map<number, DurableEvent>>();
  private resuming = new Set<number>();
  private futile = new Map<number, number>();
  /** Conversations we left or were removed from: their late events are ignored. */
  private gone = new Set<number>();

  heldSeq(conversationId: number): number | undefined {
    return this.held.get(conversationId);
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.held].map(([c, s]) => [String(c), s]));
  }

  /**
   * On `ready`: conversations we already track and are behind on are resumed. Ones seen for
   * the first time start at the server's last_seq (their state is read over HTTP); they are
   * returned as `fresh` so the caller can refresh what it shows for them.
   */
  onReady(ready: ReadyFrame): Step & { fresh: number[] } {
    this.resuming.clear();
    const step = this.onSync(ready.conversations);
    // Conversations not in `ready` are no longer ours (removed while we were away).
    const listed = new Set(ready.conversations.map((c) => c.id));
    for (const id of [...this.held.keys()]) {
      if (!listed.has(id)) this.forget(id);
    }
    return step;
  }

  /**
   * `sync`: the server's bus lost messages, so events may be missing with no later event to
   * reveal the gap. Every listed conversation we are behind on is resumed, even one with a
   * resume in flight: that replay may have been read before the lost events were committed.
   * Unlike `ready`, the list says nothing about conversations it leaves out, so none is forgotten.
   */
  onSync(conversations: readonly { id: number; last_seq: number }[]): Step & { fresh: number[] } {
    const step: Step & { fresh: number[] } = { ...empty(), fresh: [] };
    for (const { id, last_seq } of conversations) {
      this.gone.delete(id);
      const held = this.held.get(id);
      if (held === undefined) {
        this.held.set(id, last_seq);
        step.fresh.push(id);
      } else if (last_seq > held) {
        step.resume.set(id, held);
        this.resuming.add(id);
      }
    }
    return step;
  }

  /** `conversation.joined`: start tracking at the given last_seq. */
  onJoined(conversationId: number, lastSeq: number): void {
    this.gone.delete(conversationId);
    const held = this.held.get(conversationId);
    if (held === undefined || lastSeq > held) this.held.set(conversationId, lastSeq);
    this.drain(conversationId, empty());
  }

  onEvent(ev: DurableEvent): Step {
    const cid = ev.conversation_id;
    const step = empty();
    if (this.gone.has(cid)) return step;
    const held = this.held.get(cid);
    if (held === undefined) {
      // Never seen: nothing to compare with. Start here.
      this.held.set(cid, ev.seq);
      step.apply.push(ev);
      return step;
    }
    if (ev.seq <= held) return step; // duplicate
    if (ev.seq === held + 1) {
      this.held.set(cid, ev.seq);
      step.apply.push(ev);
      return this.drain(cid, step);
    }
    // A gap: keep the event and fetch what is missing (one resume in flight per conversation).
    let kept = this.kept.get(cid);
    if (!kept) this.kept.set(cid, (kept = new Map()));
    kept.set(ev.seq, ev);
    if (!this.resuming.has(cid)) {
      this.resuming.add(cid);
      step.resume.set(cid, held);
    }
    return step;
  }

  /** `resumed`: the replay up to last_seq is complete. */
  onResumed(conversationId: number, lastSeq: number): Step & { reload: boolean } {
    this.resuming.delete(conversationId);
    const step = this.drain(conversationId, empty());
    const held = this.held.get(conversationId);
    const kept = this.kept.get(conversationId);
    const stillBehind = held !== undefined && ((kept !== undefined && kept.size > 0) || lastSeq > held);
    if (!stillBehind || held === undefined) {
      this.futile.delete(conversationId);
      return { ...step, reload: false };
    }
    const tries = (this.futile.get(conversationId) ?? 0) + 1;
    this.futile.set(conversationId, tries);
    if (tries >= MAX_FUTILE_RESUMES) {
      // The replay keeps missing the hole: stop asking and take the server's state.
      this.futile.delete(conversationId);
      this.onReload(conversationId, Math.max(lastSeq, ...(kept ? kept.keys() : [])));
      return { ...empty(), reload: true };
    }
    this.resuming.add(conversationId);
    step.resume.set(conversationId, held);
    return { ...step, reload: false };
  }

  /** `reload`: the window is refetched over HTTP; continue after last_seq. */
  onReload(conversationId: number, lastSeq: number): Step {
    this.resuming.delete(conversationId);
    const held = this.held.get(conversationId) ?? 0;
    this.held.set(conversationId, Math.max(held, lastSeq));
    return this.drain(conversationId, empty());
  }

  /** A resume for this conversation failed (not a member any more). */
  forget(conversationId: number): void {
    this.held.delete(conversationId);
    this.kept.delete(conversationId);
    this.resuming.delete(conversationId);
    this.futile.delete(conversationId);
    this.gone.add(conversationId);
  }

  /** The server could not answer a resume of this conversation: none is in flight any more. */
  onResumeFailed(conversationId: number): void {
    this.resuming.delete(conversationId);
  }

  /** Resume these conversations again (after a failed resume), unless one is in flight. */
  resumeAgain(conversationIds: readonly number[]): Step {
    const step = empty();
    for (const cid of conversationIds) {
      const held = this.held.get(cid);
      if (held === undefined || this.resuming.has(cid)) continue;
      this.resuming.add(cid);
      step.resume.set(cid, held);
    }
    return step;
  }

  /** The socket closed: resumes in flight are void (they are re-sent after `ready`). */
  onDisconnect(): void {
    this.resuming.clear();
  }

  private drain(cid: number, step: Step): Step {
    const kept = this.kept.get(cid);
    if (!kept) return step;
    let held = this.held.get(cid) ?? 0;
    for (const seq of [...kept.keys()].sort((a, b) => a - b)) {
      if (seq <= held) {
        kept.delete(seq);
      } else if (seq === held + 1) {
        const ev = kept.get(seq);
        kept.delete(seq);
        if (ev) step.apply.push(ev);
        held = seq;
      } else {
        break;
      }
    }
    this.held.set(cid, held);
    if (kept.size === 0) this.kept.delete(cid);
    return step;
  }
}
