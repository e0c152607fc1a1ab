/** Server state for notifications: my settings, levels and push devices (docs/subsystems/notifications.md). */
import { useMutation, useQuery, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { call, type Schemas } from "../../api/client";
import { useServices } from "../../app/services";
import type { Level } from "./levels";

export type NotificationSettings = Schemas["NotificationSettingsOut"];
export type PushDevice = Schemas["PushSubscriptionOut"];
export type PushSubscriptionBody = Schemas["PushSubscriptionIn"];

export const notificationSettingsKey = ["notification-settings"] as const;
export const pushDevicesKey = ["push-subscriptions"] as const;

export function useNotificationSettings() {
  const { api } = useServices();
  return useQuery({ queryKey: notificationSettingsKey, queryFn: () => call(api.GET("/me/notifications")) });
}

/** My level in a conversation, from the cached settings (the default `all` until they load). */
export function levelIn(qc: QueryClient, conversationId: number): Level {
  const settings = qc.getQueryData<NotificationSettings>(notificationSettingsKey);
  return (settings?.levels[String(conversationId)] as Level | undefined) ?? "all";
}

export function useSetLevel(conversationId: number) {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (level: Level) =>
      call(
        api.PUT("/conversations/{conversation_id}/notifications", {
          params: { path: { conversation_id: conversationId } },
          body: { level },
        }),
      ),
    onSuccess: (out) => {
      qc.setQueryData<NotificationSettings>(notificationSettingsKey, (s) => {
        if (!s) return s;
        const levels = { ...s.levels };
        if (out.level === "all") delete levels[String(conversationId)];
        else levels[String(conversationId)] = out.level;
        return { ...s, levels };
      });
    },
  });
}

export function useSetEmail() {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (enabled: boolean) => call(api.PATCH("/me/notifications", { body: { email_enabled: enabled } })),
    onSuccess: (s) => qc.setQueryData(notificationSettingsKey, s),
  });
}

export function usePushDevices() {
  const { api } = useServices();
  return useQuery({ queryKey: pushDevicesKey, queryFn: () => call(api.GET("/me/push-subscriptions")) });
}

export function useAddPushDevice() {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: PushSubscriptionBody) => call(api.POST("/me/push-subscriptions", { body })),
    onSuccess: () => qc.invalidateQueries({ queryKey: pushDevicesKey }),
  });
}

export function useRemovePushDevice() {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: number) =>
      call(api.DELETE("/me/push-subscriptions/{subscription_id}", { params: { path: { subscription_id: id } } })),
    onSuccess: (_data, id) => qc.setQueryData<PushDevice[]>(pushDevicesKey, (list) => list?.filter((d) => d.id !== id)),
  });
}
