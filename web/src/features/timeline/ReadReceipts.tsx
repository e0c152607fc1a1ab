/** "Seen by …" under the last message of a conversation (features/timeline/receipts.ts). */
import type { Member, Message } from "../../api/client";
import { receiptFor, receiptText, useReceipts } from "./receipts";

/** Used until the server's answer arrives (its READ_RECEIPTS_MAX_MEMBERS default). */
const DEFAULT_MAX_MEMBERS = 20;

export function ReadReceipts(p: { conversationId: number; last: Message | undefined; myId: number; members: readonly Member[]; memberCount: number }) {
  const lastSeq = p.last?.seq ?? 0;
  const q = useReceipts(p.conversationId, lastSeq, p.memberCount > DEFAULT_MAX_MEMBERS);
  const receipt = receiptFor({
    last: p.last,
    myId: p.myId,
    members: p.members,
    memberCount: p.memberCount,
    maxMembers: q.data?.max_members ?? DEFAULT_MAX_MEMBERS,
    seenCount: q.data && q.data.last_message_seq === lastSeq ? q.data.seen_count : undefined,
  });
  if (!receipt) return null;
  const text = receiptText(receipt);
  return (
    <p
      data-testid="read-receipts"
      aria-live="polite"
      title={receipt.kind === "names" ? `Seen by ${receipt.names.join(", ")}` : text}
      className="px-4 pt-0.5 text-right text-xs text-zinc-500 dark:text-zinc-400"
    >
      {text}
    </p>
  );
}
