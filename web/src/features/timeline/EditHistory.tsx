/**
 * "(edited)" on a message, as a button: it opens the message's earlier versions, read from
 * GET /messages/{id}/revisions (members only; docs/subsystems/messages.md, Edit history).
 */
import { useQuery } from "@tanstack/react-query";
import { useEffect, useId, useState } from "react";
import { call, type Message } from "../../api/client";
import { useServices } from "../../app/services";
import { errorMessage } from "../../lib/errors";
import { formatFull } from "../../lib/format";
import { Spinner } from "../../lib/ui";

export const revisionsKey = (messageId: number, editedAt: string | null) => ["revisions", messageId, editedAt] as const;

export function EditedMarker({ message }: { message: Message }) {
  const [open, setOpen] = useState(false);
  const panel = useId();
  if (!message.edited_at) return null;
  return (
    <>
      <button
        type="button"
        data-testid="edited"
        aria-expanded={open}
        aria-controls={panel}
        title={`Edited ${formatFull(message.edited_at)}: show earlier versions`}
        onClick={() => setOpen((v) => !v)}
        className="ml-1 rounded text-xs text-zinc-400 hover:text-zinc-700 hover:underline dark:hover:text-zinc-200"
      >
        (edited)
      </button>
      {open && <EditHistory id={panel} message={message} onClose={() => setOpen(false)} />}
    </>
  );
}

function EditHistory({ id, message, onClose }: { id: string; message: Message; onClose(): void }) {
  const { api } = useServices();
  const q = useQuery({
    queryKey: revisionsKey(message.id, message.edited_at),
    queryFn: () => call(api.GET("/messages/{message_id}/revisions", { params: { path: { message_id: message.id } } })),
    staleTime: 60_000,
  });
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);
  return (
    <div
      id={id}
      role="region"
      aria-label="Earlier versions"
      data-testid="edit-history"
      className="mt-1 block rounded-md border border-zinc-200 bg-zinc-50 p-2 text-sm dark:border-zinc-700 dark:bg-zinc-800/60"
    >
      <div className="mb-1 flex items-center justify-between text-xs font-semibold text-zinc-600 dark:text-zinc-300">
        <span>Earlier versions</span>
        <button type="button" onClick={onClose} className="rounded px-1 hover:bg-zinc-200 dark:hover:bg-zinc-700" aria-label="Close earlier versions">
          ✕
        </button>
      </div>
      {q.isPending ? (
        <Spinner label="Loading earlier versions" />
      ) : q.isError ? (
        <p className="text-xs text-red-700 dark:text-red-400">{errorMessage(q.error)}</p>
      ) : q.data.revisions.length === 0 ? (
        <p className="text-xs text-zinc-500">No earlier versions are kept for this message.</p>
      ) : (
        <ol className="flex flex-col gap-1">
          {[...q.data.revisions].reverse().map((r) => (
            <li key={r.replaced_at} data-testid="revision" className="border-l-2 border-zinc-300 pl-2 dark:border-zinc-600">
              <p className="whitespace-pre-wrap break-words text-zinc-700 dark:text-zinc-200">{r.body}</p>
              <p className="text-xs text-zinc-500 dark:text-zinc-400">
                Written {formatFull(r.written_at)} · replaced {formatFull(r.replaced_at)}
              </p>
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
