/** Server state for the admin console (docs/subsystems/admin.md). Every route is admins-only on the server. */
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ApiError, call, type Schemas } from "../../api/client";
import { useServices } from "../../app/services";

export type AdminUser = Schemas["AdminUserOut"];
export type AdminUserDetail = Schemas["AdminUserDetail"];
export type UserState = "all" | "active" | "deactivated" | "admins" | "bots";
export type AdminReport = Schemas["AdminReportOut"];
export type ReportDetail = Schemas["ReportDetail"];
export type ReportState = "open" | "resolved" | "all";
export type ReportAction = Schemas["ReportActionIn"]["action"];
export type AuditEntry = Schemas["AuditEntryOut"];
export type Status = Schemas["StatusOut"];

export const PAGE_SIZE = 25;

export function useAdminUsers(q: string, state: UserState, offset: number) {
  const { api } = useServices();
  return useQuery({
    queryKey: ["admin", "users", q, state, offset],
    queryFn: () => call(api.GET("/admin/users", { params: { query: { q, state, offset, limit: PAGE_SIZE } } })),
    placeholderData: keepPreviousData,
  });
}

export function useAdminUser(id: number | null) {
  const { api } = useServices();
  return useQuery({
    queryKey: ["admin", "user", id],
    queryFn: () => call(api.GET("/admin/users/{user_id}", { params: { path: { user_id: id ?? 0 } } })),
    enabled: id !== null,
  });
}

/** After any change to an account: its detail, the lists and the audit log are stale. */
function useAdminInvalidate() {
  const qc = useQueryClient();
  return () => qc.invalidateQueries({ queryKey: ["admin"] });
}

export type UserCommand =
  | { kind: "deactivate" }
  | { kind: "reactivate" }
  | { kind: "reset-2fa" }
  | { kind: "admin"; isAdmin: boolean }
  | { kind: "revoke-session"; sessionId: string }
  | { kind: "revoke-all" };

export function useUserCommand(userId: number) {
  const { api } = useServices();
  const invalidate = useAdminInvalidate();
  const path = { user_id: userId };
  return useMutation({
    mutationFn: async (cmd: UserCommand): Promise<unknown> => {
      switch (cmd.kind) {
        case "deactivate":
          return call(api.POST("/admin/users/{user_id}/deactivate", { params: { path } }));
        case "reactivate":
          return call(api.POST("/admin/users/{user_id}/reactivate", { params: { path } }));
        case "reset-2fa":
          return call(api.POST("/admin/users/{user_id}/reset-2fa", { params: { path } }));
        case "admin":
          return call(api.PUT("/admin/users/{user_id}/admin", { params: { path }, body: { is_admin: cmd.isAdmin } }));
        case "revoke-session":
          return call(
            api.DELETE("/admin/users/{user_id}/sessions/{session_id}", {
              params: { path: { ...path, session_id: cmd.sessionId } },
            }),
          );
        case "revoke-all":
          return call(api.DELETE("/admin/users/{user_id}/sessions", { params: { path } }));
      }
    },
    onSuccess: () => invalidate(),
  });
}

export function useAdminReports(state: ReportState) {
  const { api } = useServices();
  return useQuery({
    queryKey: ["admin", "reports", state],
    queryFn: () => call(api.GET("/admin/reports", { params: { query: { state, limit: 100 } } })),
  });
}

export function useAdminReport(id: number | null) {
  const { api } = useServices();
  return useQuery({
    queryKey: ["admin", "report", id],
    queryFn: () => call(api.GET("/admin/reports/{report_id}", { params: { path: { report_id: id ?? 0 } } })),
    enabled: id !== null,
  });
}

export function useReportAction(reportId: number) {
  const { api } = useServices();
  const invalidate = useAdminInvalidate();
  return useMutation({
    mutationFn: (body: { action: ReportAction; note: string }) =>
      call(api.POST("/admin/reports/{report_id}/actions", { params: { path: { report_id: reportId } }, body })),
    onSuccess: () => invalidate(),
  });
}

export interface AuditFilters {
  action: string;
  target_type: string;
  target_id: string;
  actor_id: string;
}

function auditQuery(f: AuditFilters) {
  const actor = Number(f.actor_id);
  return {
    action: f.action.trim() || undefined,
    target_type: f.target_type.trim() || undefined,
    target_id: f.target_id.trim() || undefined,
    actor_id: Number.isSafeInteger(actor) && actor > 0 ? actor : undefined,
  };
}

export function useAudit(filters: AuditFilters, before: number | null) {
  const { api } = useServices();
  return useQuery({
    queryKey: ["admin", "audit", filters, before],
    queryFn: () =>
      call(api.GET("/admin/audit", { params: { query: { ...auditQuery(filters), before: before ?? undefined, limit: 50 } } })),
    placeholderData: keepPreviousData,
  });
}

/** Download the filtered audit log: fetched with the bearer token (never put in a URL), saved as a file. */
export function useAuditExport() {
  const { api } = useServices();
  const invalidate = useAdminInvalidate();
  return useMutation({
    mutationFn: async ({ filters, format }: { filters: AuditFilters; format: "csv" | "jsonl" }) => {
      const { data, error, response } = await api.GET("/admin/audit/export", {
        params: { query: { ...auditQuery(filters), format } },
        parseAs: "blob",
      });
      if (error !== undefined || !data) throw new ApiError(response.status, `http_${response.status}`, "The export failed.");
      const name = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") ?? "")?.[1] ?? `tipline-audit.${format}`;
      const url = URL.createObjectURL(data as Blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = name;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      return name;
    },
    onSuccess: () => invalidate(),
  });
}

export function useStatus() {
  const { api } = useServices();
  return useQuery({
    queryKey: ["admin", "status"],
    queryFn: () => call(api.GET("/admin/status")),
    refetchInterval: 10_000,
  });
}
