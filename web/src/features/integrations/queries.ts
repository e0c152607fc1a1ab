/** Server state for personal access tokens and bots (docs/subsystems/integrations.md). */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { call, type Schemas } from "../../api/client";
import { useServices } from "../../app/services";

export type ApiToken = Schemas["ApiTokenOut"];
export type NewToken = Schemas["ApiTokenCreated"];
export type Bot = Schemas["BotOut"];
export type TokenRequest = Schemas["ApiTokenCreateIn"];
export type Scope = TokenRequest["scopes"][number];

/** Every scope, in the order Settings shows them, with what each allows. */
export const SCOPES: { scope: Scope; label: string }[] = [
  { scope: "messages:read", label: "Read messages and receive events (WebSocket)" },
  { scope: "messages:write", label: "Send, edit, delete and react" },
  { scope: "conversations:read", label: "List conversations, members and people" },
  { scope: "conversations:write", label: "Create and manage conversations" },
  { scope: "tips:read", label: "Read tips" },
];

/** Tokens of the signed-in user (``botId`` null) or of one of their bots. */
export function useTokens(botId: number | null) {
  const { api } = useServices();
  return useQuery({
    queryKey: ["tokens", botId],
    queryFn: () =>
      botId === null
        ? call(api.GET("/me/tokens"))
        : call(api.GET("/bots/{bot_id}/tokens", { params: { path: { bot_id: botId } } })),
  });
}

export function useCreateToken(botId: number | null) {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: TokenRequest) =>
      botId === null
        ? call(api.POST("/me/tokens", { body }))
        : call(api.POST("/bots/{bot_id}/tokens", { params: { path: { bot_id: botId } }, body })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["tokens", botId] }),
  });
}

export function useRevokeToken(botId: number | null) {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) =>
      botId === null
        ? call(api.DELETE("/me/tokens/{token_id}", { params: { path: { token_id: id } } }))
        : call(api.DELETE("/bots/{bot_id}/tokens/{token_id}", { params: { path: { bot_id: botId, token_id: id } } })),
    onSuccess: (_data, id) => {
      qc.setQueryData<ApiToken[]>(["tokens", botId], (list) => list?.filter((t) => t.id !== id));
    },
  });
}

export function useBots() {
  const { api } = useServices();
  return useQuery({ queryKey: ["bots"], queryFn: () => call(api.GET("/bots")) });
}

export function useCreateBot() {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: Schemas["BotCreateIn"]) => call(api.POST("/bots", { body })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["bots"] }),
  });
}

export function useDeleteBot() {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: number) => call(api.DELETE("/bots/{bot_id}", { params: { path: { bot_id: id } } })),
    onSuccess: (_data, id) => {
      qc.setQueryData<Bot[]>(["bots"], (list) => list?.filter((b) => b.user.id !== id));
    },
  });
}
