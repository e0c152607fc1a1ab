/** Message changes over HTTP: edit, delete, reactions. Their events update every tab (sync.ts). */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { call, type Message } from "../../api/client";
import { useServices } from "../../app/services";
import { timelineKey, type Timeline } from "./timeline";

function replaceMessage(qc: ReturnType<typeof useQueryClient>, m: Message): void {
  qc.setQueryData<Timeline>(timelineKey(m.conversation_id), (t) =>
    t ? { ...t, messages: t.messages.map((x) => (x.id === m.id ? m : x)) } : t,
  );
}

export function useEditMessage() {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, body }: { id: number; body: string }) =>
      call(api.PATCH("/messages/{message_id}", { params: { path: { message_id: id } }, body: { body } })),
    onSuccess: (m) => replaceMessage(qc, m),
  });
}

export function useDeleteMessage() {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: number) => call(api.DELETE("/messages/{message_id}", { params: { path: { message_id: id } } })),
    onSuccess: (m) => replaceMessage(qc, m),
  });
}

export function useReact() {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, emoji, add }: { id: number; emoji: string; add: boolean }) => {
      const params = { params: { path: { message_id: id, emoji } } };
      return call(add ? api.PUT("/messages/{message_id}/reactions/{emoji}", params) : api.DELETE("/messages/{message_id}/reactions/{emoji}", params));
    },
    onSuccess: (m) => replaceMessage(qc, m),
  });
}
