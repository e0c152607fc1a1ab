import { QueryClient } from "@tanstack/react-query";
import { describe, expect, it } from "vitest";
import type { Message } from "../../api/client";
import type { ConversationEvent } from "../../realtime";
import { messageEvent } from "../../test/fakeSocket";
import { applyEvent, timelineKey, type Timeline } from "../messages/timeline";
import type { Preview } from "../previews/queries";
import { applyThreadEvent, threadKey, threadsKey, type FollowedThread, type ThreadData } from "./queries";
import { summaryOf, withReply } from "./summary";

const msg = (seq: number, extra: Partial<Message> = {}): Message => ({ ...(messageEvent(1, seq).data as Message), id: 100 + seq, ...extra });
const created = (m: Message): ConversationEvent => ({ type: "event", event: "message.created", conversation_id: 1, seq: m.seq, data: m });

describe("threads in the timeline", () => {
  it("files a thread-only reply into its root's summary, not the timeline; a reply also sent to the conversation goes in both", () => {
    const root = msg(1, { sender_id: 1 });
    let t: Timeline = { messages: [root], hasOlder: false };
    const reply = msg(2, { sender_id: 2, reply_to_id: root.id, thread_only: true });
    t = applyEvent(t, created(reply));
    t = applyEvent(t, created(reply)); // replayed again: counted once
    expect(t.messages.map((m) => m.seq)).toEqual([1]);
    expect(summaryOf(t.messages[0]!)).toMatchObject({ reply_count: 1, last_reply_seq: 2, last_repliers: [2] });
    const shared = msg(3, { sender_id: 3, reply_to_id: root.id, thread_only: false });
    t = applyEvent(t, created(shared));
    expect(t.messages.map((m) => m.seq)).toEqual([1, 3]);
    expect(t.messages[0]?.thread).toMatchObject({ reply_count: 2, last_repliers: [3, 2] });
    // The server's announcement wins over what was derived, unless it is older.
    t = applyEvent(t, {
      type: "event",
      event: "thread.updated",
      conversation_id: 1,
      seq: null,
      data: { root_id: root.id, reply_count: 5, last_reply_at: "2026-11-22T10:00:00Z", last_reply_seq: 9, last_repliers: [4] },
    });
    expect(t.messages[0]?.reply_count).toBe(5);
    expect(withReply(t.messages[0]!, msg(8, { reply_to_id: root.id }))).toBe(t.messages[0]);
  });

  it("keeps an open thread and the Threads list current, with unread counts for others' replies only", () => {
    const qc = new QueryClient();
    const root = msg(1, { sender_id: 1 });
    qc.setQueryData<ThreadData>(threadKey(root.id), { root, messages: [], hasOlder: false, following: true, lastReadSeq: 0 });
    const listed: FollowedThread = {
      root,
      conversation_id: 1,
      summary: { reply_count: 0, last_reply_at: "2026-11-22T09:00:00Z", last_reply_seq: 1, last_repliers: [] },
      last_read_seq: 1,
      unread: 0,
    };
    qc.setQueryData<FollowedThread[]>(threadsKey, [listed]);
    qc.setQueryData<Timeline>(timelineKey(1), { messages: [root], hasOlder: false });
    const theirs = msg(4, { sender_id: 2, reply_to_id: root.id, thread_only: true });
    applyThreadEvent(qc, created(theirs), 1);
    applyThreadEvent(qc, created(theirs), 1);
    const mine = msg(5, { sender_id: 1, reply_to_id: root.id, thread_only: true });
    applyThreadEvent(qc, created(mine), 1);
    expect(qc.getQueryData<ThreadData>(threadKey(root.id))?.messages.map((m) => m.seq)).toEqual([4, 5]);
    const after = qc.getQueryData<FollowedThread[]>(threadsKey)![0]!;
    expect(after.unread).toBe(1);
    expect(after.summary).toMatchObject({ reply_count: 2, last_reply_seq: 5, last_repliers: [1, 2] });
    // An edit of a reply reaches the open thread.
    applyThreadEvent(qc, { type: "event", event: "message.edited", conversation_id: 1, seq: 6, data: { id: theirs.id, body: "changed", edited_at: "2026-11-22T10:05:00Z", mention_ids: [] } }, 1);
    expect(qc.getQueryData<ThreadData>(threadKey(root.id))?.messages[0]?.body).toBe("changed");
    // So does a link preview of a reply, added and removed, while the thread stays open.
    const preview: Preview = { id: 7, url: "https://example.com/post", title: "A post", description: null, site_name: null, image: null };
    const previewEvent = (event: "preview.added" | "preview.removed", seq: number, previews: Preview[]) =>
      ({ type: "event", event, conversation_id: 1, seq, data: { message_id: theirs.id, sender_id: 2, previews } }) as ConversationEvent;
    applyThreadEvent(qc, previewEvent("preview.added", 7, [preview]), 1);
    expect(qc.getQueryData<ThreadData>(threadKey(root.id))?.messages[0]?.previews).toEqual([preview]);
    applyThreadEvent(qc, previewEvent("preview.removed", 8, []), 1);
    expect(qc.getQueryData<ThreadData>(threadKey(root.id))?.messages[0]?.previews).toEqual([]);
  });
});
