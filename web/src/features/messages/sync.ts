/**
 * Applies what the realtime client reports to the app's state: timelines, the conversation
 * list (last message, unread count, order), members, typing, presence, notifications.
 * docs/subsystems/web-client.md explains the flow.
 */
import type { QueryClient } from "@tanstack/react-query";
import type { ApiClient, Conversation, Member } from "../../api/client";
import type { ConversationEvent, RealtimeClient } from "../../realtime";
import { conversationKey, conversationsKey, conversationTitle, membersKey, removeConversationCaches } from "../conversations/queries";
import { refreshPresence, setPresence } from "../conversations/presence";
import { recordTip } from "../tips/store";
import { applyPinEvent } from "../timeline/pins";
import { SYSTEM_EVENTS } from "../timeline/systemLines";
import { wantsNotification } from "../notifications/levels";
import { levelIn } from "../notifications/queries";
import { showNotification } from "./notifications";
import { messageFromAck, type Timelines } from "./timeline";
import { clearTyping, noteTyping } from "./typing";
import { applyThreadAck, applyThreadEvent } from "../threads/queries";

export interface SyncOptions {
  qc: QueryClient;
  api: ApiClient;
  client: RealtimeClient;
  timelines: Timelines;
  /** The conversation on screen, if any. */
  activeConversation: () => number | null;
  /** I left or was removed from a conversation (navigate away if it is on screen). */
  onRemoved: (conversationId: number) => void;
  openConversation: (conversationId: number) => void;
  now?: () => number;
}

/** Notifications only for messages this recent (a long replay after a reconnect stays quiet). */
const NOTIFY_WINDOW_MS = 2 * 60_000;

export function attachSync(o: SyncOptions): () => void {
  const { qc, client, timelines } = o;
  const now = o.now ?? Date.now;
  const me = () => client.getUserId();

  /** Update a conversation in the list, once per seq (a replay or a refetch may repeat one). */
  function updateListed(cid: number, seq: number | null, fn: (c: Conversation) => Conversation): boolean {
    let found = false;
    qc.setQueryData<Conversation[]>(conversationsKey, (list) => {
      if (!list) return list;
      return list.map((c) => {
        if (c.id !== cid) return c;
        found = true;
        if (seq !== null && seq <= c.last_seq) return c;
        const next = fn(c);
        return seq !== null ? { ...next, last_seq: Math.max(next.last_seq, seq) } : next;
      });
    });
    const single = qc.getQueryData<Conversation>(conversationKey(cid));
    if (single && (seq === null || seq > single.last_seq)) {
      const next = fn(single);
      qc.setQueryData(conversationKey(cid), seq !== null ? { ...next, last_seq: Math.max(next.last_seq, seq) } : next);
    }
    return found;
  }

  function onEvent(ev: ConversationEvent): void {
    const cid = ev.conversation_id;
    // Membership and conversation changes also show in the timeline, as system lines.
    if (SYSTEM_EVENTS.has(ev.event)) timelines.applyEvent(ev);
    applyPinEvent(qc, ev);
    applyThreadEvent(qc, ev, me());
    switch (ev.event) {
      case "thread.updated":
        timelines.applyEvent(ev);
        return;
      case "message.created": {
        const m = ev.data;
        timelines.applyEvent(ev);
        if (m.sender_id !== null) clearTyping(cid, m.sender_id);
        const mine = m.sender_id === me();
        if (m.thread_only) {
          // Not in the conversation's list entry or unread count: the Threads view counts it.
          updateListed(cid, ev.seq, (c) => c);
          const userId = me();
          if (!mine && userId !== null && m.mention_ids.includes(userId)) maybeNotify(cid, m.sender_id, m.body, m.mention_ids, m.created_at);
          return;
        }
        const listed = updateListed(cid, ev.seq, (c) => ({
          ...c,
          last_message: { id: m.id, seq: m.seq, sender_id: m.sender_id, body: m.body, created_at: m.created_at, deleted: m.deleted, hidden: m.hidden ?? false },
          last_message_at: m.created_at,
          unread: mine ? c.unread : (c.unread ?? 0) + 1,
        }));
        if (!listed) void qc.invalidateQueries({ queryKey: conversationsKey });
        if (!mine) maybeNotify(cid, m.sender_id, m.body, m.mention_ids, m.created_at);
        return;
      }
      case "message.edited":
      case "message.deleted": {
        timelines.applyEvent(ev);
        const id = ev.data.id;
        updateListed(cid, ev.seq, (c) =>
          c.last_message?.id === id
            ? {
                ...c,
                last_message: ev.event === "message.edited" ? { ...c.last_message, body: ev.data.body } : { ...c.last_message, body: "", deleted: true },
              }
            : c,
        );
        return;
      }
      case "reaction.added":
      case "reaction.removed":
      case "preview.added":
      case "preview.removed":
        timelines.applyEvent(ev);
        updateListed(cid, ev.seq, (c) => c);
        return;
      case "tip.pending":
      case "tip.confirmed":
      case "tip.failed":
      case "tip.expired":
        timelines.applyEvent(ev);
        recordTip(qc, ev.data);
        updateListed(cid, ev.seq, (c) => c);
        return;
      case "member.joined":
        updateListed(cid, ev.seq, (c) => ({ ...c, member_count: c.member_count + 1 }));
        qc.setQueryData<Member[]>(membersKey(cid), (list) =>
          list && !list.some((m) => m.user.id === ev.data.user.id)
            ? [...list, { user: { ...ev.data.user, is_bot: ev.data.user.is_bot ?? false }, role: ev.data.role, joined_at: new Date(now()).toISOString(), last_read_seq: ev.seq }]
            : list,
        );
        return;
      case "member.left":
      case "member.removed":
        if (ev.data.user_id === me()) {
          gone(cid);
          return;
        }
        updateListed(cid, ev.seq, (c) => ({ ...c, member_count: Math.max(0, c.member_count - 1) }));
        qc.setQueryData<Member[]>(membersKey(cid), (list) => list?.filter((m) => m.user.id !== ev.data.user_id));
        return;
      case "member.role_changed":
        updateListed(cid, ev.seq, (c) => (ev.data.user_id === me() ? { ...c, role: ev.data.role } : c));
        qc.setQueryData<Member[]>(membersKey(cid), (list) =>
          list?.map((m) => (m.user.id === ev.data.user_id ? { ...m, role: ev.data.role } : m)),
        );
        return;
      case "conversation.updated":
      case "conversation.archived":
      case "conversation.unarchived":
        updateListed(cid, ev.seq, (c) => ({ ...c, name: ev.data.name, topic: ev.data.topic, archived: ev.data.archived }));
        return;
      case "conversation.joined":
        void qc.invalidateQueries({ queryKey: conversationsKey });
        return;
    }
  }

  /** I am no longer a member: leave the screen first, then drop the caches (so nothing refetches them). */
  function gone(cid: number): void {
    o.onRemoved(cid);
    setTimeout(() => removeConversationCaches(qc, cid), 0);
  }

  function maybeNotify(cid: number, senderId: number | null, body: string, mentions: number[], createdAt: string): void {
    if (now() - Date.parse(createdAt) > NOTIFY_WINDOW_MS) return;
    const conv = qc.getQueryData<Conversation[]>(conversationsKey)?.find((c) => c.id === cid);
    const userId = me();
    const mentioned = userId !== null && mentions.includes(userId);
    // My level in this conversation (mute, mentions only, all) decides, as for push and email.
    if (!conv || !wantsNotification(conv.kind, levelIn(qc, cid), mentioned, body)) return;
    const sender =
      qc.getQueryData<Member[]>(membersKey(cid))?.find((m) => m.user.id === senderId)?.user.display_name ??
      (conv.kind === "direct" ? conv.peer?.display_name : undefined) ??
      "Someone";
    const title = conv.kind === "direct" ? sender : `${sender} in ${conversationTitle(conv)}`;
    showNotification(title, body, `tipline-${cid}`, () => o.openConversation(cid));
  }

  const offs = [
    client.on("ready", (ready) => {
      void qc.invalidateQueries({ queryKey: conversationsKey });
      // Seen for the first time on this socket: what we show came from HTTP, maybe before the
      // socket existed. Refetch it so nothing between that read and `ready` is missing.
      for (const cid of ready.fresh) void timelines.refresh(cid);
      void refreshPresence(o.api);
    }),
    client.on("event", onEvent),
    client.on("ack", ({ ack, item }) => {
      const userId = me();
      if (!item || userId === null) return;
      applyThreadAck(qc, ack, item, userId);
      const message = messageFromAck(ack, item, userId);
      timelines.insertIfAbsent(message);
      if (item.thread_only) {
        updateListed(ack.conversation_id, ack.seq, (c) => c);
        return;
      }
      updateListed(ack.conversation_id, ack.seq, (c) => ({
        ...c,
        last_message: { id: message.id, seq: message.seq, sender_id: userId, body: message.body, created_at: message.created_at, deleted: false, hidden: false },
        last_message_at: message.created_at,
      }));
    }),
    client.on("typing", (t) => {
      if (t.user_id !== me()) noteTyping(t.conversation_id, t.user_id);
    }),
    client.on("presence", (p) => setPresence(p.user_id, p.status)),
    client.on("read", (r) => {
      if (r.user_id === me()) {
        qc.setQueryData<Conversation[]>(conversationsKey, (list) =>
          list?.map((c) =>
            c.id === r.conversation_id
              ? { ...c, last_read_seq: Math.max(c.last_read_seq ?? 0, r.seq), unread: r.seq >= c.last_seq ? 0 : c.unread }
              : c,
          ),
        );
      }
      qc.setQueryData<Member[]>(membersKey(r.conversation_id), (list) =>
        list?.map((m) => (m.user.id === r.user_id ? { ...m, last_read_seq: Math.max(m.last_read_seq, r.seq) } : m)),
      );
    }),
    client.on("reload", ({ conversation_id }) => {
      void timelines.refresh(conversation_id);
      void qc.invalidateQueries({ queryKey: conversationsKey });
    }),
    client.on("sync", ({ fresh }) => {
      // Conversations behind are resumed by the client; the replayed events land like live ones.
      // One it did not track (joined while the bus was down) is read over HTTP instead.
      if (fresh.length === 0) return;
      for (const cid of fresh) void timelines.refresh(cid);
      void qc.invalidateQueries({ queryKey: conversationsKey });
    }),
    client.on("lost", ({ conversation_id }) => gone(conversation_id)),
  ];
  return () => {
    for (const off of offs) off();
  };
}
