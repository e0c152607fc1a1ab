import { describe, expect, it } from "vitest";
import type { ConversationEvent } from "../../realtime";
import { applyEvent, mergeLatest, mergeOlder, type Timeline } from "../messages/timeline";
import { describeLine, lineFromEvent, linesBetween, mergeLines, type SystemLine } from "./systemLines";

const names: Record<number, string> = { 1: "Ann", 2: "Bob" };
const nameOf = (id: number | null) => (id === null ? "Someone" : (names[id] ?? "Someone"));
const line = (seq: number, event: string, data: Record<string, unknown>): SystemLine => ({ seq, event, data });

describe("system lines", () => {
  it("describes joins, adds, leaves, removals and changes with names", () => {
    const cara = { id: 3, handle: "cara", display_name: "Cara" };
    expect(describeLine(line(1, "member.joined", { user: cara, role: "member", by: 3 }), nameOf)).toBe("Cara joined");
    expect(describeLine(line(2, "member.joined", { user: cara, role: "member", by: 1 }), nameOf)).toBe("Ann added Cara");
    expect(describeLine(line(3, "member.left", { user_id: 2, by: 2 }), nameOf)).toBe("Bob left");
    expect(describeLine(line(4, "member.removed", { user_id: 3, by: 1, user: cara }), nameOf)).toBe("Ann removed Cara");
    const conv = { id: 9, kind: "private", name: "Launch", topic: "ship", archived: false, by: 1 };
    expect(describeLine(line(5, "conversation.updated", { ...conv, changed: ["name"] }), nameOf)).toBe(
      "Ann renamed the conversation to “Launch”",
    );
    expect(describeLine(line(6, "conversation.updated", { ...conv, changed: ["topic", "kind"] }), nameOf)).toBe(
      "Ann changed the topic to “ship” and made the channel private",
    );
    expect(describeLine(line(7, "conversation.updated", { ...conv, topic: "", changed: ["topic"] }), nameOf)).toBe("Ann cleared the topic");
    expect(describeLine(line(8, "conversation.archived", conv), nameOf)).toBe("Ann archived the conversation");
  });

  it("merges idempotently by seq and selects between bounds", () => {
    const a = [line(2, "member.left", {}), line(5, "member.left", {})];
    const merged = mergeLines(a, [line(5, "member.left", {}), line(3, "member.joined", {})]);
    expect(merged.map((l) => l.seq)).toEqual([2, 3, 5]);
    expect(mergeLines(merged, merged)).toEqual(merged);
    expect(linesBetween(merged, 2, 5).map((l) => l.seq)).toEqual([3]);
    expect(linesBetween(merged, null, 3).map((l) => l.seq)).toEqual([2]);
    expect(linesBetween(merged, 3, null).map((l) => l.seq)).toEqual([5]);
  });

  it("lands in the timeline from pages and from events, not twice", () => {
    const page = { messages: [], has_more: false, system_lines: [line(1, "member.joined", { by: 1, user: { id: 1 } })] };
    let t: Timeline = mergeLatest(undefined, page);
    const ev = {
      type: "event",
      event: "member.left",
      conversation_id: 9,
      seq: 4,
      data: { user_id: 2, by: 2 },
    } as ConversationEvent;
    expect(lineFromEvent(ev)?.seq).toBe(4);
    t = applyEvent(applyEvent(t, ev), ev);
    expect(t.lines?.map((l) => l.seq)).toEqual([1, 4]);
    t = mergeOlder(t, { messages: [], has_more: false, system_lines: [line(1, "member.joined", {})] });
    expect(t.lines?.map((l) => l.seq)).toEqual([1, 4]);
    const typing = { ...ev, event: "reaction.added" } as unknown as ConversationEvent;
    expect(lineFromEvent(typing)).toBeNull();
  });
});
