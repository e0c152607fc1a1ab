/** Server state for webhooks and slash commands (docs/subsystems/integrations.md). */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { call, type Schemas } from "../../api/client";
import { useServices } from "../../app/services";

export type IncomingHook = Schemas["IncomingWebhookOut"];
export type NewIncomingHook = Schemas["IncomingWebhookCreated"];
export type OutgoingHook = Schemas["OutgoingWebhookOut"];
export type SlashCommand = Schemas["SlashCommandOut"];
export type CommandResult = Schemas["CommandResult"];

export function useIncomingHooks(conversationId: number | null) {
  const { api } = useServices();
  return useQuery({
    queryKey: ["hooks-in", conversationId],
    enabled: conversationId !== null,
    queryFn: () =>
      call(api.GET("/conversations/{conversation_id}/webhooks/incoming", { params: { path: { conversation_id: conversationId ?? 0 } } })),
  });
}

export function useOutgoingHooks(conversationId: number | null) {
  const { api } = useServices();
  return useQuery({
    queryKey: ["hooks-out", conversationId],
    enabled: conversationId !== null,
    queryFn: () =>
      call(api.GET("/conversations/{conversation_id}/webhooks/outgoing", { params: { path: { conversation_id: conversationId ?? 0 } } })),
  });
}

export function useHookActions(conversationId: number | null) {
  const { api } = useServices();
  const qc = useQueryClient();
  const refresh = () => {
    void qc.invalidateQueries({ queryKey: ["hooks-in", conversationId] });
    void qc.invalidateQueries({ queryKey: ["hooks-out", conversationId] });
  };
  const path = { conversation_id: conversationId ?? 0 };
  return {
    createIncoming: useMutation({
      mutationFn: (body: Schemas["IncomingWebhookIn"]) =>
        call(api.POST("/conversations/{conversation_id}/webhooks/incoming", { params: { path }, body })),
      onSuccess: refresh,
    }),
    rotateIncoming: useMutation({
      mutationFn: (id: number) => call(api.POST("/webhooks/incoming/{hook_id}/rotate", { params: { path: { hook_id: id } } })),
      onSuccess: refresh,
    }),
    deleteIncoming: useMutation({
      mutationFn: (id: number) => call(api.DELETE("/webhooks/incoming/{hook_id}", { params: { path: { hook_id: id } } })),
      onSuccess: refresh,
    }),
    createOutgoing: useMutation({
      mutationFn: (body: Schemas["OutgoingWebhookIn"]) =>
        call(api.POST("/conversations/{conversation_id}/webhooks/outgoing", { params: { path }, body })),
      onSuccess: refresh,
    }),
    deleteOutgoing: useMutation({
      mutationFn: (id: number) => call(api.DELETE("/webhooks/outgoing/{hook_id}", { params: { path: { hook_id: id } } })),
      onSuccess: refresh,
    }),
  };
}

export function useSlashCommands() {
  const { api } = useServices();
  return useQuery({ queryKey: ["commands"], queryFn: () => call(api.GET("/commands")), staleTime: 60_000 });
}

export function useCommandActions() {
  const { api } = useServices();
  const qc = useQueryClient();
  const refresh = () => void qc.invalidateQueries({ queryKey: ["commands"] });
  return {
    create: useMutation({ mutationFn: (body: Schemas["SlashCommandIn"]) => call(api.POST("/commands", { body })), onSuccess: refresh }),
    remove: useMutation({
      mutationFn: (id: number) => call(api.DELETE("/commands/{command_id}", { params: { path: { command_id: id } } })),
      onSuccess: refresh,
    }),
  };
}

/** `/name args` → [name, args], or null when the text is not a command line. */
export function parseCommand(text: string): [string, string] | null {
  const m = /^\/([A-Za-z0-9_-]{1,32})(?:\s+([\s\S]*))?$/.exec(text.trim());
  return m?.[1] ? [m[1].toLowerCase(), (m[2] ?? "").trim()] : null;
}

export function useRunCommand(conversationId: number) {
  const { api } = useServices();
  return useMutation({
    mutationFn: (body: Schemas["RunCommandIn"]) =>
      call(api.POST("/conversations/{conversation_id}/commands", { params: { path: { conversation_id: conversationId } }, body })),
  });
}
