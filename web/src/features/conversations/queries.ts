/** Server state for conversations and members (TanStack Query), and the calls that change them. */
import { useMutation, useQuery, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { call, type Conversation, type Member, type User } from "../../api/client";
import { useServices } from "../../app/services";

export const conversationsKey = ["conversations"] as const;
export const conversationKey = (id: number) => ["conversation", id] as const;
export const membersKey = (id: number) => ["members", id] as const;

/** Most recently active first (the server's order; kept after live updates). */
export function byActivity(a: Conversation, b: Conversation): number {
  const ta = Date.parse(a.last_message_at ?? a.created_at);
  const tb = Date.parse(b.last_message_at ?? b.created_at);
  return tb - ta || b.id - a.id;
}

export function conversationTitle(c: Pick<Conversation, "kind" | "name" | "peer">): string {
  if (c.kind === "direct") return c.peer ? c.peer.display_name : "Direct message";
  return c.name;
}

export function useConversations() {
  const { api } = useServices();
  return useQuery({
    queryKey: conversationsKey,
    queryFn: async () => (await call(api.GET("/conversations"))).conversations,
    select: (list) => [...list].sort(byActivity),
    staleTime: Infinity,
  });
}

/** One conversation: from the list when I am a member, else fetched (a public channel preview). */
export function useConversation(id: number) {
  const { api } = useServices();
  const list = useConversations();
  const listed = list.data?.find((c) => c.id === id);
  const single = useQuery({
    queryKey: conversationKey(id),
    queryFn: () => call(api.GET("/conversations/{conversation_id}", { params: { path: { conversation_id: id } } })),
    enabled: list.isSuccess && !listed,
    staleTime: 10_000,
  });
  if (listed) return { data: listed, isPending: false, isError: false, error: null } as const;
  return {
    data: single.data,
    isPending: list.isPending || single.isPending,
    isError: list.isError || single.isError,
    error: single.error ?? list.error,
  } as const;
}

export function useMembers(id: number, enabled = true) {
  const { api } = useServices();
  return useQuery({
    queryKey: membersKey(id),
    queryFn: async () =>
      (await call(api.GET("/conversations/{conversation_id}/members", { params: { path: { conversation_id: id } } })))
        .members,
    enabled,
    staleTime: 60_000,
  });
}

/** A user's public profile (for senders who are not in the members list any more). */
export function useUser(id: number | null, enabled = true) {
  const { api } = useServices();
  return useQuery({
    queryKey: ["user", id],
    queryFn: () => call(api.GET("/users/{user_id}", { params: { path: { user_id: id ?? 0 } } })),
    enabled: enabled && id !== null,
    staleTime: 10 * 60_000,
  });
}

export function usePublicChannels(q: string) {
  const { api } = useServices();
  return useQuery({
    queryKey: ["public", q],
    queryFn: async () =>
      (await call(api.GET("/conversations/public", { params: { query: { ...(q ? { q } : {}), limit: 50 } } })))
        .conversations,
    staleTime: 10_000,
  });
}

/** Put a conversation into the list cache (after create, open, join). */
export function upsertConversation(qc: QueryClient, conv: Conversation): void {
  qc.setQueryData<Conversation[]>(conversationsKey, (list) => {
    if (!list) return list;
    const rest = list.filter((c) => c.id !== conv.id);
    return [conv, ...rest];
  });
  qc.setQueryData(conversationKey(conv.id), conv);
}

export function useLookupHandle() {
  const { api } = useServices();
  return async (handle: string): Promise<User> =>
    call(api.GET("/users", { params: { query: { handle: handle.trim().replace(/^@/, "") } } }));
}

export function useOpenDirect() {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (userId: number) => call(api.POST("/conversations/direct", { body: { user_id: userId } })),
    onSuccess: (conv) => upsertConversation(qc, conv),
  });
}

export function useCreateConversation() {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: { kind: "group" | "public" | "private"; name: string; topic?: string; member_ids?: number[] }) =>
      call(api.POST("/conversations", { body: { topic: "", member_ids: [], ...body } })),
    onSuccess: (conv) => upsertConversation(qc, conv),
  });
}

export function useJoin() {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: number) => call(api.POST("/conversations/{conversation_id}/join", { params: { path: { conversation_id: id } } })),
    onSuccess: (conv) => upsertConversation(qc, conv),
  });
}

export function useLeave() {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: number) => call(api.POST("/conversations/{conversation_id}/leave", { params: { path: { conversation_id: id } } })),
    onSuccess: (_d, id) => removeConversationCaches(qc, id),
  });
}

export function removeConversationCaches(qc: QueryClient, id: number): void {
  qc.setQueryData<Conversation[]>(conversationsKey, (list) => list?.filter((c) => c.id !== id));
  qc.removeQueries({ queryKey: conversationKey(id), exact: true });
  qc.removeQueries({ queryKey: membersKey(id), exact: true });
  qc.removeQueries({ queryKey: ["timeline", id], exact: true });
}

export function useInvite(id: number) {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (userId: number) =>
      call(api.POST("/conversations/{conversation_id}/members", { params: { path: { conversation_id: id } }, body: { user_id: userId } })),
    onSuccess: (member) =>
      qc.setQueryData<Member[]>(membersKey(id), (list) => (list && !list.some((m) => m.user.id === member.user.id) ? [...list, member] : list)),
  });
}

export function useRemoveMember(id: number) {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (userId: number) =>
      call(api.DELETE("/conversations/{conversation_id}/members/{user_id}", { params: { path: { conversation_id: id, user_id: userId } } })),
    onSuccess: (_d, userId) => qc.setQueryData<Member[]>(membersKey(id), (list) => list?.filter((m) => m.user.id !== userId)),
  });
}

export function useChangeRole(id: number) {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ userId, role }: { userId: number; role: "owner" | "admin" | "member" }) =>
      call(
        api.PATCH("/conversations/{conversation_id}/members/{user_id}", {
          params: { path: { conversation_id: id, user_id: userId } },
          body: { role },
        }),
      ),
    onSuccess: (member) =>
      qc.setQueryData<Member[]>(membersKey(id), (list) => list?.map((m) => (m.user.id === member.user.id ? member : m))),
  });
}

export function useUpdateConversation(id: number) {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: { name?: string; topic?: string }) =>
      call(api.PATCH("/conversations/{conversation_id}", { params: { path: { conversation_id: id } }, body })),
    onSuccess: (conv) => upsertConversation(qc, conv),
  });
}
