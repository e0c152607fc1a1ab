/** Admin console → Reports: the queue of reported messages, with dismiss / delete the message /
 * deactivate the sender, and each report's history (who did what, when). */
import { useState } from "react";
import { formatFull } from "../../lib/format";
import { Button, ConfirmDialog, ErrorText, Spinner, cx } from "../../lib/ui";
import { messageOf } from "../conversations/MembersPanel";
import { useAdminReport, useAdminReports, useReportAction, type AdminReport, type ReportAction, type ReportState } from "./queries";

const ACTIONS: { action: ReportAction; label: string; confirm: string; danger: boolean }[] = [
  { action: "dismiss", label: "Dismiss", confirm: "The report is closed and the message stays.", danger: false },
  { action: "delete_message", label: "Delete message", confirm: "The message is deleted for everyone, and every open report of it is closed.", danger: true },
  { action: "deactivate_sender", label: "Deactivate sender", confirm: "The sender's account is deactivated: every session ends and sign-in is refused.", danger: true },
];

export function ReportsPanel() {
  const [state, setState] = useState<ReportState>("open");
  const [selected, setSelected] = useState<number | null>(null);
  const reports = useAdminReports(state);
  return (
    <div className="flex flex-col gap-4 lg:flex-row">
      <div className="flex min-w-0 flex-1 flex-col gap-3">
        <div role="radiogroup" aria-label="Which reports" className="flex gap-1">
          {(["open", "resolved", "all"] as const).map((s) => (
            <Button key={s} variant={s === state ? "primary" : "secondary"} role="radio" aria-checked={s === state} onClick={() => setState(s)} data-testid={`admin-reports-${s}`}>
              {s === "open" ? "Open" : s === "resolved" ? "Resolved" : "All"}
            </Button>
          ))}
        </div>
        {reports.isPending && <Spinner />}
        {reports.isError && <ErrorText>{messageOf(reports.error)}</ErrorText>}
        {reports.data?.length === 0 && <p className="text-sm text-zinc-500 dark:text-zinc-400" data-testid="admin-reports-empty">No reports here.</p>}
        <ul className="flex flex-col gap-2" data-testid="admin-report-list">
          {reports.data?.map((r) => (
            <ReportRow key={r.id} report={r} selected={r.id === selected} onSelect={() => setSelected(r.id)} />
          ))}
        </ul>
      </div>
      {selected !== null && <ReportDetailView id={selected} onClose={() => setSelected(null)} />}
    </div>
  );
}

function ReportRow({ report, selected, onSelect }: { report: AdminReport; selected: boolean; onSelect(): void }) {
  return (
    <li>
      <button
        type="button"
        onClick={onSelect}
        aria-current={selected ? "true" : undefined}
        data-testid={`admin-report-${report.id}`}
        className={cx("flex w-full flex-col gap-1 rounded-md border border-zinc-200 p-3 text-left text-sm hover:bg-zinc-50 dark:border-zinc-700 dark:hover:bg-zinc-800", selected && "border-indigo-400 bg-indigo-50 dark:bg-indigo-950")}
      >
        <span className="font-medium">“{report.reason}”</span>
        <span className="line-clamp-2 text-zinc-700 dark:text-zinc-200">
          {report.message_deleted ? <em>message deleted</em> : report.message_body}
        </span>
        <span className="text-xs text-zinc-500 dark:text-zinc-400">
          by @{report.reporter?.handle ?? "deleted user"} about @{report.sender?.handle ?? "deleted user"} in {report.conversation_name ?? report.conversation_kind} · {formatFull(report.created_at)}
          {report.resolution ? ` · ${report.resolution}` : ""}
        </span>
      </button>
    </li>
  );
}

function ReportDetailView({ id, onClose }: { id: number; onClose(): void }) {
  const report = useAdminReport(id);
  const act = useReportAction(id);
  const [note, setNote] = useState("");
  const [pending, setPending] = useState<(typeof ACTIONS)[number] | null>(null);
  if (report.isPending) return <Spinner />;
  if (report.isError) return <ErrorText>{messageOf(report.error)}</ErrorText>;
  const r = report.data;
  const run = () => {
    if (!pending) return;
    act.mutate({ action: pending.action, note: note.trim() }, { onSuccess: () => { setPending(null); setNote(""); } });
  };
  return (
    <aside className="flex w-full flex-col gap-3 rounded-md border border-zinc-200 p-4 lg:w-96 lg:shrink-0 dark:border-zinc-700" aria-label={`Report ${r.id}`} data-testid="admin-report-detail">
      <div className="flex items-start justify-between gap-2">
        <h2 className="font-semibold">Report #{r.id}</h2>
        <Button variant="ghost" onClick={onClose} aria-label="Close">
          ✕
        </Button>
      </div>
      <blockquote className="rounded bg-zinc-100 p-2 text-sm dark:bg-zinc-800" data-testid="admin-report-message">
        {r.message_deleted ? <em>This message was deleted.</em> : r.message_body}
      </blockquote>
      <p className="text-sm">
        <span className="text-zinc-500 dark:text-zinc-400">Reason:</span> {r.reason}
      </p>
      {r.resolved_at ? (
        <p className="text-sm" data-testid="admin-report-resolution">
          Resolved by @{r.resolved_by?.handle ?? "?"}: <strong>{r.resolution}</strong> ({formatFull(r.resolved_at)})
        </p>
      ) : (
        <>
          <label className="flex flex-col gap-1 text-sm font-medium text-zinc-700 dark:text-zinc-200">
            Note (optional)
            <textarea value={note} maxLength={1000} onChange={(e) => setNote(e.target.value)} className="rounded-md border border-zinc-300 bg-white p-2 text-sm font-normal dark:border-zinc-600 dark:bg-zinc-900" rows={2} />
          </label>
          <div className="flex flex-wrap gap-2">
            {ACTIONS.map((a) => (
              <Button key={a.action} variant={a.danger ? "danger" : "secondary"} onClick={() => { act.reset(); setPending(a); }} data-testid={`admin-report-${a.action}`}>
                {a.label}
              </Button>
            ))}
          </div>
        </>
      )}
      <section aria-label="History" className="flex flex-col gap-1">
        <h3 className="text-sm font-semibold">History</h3>
        <ol className="flex flex-col gap-1 text-xs" data-testid="admin-report-history">
          <li>
            {formatFull(r.created_at)} — reported by @{r.reporter?.handle ?? "deleted user"}
          </li>
          {r.history.map((h) => (
            <li key={h.id}>
              {formatFull(h.at)} — {h.action} by @{h.actor_handle ?? "system"}
              {h.ip ? ` from ${h.ip}` : ""}
            </li>
          ))}
        </ol>
      </section>
      {pending && (
        <ConfirmDialog
          title={`${pending.label}?`}
          confirmLabel={pending.label}
          danger={pending.danger}
          busy={act.isPending}
          error={act.isError ? messageOf(act.error) : null}
          onConfirm={run}
          onCancel={() => setPending(null)}
        >
          {pending.confirm}
        </ConfirmDialog>
      )}
    </aside>
  );
}
