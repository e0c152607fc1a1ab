/** One realtime client per signed-in tab, wired to the caches; exposed to components by context. */
import { notifyManager, useQueryClient } from "@tanstack/react-query";
import { createContext, useContext, useEffect, useMemo, useRef, useSyncExternalStore, type ReactNode } from "react";
import { useLocation } from "wouter";
import { configurePresence } from "../features/conversations/presence";
import { attachSync } from "../features/messages/sync";
import { Timelines } from "../features/messages/timeline";
import { Outbox, RealtimeClient, type ConnectionState, type OutboxItem } from "../realtime";
import { useServices } from "./services";

export interface Realtime {
  client: RealtimeClient;
  timelines: Timelines;
  /** Set by the conversation view: the conversation on screen. */
  setActive(conversationId: number | null): void;
}

const RealtimeContext = createContext<Realtime | null>(null);

export function useRealtime(): Realtime {
  const r = useContext(RealtimeContext);
  if (!r) throw new Error("useRealtime outside <RealtimeProvider>");
  return r;
}

export function useOptionalRealtime(): Realtime | null {
  return useContext(RealtimeContext);
}

export function useConnectionState(): ConnectionState {
  const { client } = useRealtime();
  return useSyncExternalStore(
    (fn) => client.on("state", fn),
    () => client.getState(),
  );
}

/**
 * The outbox as React state. Its change notices go through TanStack's scheduler, so that an
 * ack's "sent" copy (a cache write) renders no later than the pending copy disappears.
 */
export function useOutbox(): readonly OutboxItem[] {
  const { client } = useRealtime();
  return useSyncExternalStore(
    (fn) => client.outbox.subscribe(() => notifyManager.schedule(fn)),
    () => client.outbox.list(),
  );
}

function wsUrl(baseUrl: string): string {
  const u = new URL("/ws", baseUrl);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.toString();
}

export function RealtimeProvider({ userId, children }: { userId: number; children: ReactNode }) {
  const { session, api, baseUrl } = useServices();
  const qc = useQueryClient();
  const [, navigate] = useLocation();
  const active = useRef<number | null>(null);
  const navigateRef = useRef(navigate);
  navigateRef.current = navigate;

  const value = useMemo<Realtime>(() => {
    const outbox = new Outbox(typeof localStorage !== "undefined" ? localStorage : null, `tipline.outbox.${userId}`);
    const client = new RealtimeClient({
      url: wsUrl(baseUrl),
      outbox,
      getAccessToken: () => session.accessToken(),
      refreshSession: () => session.refresh(session.current()?.accessToken),
    });
    return {
      client,
      timelines: new Timelines(qc, api),
      setActive: (id) => {
        active.current = id;
      },
    };
  }, [userId, baseUrl, session, api, qc]);

  useEffect(() => {
    const { client, timelines } = value;
    configurePresence(api);
    const detach = attachSync({
      qc,
      api,
      client,
      timelines,
      activeConversation: () => active.current,
      onRemoved: (cid) => {
        if (active.current === cid) navigateRef.current(`/?removed=${cid}`);
      },
      openConversation: (cid) => navigateRef.current(`/c/${cid}`),
    });
    const offState = client.on("state", (s) => {
      if (s.kind === "signed_out") session.clear("expired");
    });
    const online = () => client.setNetwork(true);
    const offline = () => client.setNetwork(false);
    const visible = () => {
      if (document.visibilityState === "visible") client.reconnectNow();
    };
    const storage = (e: StorageEvent) => {
      if (e.key === `tipline.outbox.${userId}`) client.outbox.reload();
    };
    window.addEventListener("online", online);
    window.addEventListener("offline", offline);
    document.addEventListener("visibilitychange", visible);
    window.addEventListener("storage", storage);
    const stopAway = trackAway(client);
    client.start();
    return () => {
      detach();
      offState();
      stopAway();
      window.removeEventListener("online", online);
      window.removeEventListener("offline", offline);
      document.removeEventListener("visibilitychange", visible);
      window.removeEventListener("storage", storage);
      client.stop();
      configurePresence(null);
    };
  }, [value, qc, api, session, userId]);

  return <RealtimeContext.Provider value={value}>{children}</RealtimeContext.Provider>;
}

/** Report `away` after the server's away_after_s without input, `online` on the next input. */
function trackAway(client: RealtimeClient): () => void {
  let awayAfterMs = 300_000;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const arm = () => {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => client.setPresence("away"), awayAfterMs);
  };
  let last = 0;
  const activity = () => {
    const t = Date.now();
    if (t - last < 1000) return; // mousemove fires constantly; once a second is plenty
    last = t;
    client.setPresence("online");
    arm();
  };
  const offReady = client.on("ready", (r) => {
    if (r.away_after_s) awayAfterMs = r.away_after_s * 1000;
    arm();
  });
  const events = ["pointerdown", "pointermove", "keydown", "focus", "touchstart"] as const;
  for (const e of events) window.addEventListener(e, activity, { passive: true });
  arm();
  return () => {
    offReady();
    if (timer !== null) clearTimeout(timer);
    for (const e of events) window.removeEventListener(e, activity);
  };
}
