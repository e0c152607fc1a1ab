/**
 * The message box: Enter sends, Shift+Enter adds a line, "@" opens member suggestions
 * (arrow keys, Enter/Tab to pick, Esc to close). Typing sends throttled `typing` frames.
 */
import { forwardRef, useId, useImperativeHandle, useRef, useState, type KeyboardEvent, type ReactNode } from "react";
import type { Member, Message } from "../../api/client";
import { PaperclipIcon } from "../../lib/icons";
import { cx } from "../../lib/ui";

export interface ComposerHandle {
  focus(): void;
}

export interface ComposerProps {
  members: Member[];
  myId: number;
  replyTo: { message: Message; name: string } | null;
  onCancelReply(): void;
  onSend(body: string): void;
  onTyping(): void;
  disabledReason: string | null;
  maxLength?: number;
  placeholder: string;
  /** Files being attached (features/media), shown above the box. */
  tray?: ReactNode;
  /** Finished attachments: a message may then have no text. */
  hasAttachments?: boolean;
  /** Uploads still running: sending waits for them. */
  sendBlocked?: boolean;
  /** Files picked with the Attach button (drag-and-drop and paste are handled around the composer). */
  onAttach?(files: File[]): void;
}

/** The "@partial" word the caret is in, if any. */
export function mentionQuery(text: string, caret: number): { start: number; query: string } | null {
  const before = text.slice(0, caret);
  const m = /(^|[^\w@])@([A-Za-z0-9_]{0,32})$/.exec(before);
  if (!m) return null;
  return { start: caret - m[2]!.length - 1, query: m[2]!.toLowerCase() };
}

export const Composer = forwardRef<ComposerHandle, ComposerProps>(function Composer(p, ref) {
  const [text, setText] = useState("");
  const [caret, setCaret] = useState(0);
  const [active, setActive] = useState(0);
  const [dismissed, setDismissed] = useState<number | null>(null);
  const area = useRef<HTMLTextAreaElement>(null);
  const listId = useId();
  const max = p.maxLength ?? 4000;

  useImperativeHandle(ref, () => ({ focus: () => area.current?.focus() }), []);

  const mention = mentionQuery(text, caret);
  const suggestions =
    !mention || mention.start === dismissed
      ? []
      : p.members
          .filter((m) => m.user.id !== p.myId)
          .filter(
            (m) =>
              m.user.handle.toLowerCase().startsWith(mention.query) || m.user.display_name.toLowerCase().includes(mention.query),
          )
          .slice(0, 6);
  const open = suggestions.length > 0;
  const activeIndex = Math.min(active, Math.max(0, suggestions.length - 1));

  const pick = (m: Member) => {
    if (!mention) return;
    const insert = `@${m.user.handle} `;
    const next = text.slice(0, mention.start) + insert + text.slice(caret);
    const pos = mention.start + insert.length;
    setText(next);
    setCaret(pos);
    setActive(0);
    requestAnimationFrame(() => {
      area.current?.setSelectionRange(pos, pos);
      area.current?.focus();
    });
  };

  const send = () => {
    const body = text.trim();
    if ((!body && !p.hasAttachments) || body.length > max || p.disabledReason || p.sendBlocked) return;
    p.onSend(body);
    setText("");
    setCaret(0);
    setDismissed(null);
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (open) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        const n = suggestions.length;
        setActive((activeIndex + (e.key === "ArrowDown" ? 1 : n - 1)) % n);
        return;
      }
      if (e.key === "Enter" || e.key === "Tab") {
        e.preventDefault();
        const m = suggestions[activeIndex];
        if (m) pick(m);
        return;
      }
      if (e.key === "Escape") {
        e.preventDefault();
        setDismissed(mention?.start ?? null);
        return;
      }
    }
    if (e.key === "Escape" && p.replyTo) {
      e.preventDefault();
      p.onCancelReply();
      return;
    }
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      send();
    }
  };

  if (p.disabledReason) {
    return (
      <div className="border-t border-zinc-200 px-4 py-3 text-center text-sm text-zinc-500 dark:border-zinc-700 dark:text-zinc-400">
        {p.disabledReason}
      </div>
    );
  }

  const over = text.length > max;
  return (
    <div className="relative border-t border-zinc-200 bg-white px-3 pt-2 pb-[max(0.5rem,env(safe-area-inset-bottom))] sm:px-4 dark:border-zinc-700 dark:bg-zinc-900">
      {p.replyTo && (
        <div className="mb-2 flex items-center gap-2 rounded-md bg-zinc-100 px-2 py-1 text-xs text-zinc-600 dark:bg-zinc-800 dark:text-zinc-300">
          <span className="truncate">
            Replying to <strong>{p.replyTo.name}</strong>: {p.replyTo.message.body}
          </span>
          <button type="button" onClick={p.onCancelReply} aria-label="Cancel reply" className="ml-auto rounded px-1 hover:bg-zinc-200 dark:hover:bg-zinc-700">
            ✕
          </button>
        </div>
      )}
      {open && (
        <ul
          id={listId}
          role="listbox"
          aria-label="Mention someone"
          className="absolute bottom-full left-3 z-20 mb-1 w-72 max-w-[calc(100%-1.5rem)] overflow-hidden rounded-md border border-zinc-200 bg-white shadow-lg dark:border-zinc-700 dark:bg-zinc-900"
        >
          {suggestions.map((m, i) => (
            <li
              key={m.user.id}
              id={`${listId}-${i}`}
              role="option"
              aria-selected={i === activeIndex}
              onMouseDown={(e) => {
                e.preventDefault();
                pick(m);
              }}
              className={cx(
                "cursor-pointer px-3 py-2 text-sm",
                i === activeIndex ? "bg-indigo-600 text-white" : "text-zinc-800 dark:text-zinc-100",
              )}
            >
              <span className="font-medium">{m.user.display_name}</span>{" "}
              <span className={i === activeIndex ? "text-indigo-100" : "text-zinc-500"}>@{m.user.handle}</span>
            </li>
          ))}
        </ul>
      )}
      {p.tray}
      <div className="flex items-end gap-2">
        {p.onAttach && (
          <label
            className="flex h-10 cursor-pointer items-center rounded-md px-2 text-zinc-600 hover:bg-zinc-100 focus-within:outline-2 focus-within:outline-indigo-500 dark:text-zinc-300 dark:hover:bg-zinc-800"
            title="Attach files"
          >
            <PaperclipIcon />
            <input
              type="file"
              multiple
              aria-label="Attach files"
              data-testid="attach-input"
              className="sr-only"
              onChange={(e) => {
                const files = Array.from(e.target.files ?? []);
                e.target.value = "";
                if (files.length > 0) p.onAttach?.(files);
              }}
            />
          </label>
        )}
        <textarea
          ref={area}
          aria-label="Message"
          data-testid="composer"
          placeholder={p.placeholder}
          value={text}
          rows={1}
          role="combobox"
          aria-autocomplete="list"
          aria-expanded={open}
          aria-controls={open ? listId : undefined}
          aria-activedescendant={open ? `${listId}-${activeIndex}` : undefined}
          onChange={(e) => {
            setText(e.target.value);
            setCaret(e.target.selectionStart);
            if (e.target.value.trim()) p.onTyping();
          }}
          onSelect={(e) => setCaret(e.currentTarget.selectionStart)}
          onKeyDown={onKeyDown}
          className="field-sizing-content max-h-40 min-h-10 flex-1 resize-none rounded-md border border-zinc-300 bg-white px-3 py-2 text-base text-zinc-900 placeholder:text-zinc-400 dark:border-zinc-600 dark:bg-zinc-950 dark:text-zinc-100"
        />
        <button
          type="button"
          onClick={send}
          disabled={(!text.trim() && !p.hasAttachments) || over || p.sendBlocked}
          aria-label="Send"
          data-testid="send"
          className="flex h-10 items-center rounded-md bg-indigo-600 px-4 text-sm font-medium text-white hover:bg-indigo-700 disabled:bg-indigo-300 dark:disabled:bg-indigo-900"
        >
          Send
        </button>
      </div>
      {over && (
        <p role="alert" className="mt-1 text-xs text-red-600">
          {text.length - max} characters over the {max} limit.
        </p>
      )}
    </div>
  );
});
