/** The threads I follow, latest reply first, with their unread replies marked; a row opens the thread. */
import { Link } from "wouter";
import { errorMessage } from "../../lib/errors";
import { formatListTime } from "../../lib/format";
import { Button, ErrorText, Spinner, cx } from "../../lib/ui";
import { conversationTitle, useConversations } from "../conversations/queries";
import { useFollowedThreads } from "./queries";

export function ThreadsView() {
  const threads = useFollowedThreads();
  const conversations = useConversations();
  const titleOf = (cid: number) => {
    const c = conversations.data?.find((x) => x.id === cid);
    return c ? conversationTitle(c) : "";
  };
  return (
    <section className="flex min-h-0 flex-1 flex-col" aria-labelledby="threads-title">
      <header className="border-b border-zinc-200 px-4 py-3 dark:border-zinc-700">
        <h1 id="threads-title" className="text-base font-semibold">
          Threads
        </h1>
        <p className="text-xs text-zinc-500 dark:text-zinc-400">Threads you started, replied to, were mentioned in or follow.</p>
      </header>
      {threads.isPending ? (
        <div className="flex flex-1 items-center justify-center">
          <Spinner label="Loading threads" />
        </div>
      ) : threads.isError ? (
        <div className="flex flex-col items-center gap-2 p-6">
          <ErrorText>{errorMessage(threads.error)}</ErrorText>
          <Button variant="secondary" onClick={() => void threads.refetch()}>
            Try again
          </Button>
        </div>
      ) : threads.data.length === 0 ? (
        <p className="p-6 text-center text-sm text-zinc-500 dark:text-zinc-400">No threads yet. Reply in a thread, or follow one, and it shows here.</p>
      ) : (
        <ul className="min-h-0 flex-1 overflow-y-auto" data-testid="threads-list">
          {threads.data.map((t) => {
            const unread = t.unread > 0;
            return (
              <li key={t.root.id} className="border-b border-zinc-100 dark:border-zinc-800">
                <Link
                  href={`/c/${t.conversation_id}/t/${t.root.id}`}
                  data-testid="thread-row"
                  data-unread={unread ? "true" : "false"}
                  className="flex gap-3 px-4 py-3 hover:bg-zinc-50 dark:hover:bg-zinc-800/50"
                >
                  <div className="min-w-0 flex-1">
                    <p className="truncate text-xs text-zinc-500 dark:text-zinc-400">{titleOf(t.conversation_id)}</p>
                    <p className={cx("truncate text-sm", unread ? "font-semibold text-zinc-900 dark:text-zinc-50" : "text-zinc-700 dark:text-zinc-300")}>
                      {t.root.deleted ? "(deleted message)" : t.root.hidden ? "(hidden)" : t.root.body || "(attachment)"}
                    </p>
                    <p className="mt-1 text-xs text-zinc-500 dark:text-zinc-400">
                      {t.summary.reply_count} {t.summary.reply_count === 1 ? "reply" : "replies"} · {formatListTime(t.summary.last_reply_at)}
                    </p>
                  </div>
                  {unread && (
                    <span
                      className="self-center rounded-full bg-rose-600 px-2 py-0.5 text-xs font-semibold text-white"
                      data-testid="thread-unread"
                      aria-label={`${t.unread} unread`}
                    >
                      {t.unread}
                    </span>
                  )}
                </Link>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

/** The sidebar's way in, with how many followed threads have unread replies. */
export function ThreadsLink() {
  const threads = useFollowedThreads();
  const unread = threads.data?.filter((t) => t.unread > 0).length ?? 0;
  return (
    <Link
      href="/threads"
      className="flex items-center gap-2 rounded-md px-3 py-1.5 text-sm font-medium text-zinc-700 hover:bg-zinc-200 dark:text-zinc-200 dark:hover:bg-zinc-800"
      data-testid="threads-link"
    >
      <span aria-hidden="true">🧵</span>
      <span className="flex-1">Threads</span>
      {unread > 0 && (
        <span className="rounded-full bg-rose-600 px-2 py-0.5 text-xs font-semibold text-white" data-testid="threads-unread" aria-label={`${unread} with unread replies`}>
          {unread}
        </span>
      )}
    </Link>
  );
}
