/** Admin console → Status: nodes, PostgreSQL, Redis, the chain watcher and queue depths (refreshed every 10 s). */
import { formatFull } from "../../lib/format";
import { Button, ErrorText, Spinner, cx } from "../../lib/ui";
import { messageOf } from "../conversations/MembersPanel";
import { useStatus, type Status } from "./queries";

function age(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function Health({ ok, children, testId }: { ok: boolean | null; children: React.ReactNode; testId: string }) {
  return (
    <div className={cx("rounded-md border p-3 text-sm", ok === null ? "border-zinc-200 dark:border-zinc-700" : ok ? "border-emerald-300 dark:border-emerald-700" : "border-red-400 dark:border-red-700")} data-testid={testId} data-ok={ok === null ? "n/a" : String(ok)}>
      {children}
    </div>
  );
}

export function StatusPanel() {
  const status = useStatus();
  if (status.isPending) return <Spinner />;
  if (status.isError) return <ErrorText>{messageOf(status.error)}</ErrorText>;
  const s = status.data;
  return (
    <div className="flex flex-col gap-4">
      <div className="flex items-center gap-2 text-xs text-zinc-500 dark:text-zinc-400">
        <span>Checked {formatFull(s.checked_at)} by node {s.node_id}</span>
        <Button variant="ghost" className="text-xs" onClick={() => void status.refetch()}>
          Refresh
        </Button>
      </div>
      <div className="grid gap-3 sm:grid-cols-2 lg:grid-cols-4">
        <Health ok={s.database.reachable} testId="status-database">
          <h3 className="font-semibold">PostgreSQL</h3>
          <p>{s.database.reachable ? `reachable · ${s.database.latency_ms} ms` : `unreachable (${s.database.error ?? "?"})`}</p>
        </Health>
        <Health ok={s.redis.configured ? s.redis.reachable : null} testId="status-redis">
          <h3 className="font-semibold">Redis</h3>
          <p>{!s.redis.configured ? "not configured (single node)" : s.redis.reachable ? `reachable · ${s.redis.latency_ms} ms` : `unreachable (${s.redis.error ?? "?"})`}</p>
        </Health>
        <Health ok={s.bus_healthy} testId="status-bus">
          <h3 className="font-semibold">Event bus</h3>
          <p>{s.bus_healthy ? "connected" : "disconnected"}</p>
        </Health>
        <Watcher s={s} />
      </div>
      <section aria-label="Nodes">
        <h3 className="mb-1 text-sm font-semibold">Nodes ({s.nodes.length})</h3>
        <ul className="flex flex-col gap-1 text-sm" data-testid="status-nodes">
          {s.nodes.map((n) => (
            <li key={n.id} className="font-mono text-xs">
              {n.id}
              {n.this_node ? ` (this node · ${n.connections ?? 0} sockets, ${n.users ?? 0} people)` : ""}
            </li>
          ))}
        </ul>
      </section>
      <section aria-label="Queues">
        <h3 className="mb-1 text-sm font-semibold">Queues</h3>
        <table className="w-full text-left text-sm" data-testid="status-queues">
          <thead className="text-xs text-zinc-500 dark:text-zinc-400">
            <tr>
              <th className="p-1 font-medium">Queue</th>
              <th className="p-1 font-medium">Pending</th>
              <th className="p-1 font-medium">Oldest</th>
              <th className="p-1 font-medium">Failed</th>
              <th className="p-1 font-medium">Done (1 h)</th>
            </tr>
          </thead>
          <tbody>
            {s.queues.map((q) => (
              <tr key={q.name} data-testid={`status-queue-${q.name}`}>
                <td className="p-1 font-mono text-xs">{q.name}</td>
                <td className="p-1">{q.pending}</td>
                <td className="p-1">{age(q.oldest_pending_s)}</td>
                <td className="p-1">{q.failed ?? "—"}</td>
                <td className="p-1">{q.done_last_hour ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section aria-label="Mail outbox" className="text-sm" data-testid="status-mail">
        <h3 className="mb-1 font-semibold">Mail outbox</h3>
        <p>
          {s.mail.pending} waiting ({s.mail.retrying} retrying, oldest {age(s.mail.oldest_pending_s)}) · {s.mail.failed} refused for good · {s.mail.sent_last_hour} sent in the last hour, {s.mail.sent_last_day} today
          {s.mail.worker_enabled ? "" : " · the mail worker is off on this node"}
        </p>
      </section>
    </div>
  );
}

function Watcher({ s }: { s: Status }) {
  const w = s.watcher;
  return (
    <Health ok={w.configured ? (w.active_here ? (w.lag_blocks ?? 0) < 20 : null) : null} testId="status-watcher">
      <h3 className="font-semibold">Chain watcher</h3>
      {!w.configured && <p>tipping not configured</p>}
      {w.configured && !w.active_here && <p>running on another node</p>}
      {w.active_here && (
        <p>
          head {w.head ?? "?"} · scanned {w.scanned ?? "?"} · lag {w.lag_blocks ?? "?"} blocks
        </p>
      )}
      <p className="text-xs text-zinc-500 dark:text-zinc-400">
        {w.pending_tips} tips pending{w.oldest_pending_s !== null && w.oldest_pending_s !== undefined ? `, oldest ${age(w.oldest_pending_s)}` : ""}
      </p>
    </Health>
  );
}
