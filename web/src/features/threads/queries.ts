/**
 * Threads in the query cache: each open thread under ["thread", rootId], the threads I follow
 * under ["threads"]. Live events (sync.ts) keep both current; docs/subsystems/web-client.md.
 */
import { useMutation, useQuery, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { call, type ApiClient, type Message, type Schemas } from "../../api/client";
import { useServices } from "../../app/services";
import type { AckFrame, ConversationEvent, OutboxItem } from "../../realtime";
import { applyEvent, messageFromAck, timelineKey, type Timeline } from "../messages/timeline";
import { withReply, withSummary } from "./summary";

export type FollowedThread = Schemas["FollowedThreadOut"];

export interface ThreadData {
  root: Message;
  /** Loaded replies, ascending by seq. */
  messages: Message[];
  hasOlder: boolean;
  following: boolean;
  lastReadSeq: number;
}

export const threadKey = (rootId: number) => ["thread", rootId] as const;
export const threadsKey = ["threads"] as const;
const PAGE = 50;

const bySeq = (a: Message, b: Message) => a.seq - b.seq;

function union(held: Message[], incoming: Message[]): Message[] {
  const map = new Map<number, Message>();
  for (const m of [...held, ...incoming]) map.set(m.id, m);
  return [...map.values()].sort(bySeq);
}

async function fetchThread(api: ApiClient, rootId: number, before?: number, signal?: AbortSignal) {
  return call(
    api.GET("/messages/{message_id}/thread", {
      params: { path: { message_id: rootId }, query: { limit: PAGE, ...(before !== undefined ? { before } : {}) } },
      ...(signal ? { signal } : {}),
    }),
  );
}

export function useThread(rootId: number) {
  const { api } = useServices();
  const qc = useQueryClient();
  return useQuery({
    queryKey: threadKey(rootId),
    queryFn: async ({ signal }): Promise<ThreadData> => {
      const page = await fetchThread(api, rootId, undefined, signal);
      const held = qc.getQueryData<ThreadData>(threadKey(rootId));
      return {
        root: page.root,
        messages: union(held?.messages ?? [], page.messages),
        hasOlder: page.has_more,
        following: page.following,
        lastReadSeq: page.last_read_seq,
      };
    },
    staleTime: Infinity,
  });
}

export async function loadOlderReplies(qc: QueryClient, api: ApiClient, rootId: number): Promise<void> {
  const t = qc.getQueryData<ThreadData>(threadKey(rootId));
  const oldest = t?.messages[0]?.seq;
  if (!t || !t.hasOlder || oldest === undefined) return;
  const page = await fetchThread(api, rootId, oldest);
  qc.setQueryData<ThreadData>(threadKey(rootId), (cur) =>
    cur ? { ...cur, messages: union(cur.messages, page.messages), hasOlder: page.has_more } : cur,
  );
}

export function useFollowedThreads(enabled = true) {
  const { api } = useServices();
  return useQuery({
    queryKey: threadsKey,
    queryFn: async () => (await call(api.GET("/threads"))).threads,
    staleTime: Infinity,
    enabled,
  });
}

export function useFollow(rootId: number) {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (follow: boolean) => {
      const params = { params: { path: { message_id: rootId } } };
      return call(follow ? api.PUT("/messages/{message_id}/thread/follow", params) : api.DELETE("/messages/{message_id}/thread/follow", params));
    },
    onSuccess: (state) => {
      qc.setQueryData<ThreadData>(threadKey(rootId), (t) => (t ? { ...t, following: state.following } : t));
      void qc.invalidateQueries({ queryKey: threadsKey });
    },
  });
}

/** Move my read position in a thread (the panel is open and visible). */
export async function markThreadRead(qc: QueryClient, api: ApiClient, rootId: number, seq: number): Promise<void> {
  const state = await call(
    api.POST("/messages/{message_id}/thread/read", { params: { path: { message_id: rootId } }, body: { seq } }),
  );
  qc.setQueryData<ThreadData>(threadKey(rootId), (t) => (t ? { ...t, lastReadSeq: Math.max(t.lastReadSeq, state.last_read_seq) } : t));
  qc.setQueryData<FollowedThread[]>(threadsKey, (list) =>
    list?.map((f) => (f.root.id === rootId ? { ...f, last_read_seq: state.last_read_seq, unread: state.last_read_seq >= f.summary.last_reply_seq ? 0 : f.unread } : f)),
  );
}

function updateThread(qc: QueryClient, rootId: number, fn: (t: ThreadData) => ThreadData): void {
  qc.setQueryData<ThreadData>(threadKey(rootId), (t) => (t ? fn(t) : t));
}

/** Who wrote a reply's root, if this tab holds it (its thread or its conversation's timeline). */
function rootAuthor(qc: QueryClient, m: Message): number | null | undefined {
  const rootId = m.reply_to_id;
  if (rootId === null) return undefined;
  const held = qc.getQueryData<ThreadData>(threadKey(rootId))?.root;
  if (held) return held.sender_id;
  return qc.getQueryData<Timeline>(timelineKey(m.conversation_id))?.messages.find((x) => x.id === rootId)?.sender_id;
}

/** A reply arrived: into its open thread, and into my Threads list (unread unless it is mine). */
function onReply(qc: QueryClient, m: Message, me: number | null): void {
  const rootId = m.reply_to_id;
  if (rootId === null) return;
  // Posting in a thread, or being mentioned there, follows it (as the server records).
  const follows = me !== null && (m.sender_id === me || m.mention_ids.includes(me));
  updateThread(qc, rootId, (t) => ({
    ...t,
    root: withReply(t.root, m),
    messages: union(t.messages, [m]),
    following: t.following || follows,
    lastReadSeq: m.sender_id === me ? Math.max(t.lastReadSeq, m.seq) : t.lastReadSeq,
  }));
  const list = qc.getQueryData<FollowedThread[]>(threadsKey);
  if (!list) return;
  const listed = list.find((f) => f.root.id === rootId);
  if (!listed) {
    // Now followed (I posted, was mentioned, or wrote the root): the server knows; ask it.
    if (me !== null && (m.sender_id === me || m.mention_ids.includes(me) || rootAuthor(qc, m) === me)) {
      void qc.invalidateQueries({ queryKey: threadsKey });
    }
    return;
  }
  if (listed.summary.last_reply_seq >= m.seq) return;
  const root = withReply(listed.root, m);
  const next: FollowedThread = {
    ...listed,
    root,
    summary: root.thread ?? listed.summary,
    unread: m.sender_id === me ? listed.unread : listed.unread + 1,
    last_read_seq: m.sender_id === me ? m.seq : listed.last_read_seq,
  };
  qc.setQueryData<FollowedThread[]>(threadsKey, [next, ...list.filter((f) => f !== listed)]);
}

/** Keep thread caches current with a conversation event (sync.ts calls this for every event). */
export function applyThreadEvent(qc: QueryClient, ev: ConversationEvent, me: number | null): void {
  if (ev.event === "message.created") {
    onReply(qc, ev.data, me);
    return;
  }
  if (ev.event === "thread.updated") {
    updateThread(qc, ev.data.root_id, (t) => ({ ...t, root: withSummary(t.root, ev.data) }));
    qc.setQueryData<FollowedThread[]>(threadsKey, (list) =>
      list?.map((f) => (f.root.id === ev.data.root_id ? { ...f, root: withSummary(f.root, ev.data), summary: withSummary(f.root, ev.data).thread ?? f.summary } : f)),
    );
    return;
  }
  // Edits, deletions, reactions and tips of a root or a reply held in an open thread.
  for (const [key, data] of qc.getQueriesData<ThreadData>({ queryKey: ["thread"] })) {
    if (!data || data.root.conversation_id !== ev.conversation_id) continue;
    const applied = applyEvent({ messages: [data.root, ...data.messages], hasOlder: false }, ev);
    const [root, ...messages] = applied.messages;
    if (root && (root !== data.root || messages.some((m, i) => m !== data.messages[i]))) qc.setQueryData<ThreadData>(key, { ...data, root, messages });
  }
}

/** My own reply was acked: show it in its thread at once (its event may come later). */
export function applyThreadAck(qc: QueryClient, ack: AckFrame, item: OutboxItem, me: number): void {
  if (item.reply_to === null) return;
  const m = messageFromAck(ack, item, me);
  updateThread(qc, item.reply_to, (t) => ({
    ...t,
    following: true,
    lastReadSeq: Math.max(t.lastReadSeq, m.seq),
    messages: t.messages.some((x) => x.id === m.id) ? t.messages : union(t.messages, [m]),
  }));
}
