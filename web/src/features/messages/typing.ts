/** Who is typing where. `typing` frames carry no "stopped": an entry expires after a few seconds. */
import { useEffect, useState } from "react";
import { createStore, useStore } from "../../lib/store";

const TTL_MS = 5000;
type TypingMap = ReadonlyMap<number, ReadonlyMap<number, number>>;
export const typingStore = createStore<TypingMap>(new Map());

export function noteTyping(conversationId: number, userId: number, now = Date.now()): void {
  typingStore.set((prev) => {
    const next = new Map(prev);
    const users = new Map(prev.get(conversationId) ?? []);
    users.set(userId, now + TTL_MS);
    next.set(conversationId, users);
    return next;
  });
}

/** A message from that user arrived: they stopped typing it. */
export function clearTyping(conversationId: number, userId: number): void {
  const users = typingStore.get().get(conversationId);
  if (!users?.has(userId)) return;
  typingStore.set((prev) => {
    const next = new Map(prev);
    const u = new Map(prev.get(conversationId) ?? []);
    u.delete(userId);
    next.set(conversationId, u);
    return next;
  });
}

/** User ids typing in a conversation now; re-renders when an entry expires. */
export function useTyping(conversationId: number): number[] {
  const users = useStore(typingStore, (m) => m.get(conversationId));
  const [now, setNow] = useState(() => Date.now());
  const active = users ? [...users].filter(([, until]) => until > now).map(([id]) => id) : [];
  const nextExpiry = users ? Math.min(...[...users.values()].filter((t) => t > now)) : Infinity;
  useEffect(() => {
    if (!Number.isFinite(nextExpiry)) return;
    const t = setTimeout(() => setNow(Date.now()), Math.max(50, nextExpiry - Date.now()));
    return () => clearTimeout(t);
  }, [nextExpiry]);
  useEffect(() => setNow(Date.now()), [users]);
  return active;
}
