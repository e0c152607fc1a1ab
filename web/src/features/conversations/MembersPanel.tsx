/** Members of a group or channel: presence, roles; owners and admins invite, remove and promote. */
import { useState, type FormEvent } from "react";
import { Link, useLocation } from "wouter";
import { ApiError, type Conversation, type Member } from "../../api/client";
import { errorMessage } from "../../lib/errors";
import { Avatar, BotBadge, Button, ConfirmDialog, ErrorText, PresenceDot, Spinner, TextField } from "../../lib/ui";
import { useMe } from "../accounts/queries";
import { Leaderboard } from "../tips/Leaderboard";
import { useTippingEnabled } from "../tips/config";
import { usePresence } from "./presence";
import {
  conversationTitle,
  useChangeRole,
  useInvite,
  useLeave,
  useLookupHandle,
  useMembers,
  useRemoveMember,
  useUpdateConversation,
} from "./queries";

const roleOrder = { owner: 0, admin: 1, member: 2 } as const;

export function MembersPanel({
  conversation: c,
  onTip,
}: {
  conversation: Conversation;
  /** Tip a member (opens the tip dialog); absent: no Tip buttons. */
  onTip?(userId: number, name: string): void;
}) {
  const me = useMe();
  const members = useMembers(c.id);
  const invite = useInvite(c.id);
  const remove = useRemoveMember(c.id);
  const changeRole = useChangeRole(c.id);
  const leave = useLeave();
  const lookup = useLookupHandle();
  const [, navigate] = useLocation();
  const [handle, setHandle] = useState("");
  const [error, setError] = useState<string | null>(null);
  const manager = c.role === "owner" || c.role === "admin";
  const owner = c.role === "owner";
  const [confirmLeave, setConfirmLeave] = useState(false);
  const what = c.kind === "group" ? "group" : "channel";
  const tipping = useTippingEnabled();

  const onInvite = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const user = await lookup(handle);
      await invite.mutateAsync(user.id);
      setHandle("");
    } catch (err) {
      setError(err instanceof ApiError && err.code === "user_not_found" ? `No one has the handle @${handle.replace(/^@/, "")}.` : errorMessage(err));
    }
  };

  const sorted = [...(members.data ?? [])].sort(
    (a, b) => roleOrder[a.role] - roleOrder[b.role] || a.user.display_name.localeCompare(b.user.display_name),
  );

  return (
    <aside
      aria-label="Members"
      onKeyDown={(e) => {
        if (e.key === "Escape" && !e.defaultPrevented) navigate(`/c/${c.id}`);
      }}
      className="flex w-full flex-col border-l border-zinc-200 bg-white max-lg:absolute max-lg:inset-0 max-lg:z-30 lg:w-80 dark:border-zinc-700 dark:bg-zinc-900"
    >
      <div className="flex items-center gap-2 border-b border-zinc-200 px-4 py-3 dark:border-zinc-700">
        <h2 className="flex-1 text-base font-semibold">Members</h2>
        <Link href={`/c/${c.id}`} className="rounded-md px-2 py-1 text-sm hover:bg-zinc-100 dark:hover:bg-zinc-800" aria-label="Close members">
          ✕
        </Link>
      </div>
      <div className="flex-1 overflow-y-auto p-4">
        {manager && <ConversationSettings conversation={c} />}
        {manager && !c.archived && (
          <form onSubmit={onInvite} className="mb-4 flex items-end gap-2">
            <TextField
              label="Invite by handle"
              placeholder="@handle"
              value={handle}
              onChange={(e) => setHandle(e.target.value)}
              className="flex-1"
              autoComplete="off"
            />
            <Button type="submit" className="h-[2.625rem] shrink-0" disabled={!handle.trim() || invite.isPending}>
              Invite
            </Button>
          </form>
        )}
        <ErrorText>{error}</ErrorText>
        {members.isPending ? (
          <Spinner />
        ) : (
          <ul className="flex flex-col gap-1" data-testid="members">
            {sorted.map((m) => (
              <MemberRow
                key={m.user.id}
                member={m}
                isMe={m.user.id === me?.id}
                canRemove={manager && m.user.id !== me?.id && (owner || m.role === "member")}
                canChangeRole={owner && m.user.id !== me?.id}
                onRemove={() => remove.mutate(m.user.id, { onError: (err) => setError(errorMessage(err)) })}
                onRole={(role) => changeRole.mutate({ userId: m.user.id, role }, { onError: (err) => setError(errorMessage(err)) })}
                onTip={onTip && m.user.id !== me?.id ? () => onTip(m.user.id, m.user.display_name) : undefined}
              />
            ))}
          </ul>
        )}
        {tipping && <Leaderboard conversationId={c.id} />}
        <div className="mt-6 border-t border-zinc-200 pt-4 dark:border-zinc-700">
          <Button variant="secondary" onClick={() => setConfirmLeave(true)}>
            Leave {what}
          </Button>
        </div>
        {confirmLeave && (
          <ConfirmDialog
            title={`Leave ${conversationTitle(c)}?`}
            confirmLabel={`Leave ${what}`}
            danger
            busy={leave.isPending}
            error={leave.isError ? errorMessage(leave.error) : null}
            onCancel={() => {
              leave.reset();
              setConfirmLeave(false);
            }}
            onConfirm={() => leave.mutate(c.id, { onSuccess: () => navigate("/") })}
          >
            <p>{leaveConsequence(c)}</p>
          </ConfirmDialog>
        )}
      </div>
    </aside>
  );
}

function MemberRow({
  member: m,
  isMe,
  canRemove,
  canChangeRole,
  onRemove,
  onRole,
  onTip,
}: {
  member: Member;
  isMe: boolean;
  canRemove: boolean;
  canChangeRole: boolean;
  onRemove(): void;
  onRole(role: "owner" | "admin" | "member"): void;
  onTip?: (() => void) | undefined;
}) {
  const presence = usePresence(m.user.id);
  const [confirm, setConfirm] = useState(false);
  return (
    <li className="flex flex-wrap items-center gap-2 rounded-md px-1 py-1.5" data-testid="member" data-handle={m.user.handle}>
      <span className="relative">
        <Avatar name={m.user.display_name} id={m.user.id} size="sm" />
        <PresenceDot status={presence} className="absolute -right-0.5 -bottom-0.5" />
      </span>
      {/* At least 8rem for the name: when the actions beside it do not fit, they wrap under it
          instead of squeezing the name to a letter. */}
      <span className="min-w-32 flex-1 basis-32" data-testid="member-name">
        <span className="flex min-w-0 text-sm font-medium" title={m.user.display_name}>
          <span className="truncate">{m.user.display_name}</span>
          {m.user.is_bot && <BotBadge className="ml-1 self-center" />}
          {isMe && <span className="ml-1 shrink-0 text-zinc-500">(you)</span>}
        </span>
        <span className="block truncate text-xs text-zinc-500 dark:text-zinc-400" title={`@${m.user.handle}`}>
          @{m.user.handle}
        </span>
      </span>
      {canChangeRole ? (
        <select
          aria-label={`Role of ${m.user.display_name}`}
          value={m.role}
          onChange={(e) => onRole(e.target.value as "owner" | "admin" | "member")}
          className="rounded-md border border-zinc-300 bg-white px-1 py-1 text-xs dark:border-zinc-600 dark:bg-zinc-800"
        >
          <option value="member">member</option>
          <option value="admin">admin</option>
          <option value="owner">owner</option>
        </select>
      ) : (
        m.role !== "member" && <span className="rounded bg-zinc-100 px-1.5 py-0.5 text-xs text-zinc-600 dark:bg-zinc-800 dark:text-zinc-300">{m.role}</span>
      )}
      {onTip && (
        <Button variant="ghost" className="min-h-7 px-2 py-0.5 text-xs" onClick={onTip} aria-label={`Tip ${m.user.display_name}`}>
          ◈ Tip
        </Button>
      )}
      {canRemove &&
        (confirm ? (
          <span className="flex w-full justify-end gap-1">
            <Button variant="danger" className="min-h-7 px-2 py-0.5 text-xs" onClick={onRemove} autoFocus>
              Remove {m.user.display_name}
            </Button>
            <Button variant="secondary" className="min-h-7 px-2 py-0.5 text-xs" onClick={() => setConfirm(false)}>
              Cancel
            </Button>
          </span>
        ) : (
          <Button variant="ghost" className="min-h-7 px-2 py-0.5 text-xs" onClick={() => setConfirm(true)} aria-label={`Remove ${m.user.display_name}`}>
            Remove
          </Button>
        ))}
    </li>
  );
}

function ConversationSettings({ conversation: c }: { conversation: Conversation }) {
  const update = useUpdateConversation(c.id);
  const [open, setOpen] = useState(false);
  const [name, setName] = useState(c.name);
  const [topic, setTopic] = useState(c.topic);
  if (!open) {
    return (
      <Button variant="ghost" className="mb-3" onClick={() => setOpen(true)}>
        Rename or set topic
      </Button>
    );
  }
  return (
    <form
      className="mb-4 flex flex-col gap-2"
      onSubmit={(e) => {
        e.preventDefault();
        update.mutate({ name, topic }, { onSuccess: () => setOpen(false) });
      }}
    >
      <TextField label="Name" value={name} onChange={(e) => setName(e.target.value)} maxLength={80} required />
      <TextField label="Topic" value={topic} onChange={(e) => setTopic(e.target.value)} maxLength={250} />
      {update.isError && <ErrorText>{errorMessage(update.error)}</ErrorText>}
      <div className="flex gap-2">
        <Button type="submit" disabled={update.isPending}>
          Save
        </Button>
        <Button variant="secondary" onClick={() => setOpen(false)}>
          Cancel
        </Button>
      </div>
    </form>
  );
}

/** What leaving costs, said before it happens. */
export function leaveConsequence(c: Conversation): string {
  const history = "You will stop receiving its messages and it leaves your list.";
  if (c.kind === "public") return `${history} You can join again from Browse channels.`;
  return `${history} To come back, an owner or admin has to add you again.`;
}

/** Kept for the features that import it from here: the sentences live in lib/errors. */
export const messageOf = errorMessage;
