import { describe, expect, it } from "vitest";
import type { Message } from "../../api/client";
import { messageEvent } from "../../test/fakeSocket";
import type { ConversationEvent } from "../../realtime";
import { applyEvent, mergeLatest, mergeOlder, messageFromAck, type Timeline } from "./timeline";

const msg = (seq: number, extra: Partial<Message> = {}): Message => ({ ...(messageEvent(1, seq).data as Message), ...extra });
const seqs = (t: Timeline) => t.messages.map((m) => m.seq);

describe("timeline merges", () => {
  it("merges overlapping pages and events by id, in seq order", () => {
    let t = mergeLatest(undefined, { messages: [msg(3), msg(5)], has_more: true });
    t = applyEvent(t, messageEvent(1, 6) as ConversationEvent);
    t = applyEvent(t, messageEvent(1, 6) as ConversationEvent);
    t = mergeLatest(t, { messages: [msg(5), msg(6), msg(8)], has_more: true });
    expect(seqs(t)).toEqual([3, 5, 6, 8]);
    expect(t.hasOlder).toBe(true);
    t = mergeOlder(t, { messages: [msg(1), msg(2)], has_more: false });
    expect(seqs(t)).toEqual([1, 2, 3, 5, 6, 8]);
    expect(t.hasOlder).toBe(false);
  });

  it("replaces what it held when the latest page does not touch it (a reload after a long absence)", () => {
    const t = mergeLatest({ messages: [msg(1), msg(2)], hasOlder: false }, { messages: [msg(900), msg(950)], has_more: true });
    expect(seqs(t)).toEqual([900, 950]);
    expect(t.hasOlder).toBe(true);
  });

  it("never lets an older copy undo an edit or a delete", () => {
    let t: Timeline = { messages: [msg(1)], hasOlder: false };
    t = applyEvent(t, { type: "event", event: "message.edited", conversation_id: 1, seq: 2, data: { id: 100, body: "edited", edited_at: "2026-11-22T10:05:00Z", mention_ids: [] } });
    t = mergeLatest(t, { messages: [msg(1)], has_more: false }); // a page read before the edit
    expect(t.messages[0]?.body).toBe("edited");
    t = applyEvent(t, { type: "event", event: "message.deleted", conversation_id: 1, seq: 3, data: { id: 100, deleted_at: "2026-11-22T10:06:00Z", by: 2 } });
    t = mergeLatest(t, { messages: [msg(1, { body: "edited", edited_at: "2026-11-22T10:05:00Z" })], has_more: false });
    expect(t.messages[0]?.deleted).toBe(true);
    expect(t.messages[0]?.body).toBe("");
  });

  it("applies reactions idempotently from the counts the server sends", () => {
    let t: Timeline = { messages: [msg(1)], hasOlder: false };
    const added = { type: "event", event: "reaction.added", conversation_id: 1, seq: 2, data: { message_id: 100, emoji: "👍", user_id: 2, count: 1 } } as const;
    t = applyEvent(t, added);
    t = applyEvent(t, added);
    expect(t.messages[0]?.reactions).toEqual([{ emoji: "👍", count: 1, user_ids: [2] }]);
    t = applyEvent(t, { ...added, event: "reaction.added", seq: 3, data: { ...added.data, user_id: 3, count: 2 } });
    t = applyEvent(t, { ...added, event: "reaction.removed", seq: 4, data: { ...added.data, user_id: 2, count: 1 } });
    expect(t.messages[0]?.reactions).toEqual([{ emoji: "👍", count: 1, user_ids: [3] }]);
    t = applyEvent(t, { ...added, event: "reaction.removed", seq: 5, data: { ...added.data, user_id: 3, count: 0 } });
    expect(t.messages[0]?.reactions).toEqual([]);
  });

  it("builds the sent message from an ack and the pending copy", () => {
    const m = messageFromAck(
      { type: "ack", ref: null, conversation_id: 1, client_msg_id: "c1", message_id: 9, seq: 4, created_at: "2026-11-22T10:00:00Z", duplicate: false },
      { client_msg_id: "c1", conversation_id: 1, body: "hi", reply_to: null, created_at: "", status: "pending", attempts: 1 },
      5,
    );
    expect(m).toMatchObject({ id: 9, seq: 4, sender_id: 5, body: "hi", client_msg_id: "c1", deleted: false });
  });
});
