/** Tips in the timeline: confirmed totals on a message (like reactions), and a line per tip seen
 * live in this session with its state (pending → confirmed / failed / expired). */
import type { Schemas } from "../../api/client";
import { cx } from "../../lib/ui";
import { useLiveTips, type LiveTip } from "./store";

const STATE_TEXT: Record<string, string> = {
  created: "waiting for the wallet",
  pending: "pending",
  confirmed: "confirmed",
  failed: "failed",
  expired: "expired",
};

const STATE_STYLE: Record<string, string> = {
  pending: "text-amber-700 dark:text-amber-300",
  confirmed: "text-emerald-700 dark:text-emerald-300",
  failed: "text-red-700 dark:text-red-300",
  expired: "text-zinc-500 dark:text-zinc-400",
};

export function TipTotals({ totals }: { totals: Schemas["TotalOut"][] }) {
  if (totals.length === 0) return null;
  return (
    <div className="mt-1 flex flex-wrap gap-1" data-testid="tip-totals">
      {totals.map((t) => (
        <span
          key={t.token}
          data-testid="tip-total"
          title={`${t.count} confirmed tip${t.count === 1 ? "" : "s"}`}
          aria-label={`Tipped ${t.total_display} ${t.symbol} in ${t.count} tip${t.count === 1 ? "" : "s"}`}
          className="rounded-full border border-emerald-300 bg-emerald-50 px-2 py-0.5 text-xs text-emerald-800 dark:border-emerald-700 dark:bg-emerald-500/15 dark:text-emerald-100"
        >
          ◈ {t.total_display} {t.symbol}
        </span>
      ))}
    </div>
  );
}

export function TipLine({ tip, nameOf, myId }: { tip: LiveTip; nameOf(id: number): string; myId: number }) {
  // A null id: that person deleted their account; the tip stays as an on-chain fact.
  const who = tip.tipper_id === myId ? "You" : tip.tipper_id === null ? "A deleted user" : nameOf(tip.tipper_id);
  const whom = tip.recipient_id === myId ? "you" : tip.recipient_id === null ? "a deleted user" : nameOf(tip.recipient_id);
  return (
    <p data-testid="tip-line" data-state={tip.state} className="text-xs text-zinc-600 dark:text-zinc-300">
      {who} tipped {whom} {tip.amount_display} {tip.symbol} ·{" "}
      <span className={cx("font-medium", STATE_STYLE[tip.state])} data-testid="tip-state">
        {STATE_TEXT[tip.state] ?? tip.state}
      </span>
      {tip.reason && tip.state !== "confirmed" && <span className="text-zinc-500"> ({tip.reason})</span>}
    </p>
  );
}

/** The live tips on one message, or (messageId `null`) the tips to people in this conversation. */
export function TipLines({
  conversationId,
  messageId,
  nameOf,
  myId,
}: {
  conversationId: number;
  messageId: number | null;
  nameOf(id: number): string;
  myId: number;
}) {
  const tips = useLiveTips(conversationId, messageId);
  if (tips.length === 0) return null;
  return (
    <div className={cx("mt-1 flex flex-col gap-0.5", messageId === null && "border-t border-zinc-200 px-4 py-1 dark:border-zinc-700")}>
      {tips.map((t) => (
        <TipLine key={t.intent_id} tip={t} nameOf={nameOf} myId={myId} />
      ))}
    </div>
  );
}
