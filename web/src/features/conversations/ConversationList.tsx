/** The sidebar: my conversations by latest activity, with unread counts, last message and presence. */
import { Link, useRoute } from "wouter";
import type { Conversation } from "../../api/client";
import { formatListTime } from "../../lib/format";
import { KindIcon } from "../../lib/icons";
import { Avatar, cx, PresenceDot, Spinner } from "../../lib/ui";
import { useMe } from "../accounts/queries";
import { usePresence } from "./presence";
import { draftPreview, useDraft } from "../timeline/drafts";
import { conversationTitle, useConversations } from "./queries";

export function ConversationList() {
  const list = useConversations();
  const [, params] = useRoute<{ id: string }>("/c/:id/*?");
  const activeId = params ? Number(params.id) : null;

  return (
    <nav aria-label="Conversations" className="flex min-h-0 flex-1 flex-col">
      <div className="flex gap-2 px-3 pb-2">
        <Link
          href="/new"
          className="flex-1 rounded-md bg-indigo-600 px-3 py-2 text-center text-sm font-medium text-white hover:bg-indigo-700"
          data-testid="new-conversation"
        >
          New conversation
        </Link>
        <Link
          href="/browse"
          className="rounded-md border border-zinc-300 px-3 py-2 text-sm font-medium hover:bg-zinc-100 dark:border-zinc-600 dark:hover:bg-zinc-800"
        >
          Browse
        </Link>
      </div>
      <div className="min-h-0 flex-1 overflow-y-auto">
        {list.isPending ? (
          <div className="p-4">
            <Spinner />
          </div>
        ) : list.data && list.data.length === 0 ? (
          <p className="p-4 text-sm text-zinc-500 dark:text-zinc-400">
            No conversations yet. Start one with “New conversation”, or browse public channels.
          </p>
        ) : (
          <ul className="flex flex-col" data-testid="conversation-list">
            {list.data?.map((c) => <Row key={c.id} c={c} active={c.id === activeId} />)}
          </ul>
        )}
      </div>
    </nav>
  );
}

function Row({ c, active }: { c: Conversation; active: boolean }) {
  const me = useMe();
  const presence = usePresence(c.kind === "direct" ? c.peer?.id : null);
  const title = conversationTitle(c);
  const unread = c.unread ?? 0;
  const last = c.last_message;
  const draft = draftPreview(useDraft(me?.id, c.id));
  const preview = draft ?? (last
    ? last.deleted
      ? "Message deleted"
      : last.hidden
        ? "Message from someone you blocked"
        : `${last.sender_id === me?.id ? "You: " : ""}${last.body.replace(/\s+/g, " ")}`
    : c.topic || "No messages yet");
  return (
    <li>
      <Link
        href={`/c/${c.id}`}
        aria-current={active ? "page" : undefined}
        data-testid="conversation-row"
        data-conversation-id={c.id}
        className={cx(
          "flex items-center gap-3 px-3 py-2.5",
          active ? "bg-indigo-50 dark:bg-indigo-500/15" : "hover:bg-zinc-100 dark:hover:bg-zinc-800",
        )}
      >
        <span className="relative">
          <Avatar name={title} id={c.kind === "direct" ? (c.peer?.id ?? c.id) : c.id} />
          {c.kind === "direct" && <PresenceDot status={presence} className="absolute -right-0.5 -bottom-0.5" />}
        </span>
        <span className="min-w-0 flex-1">
          <span className="flex items-baseline gap-2">
            <span className={cx("flex min-w-0 items-center gap-1 text-sm", unread > 0 ? "font-bold" : "font-medium")}>
              {(c.kind === "public" || c.kind === "private") && (
                <span className="shrink-0 text-zinc-400">
                  <KindIcon kind={c.kind} />
                </span>
              )}
              <span className="truncate">{title}</span>
            </span>
            {c.last_message_at && (
              <span className="ml-auto shrink-0 text-xs text-zinc-500 dark:text-zinc-400">{formatListTime(c.last_message_at)}</span>
            )}
          </span>
          <span className="flex items-center gap-2">
            <span className={cx("truncate text-xs", unread > 0 ? "text-zinc-800 dark:text-zinc-100" : "text-zinc-500 dark:text-zinc-400")} data-testid="last-message">
              {preview}
            </span>
            {unread > 0 && (
              <span
                className="ml-auto shrink-0 rounded-full bg-indigo-600 px-1.5 text-xs font-semibold text-white"
                aria-label={`${unread} unread`}
                data-testid="unread-badge"
              >
                {unread > 99 ? "99+" : unread}
              </span>
            )}
          </span>
        </span>
      </Link>
    </li>
  );
}
