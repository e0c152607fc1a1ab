/** Server state for the admin console's Settings tab (docs/subsystems/admin.md, Server settings). */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { call, type Schemas } from "../../../api/client";
import { useServices } from "../../../app/services";
import { setCustomEmoji } from "../../../lib/emoji";

export type ServerSettingsValue = Schemas["ServerSettingsOut"];
export type SettingsPatch = Schemas["ServerSettingsPatch"];
export type Invite = Schemas["InviteOut"];
export type NewInvite = Schemas["InviteCreated"];
export type CustomEmoji = Schemas["EmojiAdminOut"];

export function useServerSettings() {
  const { api } = useServices();
  return useQuery({ queryKey: ["admin", "settings"], queryFn: () => call(api.GET("/admin/settings")) });
}

export function useUpdateSettings() {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: SettingsPatch) => call(api.PATCH("/admin/settings", { body })),
    onSuccess: (value) => {
      qc.setQueryData(["admin", "settings"], value);
      void qc.invalidateQueries({ queryKey: ["signup-info"] });
    },
  });
}

export function useInvites() {
  const { api } = useServices();
  // Uses change as people sign up: read again each time the list is shown.
  return useQuery({ queryKey: ["admin", "invites"], queryFn: () => call(api.GET("/admin/invites")), refetchOnMount: "always" });
}

export function useCreateInvite() {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: Schemas["InviteCreateIn"]) => call(api.POST("/admin/invites", { body })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["admin", "invites"] }),
  });
}

export function useRevokeInvite() {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => call(api.DELETE("/admin/invites/{invite_id}", { params: { path: { invite_id: id } } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["admin", "invites"] }),
  });
}

export function useAdminEmoji() {
  const { api } = useServices();
  return useQuery({ queryKey: ["admin", "emoji"], queryFn: () => call(api.GET("/admin/emoji")) });
}

export function useUploadEmoji() {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ name, file }: { name: string; file: File }) => {
      const form = new FormData();
      form.append("name", name);
      form.append("file", file);
      return call(
        api.POST("/admin/emoji", {
          // Multipart: the browser sets the boundary; the typed body is the form's fields.
          body: { name, file: "" } as never,
          bodySerializer: () => form,
        }),
      );
    },
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ["admin", "emoji"] });
      void qc.invalidateQueries({ queryKey: ["emoji"] });
    },
  });
}

export function useDeleteEmoji() {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (name: string) => call(api.DELETE("/admin/emoji/{name}", { params: { path: { name } } })),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ["admin", "emoji"] });
      void qc.invalidateQueries({ queryKey: ["emoji"] });
    },
  });
}

/**
 * The server's custom emoji for everyone signed in (`GET /emoji`), handed to lib/emoji so the
 * picker, `:shortcode:` completion, messages and reactions show them. Mounted once per
 * conversation view; refreshed every minute.
 */
export function useCustomEmojiSync() {
  const { api } = useServices();
  const list = useQuery({ queryKey: ["emoji"], queryFn: () => call(api.GET("/emoji")), staleTime: 60_000, refetchInterval: 60_000 });
  useEffect(() => {
    if (list.data) setCustomEmoji(list.data.map((e) => ({ name: e.name, url: e.url })));
  }, [list.data]);
}
