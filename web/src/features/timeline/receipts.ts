/**
 * Read receipts: who has seen the last message. In conversations of at most `max_members`
 * (READ_RECEIPTS_MAX_MEMBERS) the members' read positions are live (`read` frames update the
 * members list, sync.ts) and shown as names; larger ones show a count from
 * GET /conversations/{id}/receipts (docs/subsystems/messages.md, Read receipts).
 */
import { useQuery } from "@tanstack/react-query";
import { call, type Member, type Message } from "../../api/client";
import { useServices } from "../../app/services";

export const receiptsKey = (conversationId: number) => ["receipts", conversationId] as const;

export type Receipt = { kind: "names"; names: string[] } | { kind: "count"; count: number } | null;

/** What to show under the last message: names (small conversations), a count (large), or nothing. */
export function receiptFor(o: {
  last: Pick<Message, "seq" | "sender_id" | "deleted"> | undefined;
  myId: number;
  members: readonly Member[];
  memberCount: number;
  maxMembers: number;
  seenCount: number | undefined;
}): Receipt {
  const { last } = o;
  if (!last || last.deleted) return null;
  if (o.memberCount <= o.maxMembers) {
    const names = o.members
      .filter((m) => m.user.id !== o.myId && m.user.id !== last.sender_id && m.last_read_seq >= last.seq)
      .map((m) => m.user.display_name)
      .sort((a, b) => a.localeCompare(b));
    return names.length > 0 ? { kind: "names", names } : null;
  }
  const count = o.seenCount ?? 0;
  return count > 0 ? { kind: "count", count } : null;
}

/** "Seen by Ann", "Seen by Ann and Bob", "Seen by Ann, Bob and 3 others", "Seen by 42 people". */
export function receiptText(r: Exclude<Receipt, null>): string {
  if (r.kind === "count") return `Seen by ${r.count} ${r.count === 1 ? "person" : "people"}`;
  const n = r.names;
  if (n.length === 1) return `Seen by ${n[0]}`;
  if (n.length <= 3) return `Seen by ${n.slice(0, -1).join(", ")} and ${n[n.length - 1]}`;
  return `Seen by ${n.slice(0, 2).join(", ")} and ${n.length - 2} others`;
}

/** The server's receipts summary; refetched when the last message changes (large conversations poll). */
export function useReceipts(conversationId: number, lastSeq: number, large: boolean) {
  const { api } = useServices();
  return useQuery({
    queryKey: [...receiptsKey(conversationId), large ? lastSeq : 0],
    queryFn: () => call(api.GET("/conversations/{conversation_id}/receipts", { params: { path: { conversation_id: conversationId } } })),
    staleTime: large ? 15_000 : Infinity,
    refetchInterval: large ? 30_000 : false,
  });
}
