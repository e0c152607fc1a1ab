/**
 * The conversation header's "Pinned" button and the list it opens: each pinned message with its
 * author, a jump to it and (for those who may pin) Unpin. Kept live by message.pinned/unpinned.
 */
import { useEffect, useState } from "react";
import { errorMessage } from "../../lib/errors";
import { formatFull } from "../../lib/format";
import { Spinner } from "../../lib/ui";
import { useCanPin, usePinMessage, usePins } from "./pins";

export function PinnedButton({ conversationId, nameOf, enabled }: { conversationId: number; nameOf(id: number | null): string; enabled: boolean }) {
  const [open, setOpen] = useState(false);
  const pins = usePins(conversationId, enabled);
  useEffect(() => setOpen(false), [conversationId]);
  if (!enabled) return null;
  const count = pins.data?.length ?? 0;
  return (
    <div className="relative">
      <button
        type="button"
        data-testid="pinned-button"
        aria-expanded={open}
        onClick={() => setOpen((v) => !v)}
        className="flex min-h-9 items-center gap-1 rounded-md px-2 text-sm text-zinc-600 hover:bg-zinc-100 dark:text-zinc-300 dark:hover:bg-zinc-800"
        title="Pinned messages"
      >
        <span aria-hidden="true">📌</span>
        <span className="sr-only">Pinned messages</span>
        <span>{count}</span>
      </button>
      {open && <PinnedPanel conversationId={conversationId} nameOf={nameOf} onClose={() => setOpen(false)} />}
    </div>
  );
}

function PinnedPanel({ conversationId, nameOf, onClose }: { conversationId: number; nameOf(id: number | null): string; onClose(): void }) {
  const pins = usePins(conversationId);
  const mayPin = useCanPin(conversationId);
  const unpin = usePinMessage();
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);
  const jump = (id: number) => {
    document.getElementById(`m-${id}`)?.scrollIntoView({ block: "center" });
    onClose();
  };
  return (
    <div
      role="dialog"
      aria-label="Pinned messages"
      data-testid="pinned-panel"
      className="absolute right-0 top-10 z-30 max-h-96 w-80 max-w-[calc(100vw-2rem)] overflow-y-auto rounded-md border border-zinc-200 bg-white p-2 shadow-lg dark:border-zinc-700 dark:bg-zinc-900"
    >
      <h2 className="mb-1 px-1 text-sm font-semibold text-zinc-800 dark:text-zinc-100">Pinned messages</h2>
      {pins.isPending ? (
        <Spinner label="Loading pinned messages" />
      ) : pins.isError ? (
        <p className="px-1 text-xs text-red-700 dark:text-red-400">{errorMessage(pins.error)}</p>
      ) : pins.data.length === 0 ? (
        <p className="px-1 text-xs text-zinc-500 dark:text-zinc-400">Nothing is pinned yet. Pin a message from its actions.</p>
      ) : (
        <ul className="flex flex-col gap-1">
          {pins.data.map((p) => (
            <li key={p.message.id} data-testid="pinned-item" className="rounded px-1 py-1 hover:bg-zinc-50 dark:hover:bg-zinc-800">
              <button type="button" className="block w-full text-left" onClick={() => jump(p.message.id)}>
                <span className="text-xs font-semibold text-zinc-700 dark:text-zinc-200">{nameOf(p.message.sender_id)}</span>
                <span className="block truncate text-sm text-zinc-800 dark:text-zinc-100">{p.message.body}</span>
              </button>
              <div className="flex items-center justify-between text-xs text-zinc-500 dark:text-zinc-400">
                <span>
                  Pinned by {nameOf(p.pinned_by)} · {formatFull(p.pinned_at)}
                </span>
                {mayPin && (
                  <button
                    type="button"
                    className="rounded px-1 hover:bg-zinc-200 dark:hover:bg-zinc-700"
                    onClick={() => unpin.mutate({ messageId: p.message.id, conversationId, pin: false })}
                  >
                    Unpin
                  </button>
                )}
              </div>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
