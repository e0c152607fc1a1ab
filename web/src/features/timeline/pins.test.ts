import { QueryClient } from "@tanstack/react-query";
import { describe, expect, it } from "vitest";
import type { ConversationEvent } from "../../realtime";
import { applyPinEvent, canPin, pinsKey, type Pin } from "./pins";

const pin = (id: number, body = `m${id}`): Pin => ({
  message: { id, sender_id: 1, body, created_at: "2026-12-01T10:00:00Z", conversation_id: 7, seq: id },
  pinned_by: 1,
  pinned_at: "2026-12-01T10:00:00Z",
});
const ev = (event: string, data: Record<string, unknown>) => ({ type: "event", event, conversation_id: 7, seq: 9, data }) as unknown as ConversationEvent;

describe("pins", () => {
  it("follows the server's rule for who may pin", () => {
    expect(canPin({ kind: "group", role: "member", archived: false })).toBe(true);
    expect(canPin({ kind: "direct", role: "member", archived: false })).toBe(true);
    expect(canPin({ kind: "public", role: "member", archived: false })).toBe(false);
    expect(canPin({ kind: "private", role: "admin", archived: false })).toBe(true);
    expect(canPin({ kind: "group", role: "owner", archived: true })).toBe(false);
    expect(canPin({ kind: "public", role: null, archived: false })).toBe(false);
    expect(canPin(undefined)).toBe(false);
  });

  it("applies unpin, delete and edit events to the held list; a pin refetches it", async () => {
    const qc = new QueryClient();
    qc.setQueryData(pinsKey(7), [pin(1), pin(2)]);
    applyPinEvent(qc, ev("message.unpinned", { message_id: 1, by: 1 }));
    expect(qc.getQueryData<Pin[]>(pinsKey(7))?.map((p) => p.message.id)).toEqual([2]);
    applyPinEvent(qc, ev("message.edited", { id: 2, body: "new", edited_at: "x", mention_ids: [] }));
    expect(qc.getQueryData<Pin[]>(pinsKey(7))?.[0]?.message.body).toBe("new");
    applyPinEvent(qc, ev("message.deleted", { id: 2, deleted_at: "x", by: 1 }));
    expect(qc.getQueryData<Pin[]>(pinsKey(7))).toEqual([]);
    applyPinEvent(qc, ev("message.pinned", { message_id: 3, by: 1 }));
    expect(qc.getQueryState(pinsKey(7))?.isInvalidated).toBe(true);
    // Nothing held for a conversation: nothing to do.
    const other = new QueryClient();
    applyPinEvent(other, ev("message.unpinned", { message_id: 1, by: 1 }));
    expect(other.getQueryData(pinsKey(7))).toBeUndefined();
  });
});
