/** The conversation header's notification menu: all messages, mentions only, or mute. */
import { useEffect, useRef, useState } from "react";
import { cx } from "../../lib/ui";
import { messageOf } from "../conversations/MembersPanel";
import { LEVEL_LABELS, type Level } from "./levels";
import { useNotificationSettings, useSetLevel } from "./queries";

const ICONS: Record<Level, string> = { all: "🔔", mentions: "@", mute: "🔕" };

export function LevelMenu({ conversationId }: { conversationId: number }) {
  const settings = useNotificationSettings();
  const setLevel = useSetLevel(conversationId);
  const [open, setOpen] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  const level = (settings.data?.levels[String(conversationId)] as Level | undefined) ?? "all";

  useEffect(() => {
    if (!open) return;
    const close = (e: MouseEvent | KeyboardEvent) => {
      if (e instanceof KeyboardEvent ? e.key === "Escape" : !box.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener("mousedown", close);
    document.addEventListener("keydown", close);
    return () => {
      document.removeEventListener("mousedown", close);
      document.removeEventListener("keydown", close);
    };
  }, [open]);

  const label = LEVEL_LABELS.find((l) => l.level === level)?.label ?? "All messages";
  return (
    <div className="relative" ref={box}>
      <button
        type="button"
        className="rounded-md px-2 py-1.5 text-sm text-zinc-700 hover:bg-zinc-100 dark:text-zinc-200 dark:hover:bg-zinc-800"
        aria-haspopup="menu"
        aria-expanded={open}
        aria-label={`Notifications: ${label}`}
        title={`Notifications: ${label}`}
        data-testid="notification-level"
        onClick={() => setOpen((o) => !o)}
      >
        <span aria-hidden="true">{ICONS[level]}</span>
      </button>
      {open && (
        <div
          role="menu"
          aria-label="Notifications"
          className="absolute right-0 z-20 mt-1 w-60 rounded-md border border-zinc-200 bg-white p-1 shadow-lg dark:border-zinc-700 dark:bg-zinc-900"
        >
          {LEVEL_LABELS.map((l) => (
            <button
              key={l.level}
              type="button"
              role="menuitemradio"
              aria-checked={l.level === level}
              className={cx(
                "flex w-full flex-col items-start rounded px-3 py-2 text-left text-sm hover:bg-zinc-100 dark:hover:bg-zinc-800",
                l.level === level && "bg-indigo-50 dark:bg-indigo-950",
              )}
              onClick={() => setLevel.mutate(l.level, { onSuccess: () => setOpen(false) })}
              disabled={setLevel.isPending}
            >
              <span className="font-medium">
                <span aria-hidden="true">{ICONS[l.level]} </span>
                {l.label}
              </span>
              <span className="text-xs text-zinc-500 dark:text-zinc-400">{l.hint}</span>
            </button>
          ))}
          {setLevel.isError && <p className="px-3 py-1 text-xs text-red-700 dark:text-red-400">{messageOf(setLevel.error)}</p>}
        </div>
      )}
    </div>
  );
}
