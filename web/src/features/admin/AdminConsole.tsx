/** The admin console: a tab per area, each at its own address (/console/users, /console/reports, ...).
 * Not under /admin: that path prefix is the API's, so a reload or a shared link there would reach
 * the API instead of this page. The server checks that the caller is an admin on every request
 * (docs/subsystems/admin.md); this page only hides itself from people who are not. */
import { Link, useRoute } from "wouter";
import { useMe } from "../accounts/queries";
import { cx } from "../../lib/ui";
import { AuditPanel } from "./AuditPanel";
import { ImportsPanel } from "./imports/ImportsPanel";
import { ReportsPanel } from "./ReportsPanel";
import { ServerSettings } from "./settings/ServerSettings";
import { StatusPanel } from "./StatusPanel";
import { UsersPanel } from "./UsersPanel";

export const TABS = [
  { id: "users", label: "Users", Panel: UsersPanel },
  { id: "reports", label: "Reports", Panel: ReportsPanel },
  { id: "audit", label: "Audit log", Panel: AuditPanel },
  { id: "status", label: "Status", Panel: StatusPanel },
  { id: "settings", label: "Settings", Panel: ServerSettings },
  { id: "imports", label: "Imports", Panel: ImportsPanel },
] as const;

export type TabId = (typeof TABS)[number]["id"];

export function AdminConsole() {
  const me = useMe();
  const [, params] = useRoute<{ tab: string }>("/console/:tab");
  const current = TABS.find((t) => t.id === params?.tab) ?? TABS[0];
  if (me && !me.is_admin) {
    return (
      <div className="p-6" data-testid="admin-refused">
        <p className="text-sm text-zinc-600 dark:text-zinc-300">Only server admins can open the admin console.</p>
      </div>
    );
  }
  const { Panel } = current;
  return (
    <div className="flex min-h-0 flex-1 flex-col" data-testid="admin-console">
      <header className="border-b border-zinc-200 px-4 pt-3 dark:border-zinc-700">
        <h1 className="text-lg font-semibold">Admin console</h1>
        <nav role="tablist" aria-label="Admin areas" className="-mb-px mt-2 flex gap-1 overflow-x-auto">
          {TABS.map((t) => (
            <Link
              key={t.id}
              href={`/console/${t.id}`}
              role="tab"
              aria-selected={t.id === current.id}
              data-testid={`admin-tab-${t.id}`}
              className={cx(
                "shrink-0 border-b-2 px-3 py-2 text-sm font-medium",
                t.id === current.id
                  ? "border-indigo-600 text-indigo-700 dark:text-indigo-300"
                  : "border-transparent text-zinc-600 hover:text-zinc-900 dark:text-zinc-300 dark:hover:text-white",
              )}
            >
              {t.label}
            </Link>
          ))}
        </nav>
      </header>
      <section role="tabpanel" aria-label={current.label} className="min-h-0 flex-1 overflow-y-auto p-4" data-testid={`admin-panel-${current.id}`}>
        <Panel />
      </section>
    </div>
  );
}
