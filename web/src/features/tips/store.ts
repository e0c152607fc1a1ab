/**
 * Tips seen live in a conversation, by intent id, from its `tip.*` events (and the tipper's own
 * report). Kept in the query cache under ["tips", "live", conversationId] so the timeline shows
 * each tip's state as it settles; confirmed totals live on the messages themselves (`tips`).
 */
import { QueryClientContext, type QueryClient } from "@tanstack/react-query";
import { useCallback, useContext, useMemo, useSyncExternalStore } from "react";
import type { TipEventData } from "../../realtime";

export type LiveTip = TipEventData;
export type LiveTips = Record<string, LiveTip>;

export const liveTipsKey = (conversationId: number) => ["tips", "live", conversationId] as const;

/** Record a tip's latest state. Events arrive in seq order, so the later one wins. */
export function recordTip(qc: QueryClient, tip: LiveTip): void {
  // Nothing refetches these (only events fill them): keep them for the whole session.
  qc.setQueryDefaults(["tips", "live"], { gcTime: Infinity });
  qc.setQueryData<LiveTips>(liveTipsKey(tip.conversation_id), (held) => {
    const { message_totals: _totals, ...rest } = tip;
    void _totals;
    return { ...(held ?? {}), [tip.intent_id]: rest };
  });
  // The history page and the leaderboard read these afresh when next shown.
  void qc.invalidateQueries({ queryKey: ["tips", "mine"] });
  if (tip.state === "confirmed") void qc.invalidateQueries({ queryKey: ["tips", "leaderboard", tip.conversation_id] });
}

/** The live tips of one conversation, on one message (or `null`: tips to a person, not a message).
 * Read straight from the cache (no fetching); without a query client there are none. */
export function useLiveTips(conversationId: number, messageId: number | null): LiveTip[] {
  const qc = useContext(QueryClientContext);
  const subscribe = useCallback(
    (notify: () => void) => {
      if (!qc) return () => {};
      return qc.getQueryCache().subscribe((e) => {
        const key = e.query.queryKey;
        if (key[0] === "tips" && key[1] === "live" && key[2] === conversationId) notify();
      });
    },
    [qc, conversationId],
  );
  const data = useSyncExternalStore(subscribe, () => qc?.getQueryData<LiveTips>(liveTipsKey(conversationId)));
  return useMemo(
    () =>
      Object.values(data ?? {})
        .filter((t) => t.message_id === messageId)
        .sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at)),
    [data, messageId],
  );
}
