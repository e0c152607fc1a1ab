/**
 * A conversation's loaded messages (the "timeline") and the pure functions that change it.
 *
 * The timeline is server state kept in the TanStack Query cache under ["timeline", id]. It is
 * filled from two sources that can overlap and arrive in any order: HTTP history pages and
 * WebSocket events. Every function here is idempotent and keyed by message id (ordered by
 * seq), so applying the same page or event twice, or a page that overlaps live events,
 * converges to the same state.
 */
import type { QueryClient } from "@tanstack/react-query";
import { call, type ApiClient, type Message } from "../../api/client";
import type { AckFrame, ConversationEvent, OutboxItem } from "../../realtime";
import { lineFromEvent, mergeLines, type SystemLine } from "../timeline/systemLines";
import { withReply, withSummary } from "../threads/summary";

export interface Timeline {
  /** Loaded messages, ascending by seq. */
  messages: Message[];
  /** More messages exist before the first loaded one. */
  hasOlder: boolean;
  /** System lines (membership and conversation changes) in the loaded span, ascending by seq. */
  lines?: SystemLine[];
}

export interface Page {
  messages: Message[];
  has_more: boolean;
  system_lines?: SystemLine[];
}

export const PAGE_SIZE = 50;
export const timelineKey = (conversationId: number) => ["timeline", conversationId] as const;

const bySeq = (a: Message, b: Message) => a.seq - b.seq;

/** Of two copies of one message, keep the held one only if it reflects more history. */
function keepHeld(held: Message, incoming: Message): boolean {
  if (held.deleted !== incoming.deleted) return held.deleted;
  const eh = held.edited_at ? Date.parse(held.edited_at) : 0;
  const ei = incoming.edited_at ? Date.parse(incoming.edited_at) : 0;
  return eh > ei;
}

function union(held: Message[], incoming: Message[]): Message[] {
  const map = new Map<number, Message>();
  for (const m of held) map.set(m.id, m);
  for (const m of incoming) {
    const old = map.get(m.id);
    map.set(m.id, old && keepHeld(old, m) ? old : m);
  }
  return [...map.values()].sort(bySeq);
}

/** Merge the latest page. A page that does not touch what we hold replaces it (we were far behind). */
export function mergeLatest(existing: Timeline | undefined, page: Page): Timeline {
  const incoming = [...page.messages].sort(bySeq);
  const pageLines = mergeLines(undefined, page.system_lines);
  if (!existing || existing.messages.length === 0) {
    return { messages: incoming, hasOlder: page.has_more, lines: mergeLines(existing?.lines, pageLines) };
  }
  const newestHeld = existing.messages[existing.messages.length - 1]!.seq;
  const oldestIncoming = incoming[0]?.seq;
  if (page.has_more && oldestIncoming !== undefined && oldestIncoming > newestHeld) {
    return { messages: incoming, hasOlder: true, lines: pageLines };
  }
  return { messages: union(existing.messages, incoming), hasOlder: existing.hasOlder, lines: mergeLines(existing.lines, pageLines) };
}

/** Merge a page of older messages (fetched with `before`). */
export function mergeOlder(existing: Timeline | undefined, page: Page): Timeline {
  if (!existing) return { messages: [...page.messages].sort(bySeq), hasOlder: page.has_more, lines: mergeLines(undefined, page.system_lines) };
  return { messages: union(existing.messages, page.messages), hasOlder: page.has_more, lines: mergeLines(existing.lines, page.system_lines) };
}

function mapMessage(t: Timeline, id: number, fn: (m: Message) => Message): Timeline {
  let changed = false;
  const messages = t.messages.map((m) => {
    if (m.id !== id) return m;
    const next = fn(m);
    if (next !== m) changed = true;
    return next;
  });
  return changed ? { ...t, messages } : t;
}

/** Apply one conversation event to a timeline. */
export function applyEvent(t: Timeline, ev: ConversationEvent): Timeline {
  switch (ev.event) {
    case "message.created": {
      // A reply updates its root's thread summary; a thread-only reply stays out of the timeline.
      const m = ev.data;
      const next = m.reply_to_id !== null ? mapMessage(t, m.reply_to_id, (root) => withReply(root, m)) : t;
      return m.thread_only ? next : { ...next, messages: union(next.messages, [m]) };
    }
    case "thread.updated":
      return mapMessage(t, ev.data.root_id, (root) => withSummary(root, ev.data));
    case "message.edited":
      return mapMessage(t, ev.data.id, (m) =>
        m.deleted || (m.edited_at !== null && Date.parse(m.edited_at) >= Date.parse(ev.data.edited_at))
          ? m
          : { ...m, body: ev.data.body, edited_at: ev.data.edited_at, mention_ids: ev.data.mention_ids },
      );
    case "message.deleted":
      return mapMessage(t, ev.data.id, (m) =>
        m.deleted ? m : { ...m, deleted: true, body: "", mention_ids: [], reactions: [], previews: [] },
      );
    case "reaction.added":
    case "reaction.removed": {
      const { message_id, emoji, user_id, count } = ev.data;
      const adding = ev.event === "reaction.added";
      return mapMessage(t, message_id, (m) => {
        if (m.deleted) return m;
        const found = m.reactions.find((r) => r.emoji === emoji);
        let reactions;
        if (found) {
          const users = new Set(found.user_ids);
          if (adding) users.add(user_id);
          else users.delete(user_id);
          reactions = m.reactions
            .map((r) => (r === found ? { ...r, count, user_ids: [...users] } : r))
            .filter((r) => r.count > 0);
        } else if (adding && count > 0) {
          reactions = [...m.reactions, { emoji, count, user_ids: [user_id] }];
        } else {
          return m;
        }
        return { ...m, reactions };
      });
    }
    case "preview.added":
    case "preview.removed":
      // The event carries the message's whole list after the change (docs/protocol.md, Link previews).
      return mapMessage(t, ev.data.message_id, (m) => (m.deleted ? m : { ...m, previews: ev.data.previews }));
    case "tip.pending":
    case "tip.confirmed":
    case "tip.failed":
    case "tip.expired": {
      // Every settled change carries the message's confirmed totals after it (a reorg can lower them).
      const { message_id, message_totals } = ev.data;
      if (message_id === null || message_totals === undefined) return t;
      return mapMessage(t, message_id, (m) => (m.deleted ? m : { ...m, tips: message_totals }));
    }
    default: {
      const line = lineFromEvent(ev);
      return line ? { ...t, lines: mergeLines(t.lines, [line]) } : t;
    }
  }
}

/** The message an ack confirms, built from the pending copy (the event may come later, or never). */
export function messageFromAck(ack: AckFrame, item: OutboxItem, senderId: number): Message {
  return {
    id: ack.message_id,
    conversation_id: ack.conversation_id,
    seq: ack.seq,
    sender_id: senderId,
    client_msg_id: ack.client_msg_id,
    body: item.body,
    reply_to_id: item.reply_to,
    thread_only: item.thread_only ?? false,
    thread: null,
    mention_ids: [],
    created_at: ack.created_at,
    edited_at: null,
    deleted: false,
    reactions: [],
    reply_count: 0,
    tips: [],
    attachments: [],
    hidden: false,
  };
}

/**
 * Reads and writes timelines in the query cache. While a page for a conversation is being
 * fetched, its events are also kept aside and re-applied to the page when it lands: the page
 * may have been read before those events committed.
 */
export class Timelines {
  private fetching = new Map<number, number>();
  private aside = new Map<number, ConversationEvent[]>();

  constructor(
    private readonly qc: QueryClient,
    private readonly api: ApiClient,
  ) {}

  get(conversationId: number): Timeline | undefined {
    return this.qc.getQueryData<Timeline>(timelineKey(conversationId));
  }

  applyEvent(ev: ConversationEvent): void {
    const cid = ev.conversation_id;
    if (this.fetching.has(cid)) this.aside.get(cid)?.push(ev);
    this.qc.setQueryData<Timeline>(timelineKey(cid), (t) => (t ? applyEvent(t, ev) : t));
  }

  /** Add a message built locally (from an ack) unless the server's copy is already here. */
  insertIfAbsent(message: Message): void {
    this.qc.setQueryData<Timeline>(timelineKey(message.conversation_id), (t) =>
      t && !message.thread_only && !t.messages.some((m) => m.id === message.id) ? { ...t, messages: union(t.messages, [message]) } : t,
    );
  }

  /** The query function of ["timeline", id]: the latest page, merged with what is held. */
  async fetchLatest(conversationId: number, signal?: AbortSignal): Promise<Timeline> {
    const page = await this.fetchPage(conversationId, undefined, signal);
    return this.land(conversationId, (t) => mergeLatest(t, page));
  }

  /** Load the page before the oldest loaded message. */
  async loadOlder(conversationId: number): Promise<void> {
    const t = this.get(conversationId);
    const oldest = t?.messages[0]?.seq;
    if (!t || !t.hasOlder || oldest === undefined) return;
    const page = await this.fetchPage(conversationId, oldest);
    this.qc.setQueryData<Timeline>(timelineKey(conversationId), this.land(conversationId, (cur) => mergeOlder(cur, page)));
  }

  /** Refetch the latest window (after `reload`, or on first connection). */
  async refresh(conversationId: number): Promise<void> {
    if (!this.qc.getQueryState(timelineKey(conversationId))) return;
    await this.qc.refetchQueries({ queryKey: timelineKey(conversationId), exact: true });
  }

  forget(conversationId: number): void {
    this.qc.removeQueries({ queryKey: timelineKey(conversationId), exact: true });
  }

  private async fetchPage(conversationId: number, before: number | undefined, signal?: AbortSignal): Promise<Page> {
    this.fetching.set(conversationId, (this.fetching.get(conversationId) ?? 0) + 1);
    if (!this.aside.has(conversationId)) this.aside.set(conversationId, []);
    try {
      return await call(
        this.api.GET("/conversations/{conversation_id}/messages", {
          params: { path: { conversation_id: conversationId }, query: { limit: PAGE_SIZE, ...(before !== undefined ? { before } : {}) } },
          ...(signal ? { signal } : {}),
        }),
      );
    } catch (err) {
      this.done(conversationId);
      throw err;
    }
  }

  /** A page landed: merge it into the current timeline and re-apply events kept aside. */
  private land(conversationId: number, merge: (t: Timeline | undefined) => Timeline): Timeline {
    let t = merge(this.get(conversationId));
    for (const ev of this.aside.get(conversationId) ?? []) t = applyEvent(t, ev);
    this.done(conversationId);
    return t;
  }

  private done(conversationId: number): void {
    const n = (this.fetching.get(conversationId) ?? 1) - 1;
    if (n <= 0) {
      this.fetching.delete(conversationId);
      this.aside.delete(conversationId);
    } else {
      this.fetching.set(conversationId, n);
    }
  }
}
