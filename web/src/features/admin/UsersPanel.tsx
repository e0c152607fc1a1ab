/** Admin console → Users: search and page through accounts; deactivate, reactivate, reset two-factor,
 * make or remove admins, see and end sessions. */
import { useState } from "react";
import { formatFull } from "../../lib/format";
import { Avatar, BotBadge, Button, ConfirmDialog, ErrorText, Spinner, TextField, cx } from "../../lib/ui";
import { messageOf } from "../conversations/MembersPanel";
import { PAGE_SIZE, useAdminUser, useAdminUsers, useUserCommand, type AdminUser, type AdminUserDetail, type UserCommand, type UserState } from "./queries";
import { UserDetailExtras } from "./UserDetailExtras";

const STATES: { id: UserState; label: string }[] = [
  { id: "all", label: "Everyone" },
  { id: "active", label: "Active" },
  { id: "deactivated", label: "Deactivated" },
  { id: "admins", label: "Admins" },
  { id: "bots", label: "Bots" },
];

export function UsersPanel() {
  const [q, setQ] = useState("");
  const [state, setState] = useState<UserState>("all");
  const [offset, setOffset] = useState(0);
  const [selected, setSelected] = useState<number | null>(null);
  const users = useAdminUsers(q, state, offset);
  return (
    <div className="flex flex-col gap-4 lg:flex-row">
      <div className="flex min-w-0 flex-1 flex-col gap-3">
        <div className="flex flex-wrap items-end gap-2">
          <TextField
            label="Search people"
            placeholder="Name, @handle or email"
            value={q}
            onChange={(e) => {
              setQ(e.target.value);
              setOffset(0);
            }}
            className="min-w-48 flex-1"
            data-testid="admin-user-search"
          />
          <label className="flex flex-col gap-1 text-sm font-medium text-zinc-700 dark:text-zinc-200">
            Show
            <select
              value={state}
              onChange={(e) => {
                setState(e.target.value as UserState);
                setOffset(0);
              }}
              className="rounded-md border border-zinc-300 bg-white px-2 py-2 dark:border-zinc-600 dark:bg-zinc-900"
              data-testid="admin-user-state"
            >
              {STATES.map((s) => (
                <option key={s.id} value={s.id}>
                  {s.label}
                </option>
              ))}
            </select>
          </label>
        </div>
        {users.isPending && <Spinner />}
        {users.isError && <ErrorText>{messageOf(users.error)}</ErrorText>}
        {users.data && (
          <>
            <p className="text-xs text-zinc-500 dark:text-zinc-400" data-testid="admin-user-total">
              {users.data.total} {users.data.total === 1 ? "account" : "accounts"}
            </p>
            <ul className="flex flex-col divide-y divide-zinc-200 rounded-md border border-zinc-200 dark:divide-zinc-700 dark:border-zinc-700" data-testid="admin-user-list">
              {users.data.items.map((u) => (
                <UserRow key={u.id} user={u} selected={u.id === selected} onSelect={() => setSelected(u.id)} />
              ))}
            </ul>
            <div className="flex items-center gap-2 text-sm">
              <Button variant="secondary" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE_SIZE))}>
                Previous
              </Button>
              <span className="text-zinc-500 dark:text-zinc-400">
                {users.data.total === 0 ? 0 : offset + 1}–{Math.min(offset + PAGE_SIZE, users.data.total)} of {users.data.total}
              </span>
              <Button variant="secondary" disabled={offset + PAGE_SIZE >= users.data.total} onClick={() => setOffset(offset + PAGE_SIZE)}>
                Next
              </Button>
            </div>
          </>
        )}
      </div>
      {selected !== null && <UserDetail id={selected} onClose={() => setSelected(null)} />}
    </div>
  );
}

function UserRow({ user, selected, onSelect }: { user: AdminUser; selected: boolean; onSelect(): void }) {
  return (
    <li>
      <button
        type="button"
        onClick={onSelect}
        aria-current={selected ? "true" : undefined}
        data-testid={`admin-user-${user.handle}`}
        className={cx("flex w-full items-center gap-3 px-3 py-2 text-left text-sm hover:bg-zinc-50 dark:hover:bg-zinc-800", selected && "bg-indigo-50 dark:bg-indigo-950")}
      >
        <Avatar name={user.display_name} id={user.id} size="sm" />
        <span className="min-w-0 flex-1">
          <span className="block truncate font-medium">
            {user.display_name} {user.is_bot && <BotBadge />}
          </span>
          <span className="block truncate text-xs text-zinc-500 dark:text-zinc-400">
            @{user.handle}
            {user.email ? ` · ${user.email}` : ""}
          </span>
        </span>
        {user.is_admin && <Tag tone="indigo">admin</Tag>}
        {!user.is_active && <Tag tone="red">deactivated</Tag>}
      </button>
    </li>
  );
}

function Tag({ tone, children }: { tone: "indigo" | "red" | "zinc"; children: React.ReactNode }) {
  const tones = {
    indigo: "bg-indigo-100 text-indigo-800 dark:bg-indigo-900 dark:text-indigo-100",
    red: "bg-red-100 text-red-800 dark:bg-red-900 dark:text-red-100",
    zinc: "bg-zinc-100 text-zinc-700 dark:bg-zinc-800 dark:text-zinc-200",
  };
  return <span className={cx("shrink-0 rounded px-1.5 py-0.5 text-xs font-medium", tones[tone])}>{children}</span>;
}

interface Pending {
  cmd: UserCommand;
  title: string;
  body: string;
  confirm: string;
  danger: boolean;
}

function commandFor(user: AdminUserDetail, kind: "active" | "2fa" | "admin" | "revoke-all"): Pending {
  if (kind === "active") {
    return user.is_active
      ? { cmd: { kind: "deactivate" }, title: `Deactivate @${user.handle}?`, body: "Every session ends at once and sign-in is refused until the account is reactivated.", confirm: "Deactivate", danger: true }
      : { cmd: { kind: "reactivate" }, title: `Reactivate @${user.handle}?`, body: "They can sign in again.", confirm: "Reactivate", danger: false }
  }
  if (kind === "2fa") {
    return { cmd: { kind: "reset-2fa" }, title: `Reset two-factor for @${user.handle}?`, body: "Their authenticator app, recovery codes and passkeys are removed; they sign in with their password alone until they set up a new one.", confirm: "Reset two-factor", danger: true };
  }
  if (kind === "admin") {
    return user.is_admin
      ? { cmd: { kind: "admin", isAdmin: false }, title: `Remove @${user.handle} as admin?`, body: "They lose access to this console.", confirm: "Remove admin", danger: true }
      : { cmd: { kind: "admin", isAdmin: true }, title: `Make @${user.handle} an admin?`, body: "They can manage every account, report and server setting.", confirm: "Make admin", danger: false };
  }
  return { cmd: { kind: "revoke-all" }, title: `Sign @${user.handle} out everywhere?`, body: "Every session and personal access token of the account ends.", confirm: "Sign out everywhere", danger: true };
}

function UserDetail({ id, onClose }: { id: number; onClose(): void }) {
  const detail = useAdminUser(id);
  const command = useUserCommand(id);
  const [pending, setPending] = useState<Pending | null>(null);
  if (detail.isPending) return <Spinner />;
  if (detail.isError) return <ErrorText>{messageOf(detail.error)}</ErrorText>;
  const u = detail.data;
  const ask = (p: Pending) => {
    command.reset();
    setPending(p);
  };
  const run = () => {
    if (!pending) return;
    command.mutate(pending.cmd, { onSuccess: () => setPending(null) });
  };
  const f = u.second_factors;
  return (
    <aside className="flex w-full flex-col gap-4 rounded-md border border-zinc-200 p-4 lg:w-96 lg:shrink-0 dark:border-zinc-700" aria-label={`Account @${u.handle}`} data-testid="admin-user-detail">
      <div className="flex items-start gap-3">
        <Avatar name={u.display_name} id={u.id} />
        <div className="min-w-0 flex-1">
          <h2 className="truncate font-semibold">{u.display_name}</h2>
          <p className="truncate text-sm text-zinc-500 dark:text-zinc-400">@{u.handle} · id {u.id}</p>
        </div>
        <Button variant="ghost" onClick={onClose} aria-label="Close">
          ✕
        </Button>
      </div>
      <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-1 text-sm">
        <dt className="text-zinc-500 dark:text-zinc-400">Email</dt>
        <dd className="truncate">{u.email ?? "—"} {u.email && !u.email_verified && <Tag tone="zinc">unverified</Tag>}</dd>
        <dt className="text-zinc-500 dark:text-zinc-400">Joined</dt>
        <dd>{formatFull(u.created_at)}</dd>
        <dt className="text-zinc-500 dark:text-zinc-400">State</dt>
        <dd data-testid="admin-user-state-text">
          {u.is_active ? "Active" : "Deactivated"}
          {u.is_admin ? " · admin" : ""}
        </dd>
        <dt className="text-zinc-500 dark:text-zinc-400">Two-factor</dt>
        <dd data-testid="admin-user-2fa">
          {f.totp || f.passkeys > 0
            ? [f.totp && `authenticator app (${f.recovery_codes_left} recovery codes left)`, f.passkeys > 0 && `${f.passkeys} passkey${f.passkeys === 1 ? "" : "s"}`].filter(Boolean).join(", ")
            : "none"}
        </dd>
        <dt className="text-zinc-500 dark:text-zinc-400">Open reports</dt>
        <dd>{u.open_reports_against}</dd>
      </dl>
      <div className="flex flex-wrap gap-2">
        <Button variant={u.is_active ? "danger" : "secondary"} onClick={() => ask(commandFor(u, "active"))} data-testid="admin-toggle-active">
          {u.is_active ? "Deactivate" : "Reactivate"}
        </Button>
        <Button variant="secondary" onClick={() => ask(commandFor(u, "2fa"))} disabled={!f.totp && f.passkeys === 0 && f.recovery_codes_left === 0} data-testid="admin-reset-2fa">
          Reset two-factor
        </Button>
        <Button variant="secondary" onClick={() => ask(commandFor(u, "admin"))} disabled={u.is_bot && !u.is_admin} data-testid="admin-toggle-admin">
          {u.is_admin ? "Remove admin" : "Make admin"}
        </Button>
        <UserDetailExtras user={u} />
      </div>
      {command.isError && !pending && <ErrorText>{messageOf(command.error)}</ErrorText>}
      <Sessions user={u} onRevoke={(sessionId) => command.mutate({ kind: "revoke-session", sessionId })} onRevokeAll={() => ask(commandFor(u, "revoke-all"))} />
      {pending && (
        <ConfirmDialog
          title={pending.title}
          confirmLabel={pending.confirm}
          danger={pending.danger}
          busy={command.isPending}
          error={command.isError ? messageOf(command.error) : null}
          onConfirm={run}
          onCancel={() => setPending(null)}
        >
          {pending.body}
        </ConfirmDialog>
      )}
    </aside>
  );
}

function Sessions({ user, onRevoke, onRevokeAll }: { user: AdminUserDetail; onRevoke(id: string): void; onRevokeAll(): void }) {
  return (
    <section aria-label="Sessions" className="flex flex-col gap-2">
      <div className="flex items-center justify-between">
        <h3 className="text-sm font-semibold">Sessions ({user.sessions.length})</h3>
        {user.sessions.length > 0 && (
          <Button variant="ghost" className="text-xs" onClick={onRevokeAll}>
            Sign out everywhere
          </Button>
        )}
      </div>
      {user.sessions.length === 0 && <p className="text-sm text-zinc-500 dark:text-zinc-400">No live sessions.</p>}
      <ul className="flex flex-col gap-1" data-testid="admin-user-sessions">
        {user.sessions.map((s) => (
          <li key={s.id} className="flex items-center gap-2 rounded border border-zinc-200 p-2 text-xs dark:border-zinc-700">
            <div className="min-w-0 flex-1">
              <p className="truncate">
                {s.kind === "token" ? "API token" : s.user_agent || "Unknown device"}
              </p>
              <p className="truncate text-zinc-500 dark:text-zinc-400">
                {s.ip || "no IP"} · last used {formatFull(s.last_used_at)}
              </p>
            </div>
            <Button variant="ghost" className="text-xs" onClick={() => onRevoke(s.id)} aria-label={`End session from ${s.ip || "unknown address"}`}>
              End
            </Button>
          </li>
        ))}
      </ul>
    </section>
  );
}
