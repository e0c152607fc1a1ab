/**
 * Pinned messages: the conversation's pin list (server state under ["pins", id]), who may pin,
 * and how live events change the list (docs/subsystems/messages.md, Pinned messages).
 */
import { useMutation, useQuery, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { useCallback, useMemo } from "react";
import { call, type Conversation } from "../../api/client";
import { useServices } from "../../app/services";
import type { ConversationEvent } from "../../realtime";
import { conversationsKey } from "../conversations/queries";

export const pinsKey = (conversationId: number) => ["pins", conversationId] as const;

export interface Pin {
  message: { id: number; sender_id: number | null; body: string; created_at: string; conversation_id: number; seq: number };
  pinned_by: number | null;
  pinned_at: string;
}

/** Any member pins in a direct conversation or a group; owners and admins in a channel (as the server). */
export function canPin(c: Pick<Conversation, "kind" | "role" | "archived"> | undefined): boolean {
  if (!c || !c.role || c.archived) return false;
  if (c.kind === "public" || c.kind === "private") return c.role === "owner" || c.role === "admin";
  return true;
}

export function usePins(conversationId: number, enabled = true) {
  const { api } = useServices();
  return useQuery({
    queryKey: pinsKey(conversationId),
    queryFn: async (): Promise<Pin[]> =>
      (await call(api.GET("/conversations/{conversation_id}/pins", { params: { path: { conversation_id: conversationId } } }))).pins,
    enabled,
    staleTime: Infinity,
  });
}

/** Whether I may pin here: from the conversation as my list holds it. */
export function useCanPin(conversationId: number): boolean {
  const qc = useQueryClient();
  return canPin(qc.getQueryData<Conversation[]>(conversationsKey)?.find((c) => c.id === conversationId));
}

export function usePinMessage() {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async ({ messageId, pin }: { messageId: number; conversationId: number; pin: boolean }) => {
      const params = { params: { path: { message_id: messageId } } };
      if (pin) await call(api.PUT("/messages/{message_id}/pin", params));
      else await call(api.DELETE("/messages/{message_id}/pin", params));
    },
    onSuccess: (_, { conversationId }) => void qc.invalidateQueries({ queryKey: pinsKey(conversationId) }),
  });
}

/** A live or replayed event's effect on the pin list held for its conversation. */
export function applyPinEvent(qc: QueryClient, ev: ConversationEvent): void {
  const key = pinsKey(ev.conversation_id);
  if (qc.getQueryData(key) === undefined) return;
  if (ev.event === "message.pinned") {
    void qc.invalidateQueries({ queryKey: key });
  } else if (ev.event === "message.unpinned") {
    const id = ev.data.message_id;
    qc.setQueryData<Pin[]>(key, (list) => list?.filter((p) => p.message.id !== id));
  } else if (ev.event === "message.deleted") {
    const id = ev.data.id;
    qc.setQueryData<Pin[]>(key, (list) => list?.filter((p) => p.message.id !== id));
  } else if (ev.event === "message.edited") {
    const { id, body } = ev.data;
    qc.setQueryData<Pin[]>(key, (list) => list?.map((p) => (p.message.id === id ? { ...p, message: { ...p.message, body } } : p)));
  }
}

/** The conversation's pinned message ids, and the pin action when I may pin (for the message list). */
export function usePinning(conversation: Pick<Conversation, "id" | "kind" | "role" | "archived"> | undefined, enabled: boolean) {
  const id = conversation?.id ?? 0;
  const pins = usePins(id, enabled && conversation !== undefined);
  const { mutate } = usePinMessage();
  const pinnedIds = useMemo(() => new Set((pins.data ?? []).map((p) => p.message.id)), [pins.data]);
  const onPin = useCallback((m: { id: number }, pin: boolean) => mutate({ messageId: m.id, conversationId: id, pin }), [mutate, id]);
  return { pinnedIds, onPin: enabled && canPin(conversation) ? onPin : undefined };
}
