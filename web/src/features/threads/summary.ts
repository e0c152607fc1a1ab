/**
 * A thread root's summary (reply count, last repliers, last reply time) as the client keeps it
 * up to date: from `thread.updated` events live, and from the replies themselves when they are
 * replayed after a reconnect (`thread.updated` is not replayed). Both are idempotent: a reply
 * at or below the summary's `last_reply_seq` is already counted.
 */
import type { Message, Schemas } from "../../api/client";

export type ThreadSummary = Schemas["ThreadSummaryOut"];

/** The root after one more reply (unless the summary already counts it). */
export function withReply(root: Message, reply: Message): Message {
  const t = root.thread ?? null;
  if (t && t.last_reply_seq >= reply.seq) return root;
  const count = (t?.reply_count ?? root.reply_count) + 1;
  const prev = t?.last_repliers ?? [];
  const repliers = reply.sender_id === null ? prev : [reply.sender_id, ...prev.filter((u) => u !== reply.sender_id)].slice(0, 3);
  return {
    ...root,
    reply_count: count,
    thread: { reply_count: count, last_reply_at: reply.created_at, last_reply_seq: reply.seq, last_repliers: repliers },
  };
}

/** The root with the summary the server announced (an older announcement changes nothing). */
export function withSummary(root: Message, s: ThreadSummary): Message {
  const t = root.thread ?? null;
  if (t && t.last_reply_seq > s.last_reply_seq) return root;
  const thread: ThreadSummary = {
    reply_count: s.reply_count,
    last_reply_at: s.last_reply_at,
    last_reply_seq: s.last_reply_seq,
    last_repliers: s.last_repliers,
  };
  return { ...root, reply_count: s.reply_count, thread };
}

/** What the summary under a message shows: none when it has no replies. */
export function summaryOf(m: Message): ThreadSummary | null {
  if (m.thread) return m.thread.reply_count > 0 ? m.thread : null;
  return m.reply_count > 0 ? { reply_count: m.reply_count, last_reply_at: "", last_reply_seq: 0, last_repliers: [] } : null;
}
