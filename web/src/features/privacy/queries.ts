/** Server state for "Your data": exports of my data and deleting my account (docs/subsystems/accounts.md). */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ApiError, call, type ApiClient, type Schemas } from "../../api/client";
import { useServices } from "../../app/services";

export type DataExport = Schemas["ExportOut"];

const BUILDING: DataExport["state"][] = ["queued", "running"];

export function isBuilding(e: DataExport | undefined): boolean {
  return e !== undefined && BUILDING.includes(e.state);
}

/** My exports, polled every second while one is being built (its progress moves). */
export function useExports() {
  const { api } = useServices();
  return useQuery({
    queryKey: ["exports"],
    queryFn: () => call(api.GET("/me/exports")),
    refetchInterval: (q) => ((q.state.data ?? []).some(isBuilding) ? 1000 : false),
  });
}

export function useRequestExport() {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: () => call(api.POST("/me/exports")),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["exports"] }),
  });
}

/** The zip as a Blob: fetched with the session's bearer token, never through a link that works alone. */
export async function fetchExport(api: ApiClient, id: string): Promise<Blob> {
  const result = await api.GET("/me/exports/{export_id}/download", {
    params: { path: { export_id: id } },
    parseAs: "blob",
  });
  if (!result.response.ok || !result.data) {
    throw new ApiError(result.response.status, `http_${result.response.status}`, "This export could not be downloaded.");
  }
  return result.data;
}

/** Save a Blob as a file the way a download link would. */
export function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export function useDeleteAccount() {
  const { api, session, queryClient } = useServices();
  return useMutation({
    mutationFn: (body: { password?: string; code?: string; handle?: string }) =>
      call(api.POST("/me/delete", { body })),
    onSuccess: () => {
      // Every session is revoked by now: end this one here too, which lands on the sign-in page.
      const userId = session.current()?.user.id;
      if (userId !== undefined) localStorage.removeItem(`tipline.outbox.${userId}`);
      session.clear();
      queryClient.clear();
    },
  });
}
