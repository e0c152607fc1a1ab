/** Who is online: seeded from GET /presence, kept current by `presence` frames. */
import { useEffect } from "react";
import { call, type ApiClient } from "../../api/client";
import { createStore, useStore } from "../../lib/store";
import type { PresenceStatus } from "../../realtime";

export const presenceStore = createStore<ReadonlyMap<number, PresenceStatus>>(new Map());
const tracked = new Set<number>();
let timer: ReturnType<typeof setTimeout> | null = null;
let apiRef: ApiClient | null = null;

export function setPresence(userId: number, status: PresenceStatus): void {
  presenceStore.set((prev) => {
    if (prev.get(userId) === status) return prev;
    const next = new Map(prev);
    next.set(userId, status);
    return next;
  });
}

/** Load the presence of every tracked user (after a reconnect, statuses may have changed). */
export async function refreshPresence(api: ApiClient, ids: number[] = [...tracked]): Promise<void> {
  for (let i = 0; i < ids.length; i += 200) {
    const chunk = ids.slice(i, i + 200);
    if (chunk.length === 0) continue;
    try {
      const result = await call(api.GET("/presence", { params: { query: { ids: chunk.join(",") } } }));
      presenceStore.set((prev) => {
        const next = new Map(prev);
        for (const [id, status] of Object.entries(result)) {
          if (status === "online" || status === "away" || status === "offline") next.set(Number(id), status);
        }
        return next;
      });
    } catch {
      // Presence is a hint; the next frame or reconnect fills it in.
    }
  }
}

export function configurePresence(api: ApiClient | null): void {
  apiRef = api;
  if (!api) {
    tracked.clear();
    presenceStore.set(new Map());
  }
}

/** Ask for these users' presence (batched: one request for everything asked in a tick). */
export function trackPresence(ids: number[]): void {
  const fresh = ids.filter((id) => !tracked.has(id));
  if (fresh.length === 0) return;
  for (const id of fresh) tracked.add(id);
  if (timer !== null) return;
  timer = setTimeout(() => {
    timer = null;
    const want = [...tracked].filter((id) => !presenceStore.get().has(id));
    if (apiRef && want.length > 0) void refreshPresence(apiRef, want);
  }, 50);
}

export function usePresence(userId: number | null | undefined): PresenceStatus | undefined {
  useEffect(() => {
    if (userId != null) trackPresence([userId]);
  }, [userId]);
  return useStore(presenceStore, (m) => (userId == null ? undefined : m.get(userId)));
}
