import { describe, expect, it } from "vitest";
import type { Member } from "../../api/client";
import { receiptFor, receiptText } from "./receipts";

const member = (id: number, name: string, seq: number): Member =>
  ({ user: { id, handle: name.toLowerCase(), display_name: name, is_bot: false }, role: "member", joined_at: "2026-12-01T00:00:00Z", last_read_seq: seq }) as Member;

describe("read receipts", () => {
  const members = [member(1, "Me", 10), member(2, "Bob", 10), member(3, "Cara", 9), member(4, "Dan", 12)];
  const last = { seq: 10, sender_id: 1, deleted: false };

  it("names who read the last message in small conversations, not me or its sender", () => {
    const r = receiptFor({ last, myId: 1, members, memberCount: 4, maxMembers: 20, seenCount: undefined });
    expect(r).toEqual({ kind: "names", names: ["Bob", "Dan"] });
    expect(receiptText(r!)).toBe("Seen by Bob and Dan");
    const theirs = receiptFor({ last: { ...last, sender_id: 2 }, myId: 1, members, memberCount: 4, maxMembers: 20, seenCount: undefined });
    expect(theirs).toEqual({ kind: "names", names: ["Dan"] });
  });

  it("shows nothing before anyone read it, or for a deleted message", () => {
    expect(receiptFor({ last: { ...last, seq: 13 }, myId: 1, members, memberCount: 4, maxMembers: 20, seenCount: undefined })).toBeNull();
    expect(receiptFor({ last: { ...last, deleted: true }, myId: 1, members, memberCount: 4, maxMembers: 20, seenCount: undefined })).toBeNull();
    expect(receiptFor({ last: undefined, myId: 1, members, memberCount: 4, maxMembers: 20, seenCount: undefined })).toBeNull();
  });

  it("counts in large conversations", () => {
    const r = receiptFor({ last, myId: 1, members: [], memberCount: 500, maxMembers: 20, seenCount: 42 });
    expect(receiptText(r!)).toBe("Seen by 42 people");
    expect(receiptText({ kind: "count", count: 1 })).toBe("Seen by 1 person");
    expect(receiptFor({ last, myId: 1, members: [], memberCount: 500, maxMembers: 20, seenCount: 0 })).toBeNull();
  });

  it("words long lists briefly", () => {
    expect(receiptText({ kind: "names", names: ["Ann"] })).toBe("Seen by Ann");
    expect(receiptText({ kind: "names", names: ["Ann", "Bob", "Cy"] })).toBe("Seen by Ann, Bob and Cy");
    expect(receiptText({ kind: "names", names: ["Ann", "Bob", "Cy", "Di", "Ed"] })).toBe("Seen by Ann, Bob and 3 others");
  });
});
