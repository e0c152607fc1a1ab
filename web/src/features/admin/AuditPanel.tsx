/** Admin console → Audit log: every admin and moderator action (who, what, when, from which IP),
 * filtered, paged, and downloadable as CSV or JSON Lines. */
import { useState } from "react";
import { formatFull } from "../../lib/format";
import { Button, ErrorText, Spinner, TextField } from "../../lib/ui";
import { messageOf } from "../conversations/MembersPanel";
import { useAudit, useAuditExport, type AuditFilters } from "./queries";

const EMPTY: AuditFilters = { action: "", target_type: "", target_id: "", actor_id: "" };

export function AuditPanel() {
  const [draft, setDraft] = useState<AuditFilters>(EMPTY);
  const [filters, setFilters] = useState<AuditFilters>(EMPTY);
  const [pages, setPages] = useState<(number | null)[]>([null]);
  const before = pages[pages.length - 1] ?? null;
  const audit = useAudit(filters, before);
  const exporter = useAuditExport();
  const field = (key: keyof AuditFilters, label: string, hint?: string) => (
    <TextField label={label} hint={hint} value={draft[key]} onChange={(e) => setDraft({ ...draft, [key]: e.target.value })} className="min-w-32 flex-1" />
  );
  return (
    <div className="flex flex-col gap-3">
      <form
        className="flex flex-wrap items-end gap-2"
        aria-label="Filter the audit log"
        onSubmit={(e) => {
          e.preventDefault();
          setFilters(draft);
          setPages([null]);
        }}
      >
        {field("action", "Action", "e.g. user.deactivate, or user. for all")}
        {field("target_type", "Target type", "user, report, conversation…")}
        {field("target_id", "Target id")}
        {field("actor_id", "Actor id")}
        <Button type="submit">Filter</Button>
      </form>
      <div className="flex flex-wrap items-center gap-2">
        <Button variant="secondary" onClick={() => exporter.mutate({ filters, format: "csv" })} disabled={exporter.isPending} data-testid="admin-audit-export-csv">
          Download CSV
        </Button>
        <Button variant="secondary" onClick={() => exporter.mutate({ filters, format: "jsonl" })} disabled={exporter.isPending} data-testid="admin-audit-export-jsonl">
          Download JSON Lines
        </Button>
        {exporter.isSuccess && <span role="status" className="text-xs text-zinc-500 dark:text-zinc-400">Saved {exporter.data}</span>}
        {exporter.isError && <ErrorText>{messageOf(exporter.error)}</ErrorText>}
      </div>
      {audit.isPending && <Spinner />}
      {audit.isError && <ErrorText>{messageOf(audit.error)}</ErrorText>}
      {audit.data && (
        <>
          <div className="overflow-x-auto">
            <table className="w-full text-left text-sm" data-testid="admin-audit-table">
              <thead className="text-xs text-zinc-500 dark:text-zinc-400">
                <tr>
                  <th className="p-2 font-medium">When</th>
                  <th className="p-2 font-medium">Who</th>
                  <th className="p-2 font-medium">Action</th>
                  <th className="p-2 font-medium">Target</th>
                  <th className="p-2 font-medium">IP</th>
                  <th className="p-2 font-medium">Details</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-zinc-200 dark:divide-zinc-700">
                {audit.data.items.map((e) => (
                  <tr key={e.id} data-testid="admin-audit-row" data-action={e.action}>
                    <td className="p-2 whitespace-nowrap">{formatFull(e.at)}</td>
                    <td className="p-2">{e.actor_handle ? `@${e.actor_handle}` : e.actor_id ? `#${e.actor_id}` : "command line"}</td>
                    <td className="p-2 font-mono text-xs">{e.action}</td>
                    <td className="p-2 text-xs">
                      {e.target_type}
                      {e.target_id ? ` ${e.target_id}` : ""}
                    </td>
                    <td className="p-2 font-mono text-xs">{e.ip ?? "—"}</td>
                    <td className="max-w-64 truncate p-2 font-mono text-xs" title={JSON.stringify(e.details)}>
                      {Object.keys(e.details).length ? JSON.stringify(e.details) : ""}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {audit.data.items.length === 0 && <p className="text-sm text-zinc-500 dark:text-zinc-400">No entries.</p>}
          <div className="flex gap-2">
            <Button variant="secondary" disabled={pages.length === 1} onClick={() => setPages(pages.slice(0, -1))}>
              Newer
            </Button>
            <Button variant="secondary" disabled={audit.data.next_before === null} onClick={() => setPages([...pages, audit.data.next_before])}>
              Older
            </Button>
          </div>
        </>
      )}
    </div>
  );
}
