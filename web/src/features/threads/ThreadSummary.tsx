/** Under a message with replies: the reply count, the last repliers and the last reply's time; opens the thread. */
import type { Message } from "../../api/client";
import { formatFull, formatListTime } from "../../lib/format";
import { Avatar } from "../../lib/ui";
import { summaryOf } from "./summary";

export function ThreadSummary({
  message,
  nameOf,
  onOpen,
}: {
  message: Message;
  nameOf?(userId: number | null): string;
  onOpen(m: Message): void;
}) {
  const s = summaryOf(message);
  if (!s) return null;
  const names = s.last_repliers.map((u) => nameOf?.(u) ?? "Someone");
  const label = `${s.reply_count} ${s.reply_count === 1 ? "reply" : "replies"}`;
  return (
    <button
      type="button"
      data-testid="thread-summary"
      onClick={() => onOpen(message)}
      // Not "reply" in the name: a message's own "Reply" button is found by that word.
      aria-label={`Open thread: ${s.reply_count} ${s.reply_count === 1 ? "message" : "messages"}${names.length ? ` from ${names.join(", ")}` : ""}`}
      className="mt-1 flex max-w-full items-center gap-2 rounded-md border border-transparent px-1 py-0.5 text-xs hover:border-zinc-200 hover:bg-white dark:hover:border-zinc-700 dark:hover:bg-zinc-900"
    >
      <span className="flex -space-x-1.5" aria-hidden="true">
        {s.last_repliers.map((u, i) => (
          <span key={u} className="rounded-full ring-2 ring-white dark:ring-zinc-900" title={names[i]}>
            <Avatar name={names[i] ?? "?"} id={u} size="sm" />
          </span>
        ))}
      </span>
      <span className="font-semibold text-indigo-700 dark:text-indigo-300" data-testid="thread-reply-count">
        {label}
      </span>
      {s.last_reply_at && (
        <time dateTime={s.last_reply_at} title={formatFull(s.last_reply_at)} className="truncate text-zinc-500 dark:text-zinc-400">
          Last reply {formatListTime(s.last_reply_at)}
        </time>
      )}
    </button>
  );
}
