/** Admin console → Imports: every `tipline import` run, newest first, with its progress bar and counts
 * (docs/subsystems/import.md, "Progress in the admin console"). Refreshed every 2 s while a run is going. */
import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { call, type Schemas } from "../../../api/client";
import { useServices } from "../../../app/services";
import { formatFull } from "../../../lib/format";
import { Button, ErrorText, Spinner, cx } from "../../../lib/ui";
import { messageOf } from "../../conversations/MembersPanel";

export type ImportRun = Schemas["ImportRunOut"];

const KINDS = ["users", "conversations", "messages", "replies", "reactions", "files"] as const;
const POLL_MS = 2000;

export function useImportRuns() {
  const { api } = useServices();
  return useQuery({
    queryKey: ["admin", "imports"],
    queryFn: () => call(api.GET("/admin/imports", { params: { query: { limit: 100 } } })),
    refetchInterval: (query) => (query.state.data?.some((r) => r.state === "running") ? POLL_MS : false),
  });
}

function percent(run: ImportRun): number | null {
  if (run.state === "done") return 100;
  if (!run.total) return null;
  return Math.min(100, Math.floor((100 * run.processed) / run.total));
}

function StateBadge({ state }: { state: ImportRun["state"] }) {
  const style = {
    running: "bg-sky-100 text-sky-800 dark:bg-sky-900 dark:text-sky-100",
    done: "bg-emerald-100 text-emerald-800 dark:bg-emerald-900 dark:text-emerald-100",
    failed: "bg-red-100 text-red-800 dark:bg-red-900 dark:text-red-100",
  }[state];
  return <span className={cx("rounded px-1.5 py-0.5 text-xs font-medium", style)}>{state}</span>;
}

function ProgressBar({ run }: { run: ImportRun }) {
  const pct = percent(run);
  const label = run.total === null ? `${run.processed.toLocaleString()} messages` : `${run.processed.toLocaleString()} / ${run.total.toLocaleString()} messages`;
  return (
    <div className="flex items-center gap-2 text-xs">
      <div
        role="progressbar"
        aria-label={`Import of ${run.file_name}`}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={pct ?? undefined}
        className="h-2 w-48 overflow-hidden rounded bg-zinc-200 dark:bg-zinc-700"
      >
        <div className={cx("h-full", run.state === "failed" ? "bg-red-500" : "bg-emerald-500")} style={{ width: `${pct ?? 0}%` }} />
      </div>
      <span data-testid="import-progress">
        {pct === null ? "validating…" : `${pct}%`} · {label}
      </span>
    </div>
  );
}

function Counts({ run }: { run: ImportRun }) {
  const created = run.counts.created ?? {};
  const matched = run.counts.matched ?? {};
  return (
    <table className="text-left text-xs" data-testid="import-counts">
      <thead className="text-zinc-500 dark:text-zinc-400">
        <tr>
          <th className="pr-3 font-medium">Kind</th>
          <th className="pr-3 font-medium">Imported</th>
          <th className="pr-3 font-medium">Already there</th>
        </tr>
      </thead>
      <tbody>
        {KINDS.map((k) => (
          <tr key={k} data-testid={`import-count-${k}`}>
            <td className="pr-3">{k}</td>
            <td className="pr-3">{(created[k] ?? 0).toLocaleString()}</td>
            <td className="pr-3">{(matched[k] ?? 0).toLocaleString()}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Reasons({ title, items }: { title: string; items: Record<string, number> | undefined }) {
  const entries = Object.entries(items ?? {});
  if (entries.length === 0) return null;
  return (
    <div className="text-xs">
      <h4 className="font-medium">{title}</h4>
      <ul className="list-inside list-disc">
        {entries.map(([reason, n]) => (
          <li key={reason}>
            {n.toLocaleString()} · {reason}
          </li>
        ))}
      </ul>
    </div>
  );
}

function RunItem({ run }: { run: ImportRun }) {
  const [open, setOpen] = useState(false);
  return (
    <li className="flex flex-col gap-2 rounded-md border border-zinc-200 p-3 dark:border-zinc-700" data-testid="import-run" data-state={run.state}>
      <div className="flex flex-wrap items-center gap-2 text-sm">
        <span className="font-mono">{run.file_name}</span>
        <span className="text-xs text-zinc-500 dark:text-zinc-400">{run.source === "slack" ? "Slack" : "Mattermost"}</span>
        <StateBadge state={run.state} />
        <span className="text-xs text-zinc-500 dark:text-zinc-400">
          started {formatFull(run.started_at)}
          {run.finished_at ? ` · finished ${formatFull(run.finished_at)}` : ` · updated ${formatFull(run.updated_at)}`}
        </span>
        <Button variant="ghost" className="ml-auto text-xs" aria-expanded={open} onClick={() => setOpen((o) => !o)}>
          {open ? "Hide details" : "Details"}
        </Button>
      </div>
      <ProgressBar run={run} />
      {run.last_error ? (
        <p className="text-xs text-red-700 dark:text-red-300" data-testid="import-error">
          {run.last_error}
        </p>
      ) : null}
      {open ? (
        <div className="flex flex-wrap gap-6">
          <Counts run={run} />
          <Reasons title="Skipped" items={run.counts.skipped} />
          <Reasons title="Notes" items={run.counts.notes} />
        </div>
      ) : null}
    </li>
  );
}

export function ImportsPanel() {
  const runs = useImportRuns();
  if (runs.isPending) return <Spinner />;
  if (runs.isError) return <ErrorText>{messageOf(runs.error)}</ErrorText>;
  return (
    <div className="flex flex-col gap-3" data-testid="imports-panel">
      <div className="flex items-center gap-2 text-xs text-zinc-500 dark:text-zinc-400">
        <span>
          Runs of <code>tipline import slack|mattermost</code> on this server, newest first.
        </span>
        <Button variant="ghost" className="text-xs" onClick={() => void runs.refetch()}>
          Refresh
        </Button>
      </div>
      {runs.data.length === 0 ? (
        <p className="text-sm text-zinc-500 dark:text-zinc-400" data-testid="imports-empty">
          No import has run yet.
        </p>
      ) : (
        <ul className="flex flex-col gap-2">
          {runs.data.map((run) => (
            <RunItem key={run.id} run={run} />
          ))}
        </ul>
      )}
    </div>
  );
}
