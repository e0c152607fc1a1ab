/**
 * The message box: Enter sends, Shift+Enter adds a line, "@" opens member suggestions and
 * ":xx" emoji suggestions (arrow keys, Enter/Tab to pick, Esc to close). Ctrl/Cmd+B, I, E wrap
 * the selection in bold, italic, code (also on the toolbar, with strikethrough, code block,
 * quote, emoji and a preview). Typing sends throttled `typing` frames.
 */
import { forwardRef, useId, useImperativeHandle, useRef, useState, type KeyboardEvent, type ReactNode } from "react";
import type { Member, Message } from "../../api/client";
import { searchEmoji, rememberEmoji, shortcodeQuery } from "../../lib/emoji";
import { EmojiGlyph } from "../../lib/EmojiGlyph";
import { EmojiPicker, useEmojiIndex } from "../../lib/EmojiPicker";
import { PaperclipIcon, SmileIcon } from "../../lib/icons";
import { cx } from "../../lib/ui";
import { useComposerDraft } from "../timeline/drafts";
import { MessageBody } from "./MessageBody";

export interface ComposerHandle {
  focus(): void;
}

export interface ComposerProps {
  /** A `/command` line: true when it was taken as a registered slash command (not sent as text). */
  onCommand?: (body: string) => boolean;
  /** Slash commands offered when the text starts with `/` (name, usage hint, description). */
  commands?: { name: string; usage_hint: string; description: string }[];
  members: Member[];
  myId: number;
  replyTo: { message: Message; name: string } | null;
  onCancelReply(): void;
  onSend(body: string): void;
  onTyping(): void;
  /** Keep what is typed as this conversation's draft (features/timeline/drafts.ts). */
  draftConversationId?: number;
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

/** Markup for a toolbar button or shortcut: inline markers, or a per-line prefix. */
export type Format = "bold" | "italic" | "strike" | "code" | "codeblock" | "quote";
const MARKS: Record<Format, [string, string] | { line: string }> = {
  bold: ["**", "**"],
  italic: ["_", "_"],
  strike: ["~~", "~~"],
  code: ["`", "`"],
  codeblock: ["```\n", "\n```"],
  quote: { line: "> " },
};

/** The text with the selection [start, end) formatted, and the new selection (the same words). */
export function applyFormat(text: string, start: number, end: number, f: Format): { text: string; start: number; end: number } {
  const mark = MARKS[f];
  const sel = text.slice(start, end);
  if ("line" in mark) {
    const lineStart = text.lastIndexOf("\n", start - 1) + 1;
    const block = text.slice(lineStart, end);
    const quoted = block.split("\n").map((l) => mark.line + l).join("\n");
    return { text: text.slice(0, lineStart) + quoted + text.slice(end), start: start + mark.line.length, end: lineStart + quoted.length };
  }
  const [a, b] = mark;
  // The same markers around the selection already: take them off (a toggle, as in editors).
  if (text.slice(start - a.length, start) === a && text.slice(end, end + b.length) === b) {
    return { text: text.slice(0, start - a.length) + sel + text.slice(end + b.length), start: start - a.length, end: end - a.length };
  }
  return { text: text.slice(0, start) + a + sel + b + text.slice(end), start: start + a.length, end: end + a.length };
}

const SHORTCUTS: Record<string, Format> = { b: "bold", i: "italic", e: "code" };

const TOOLS: { f: Format; label: string; glyph: ReactNode }[] = [
  { f: "bold", label: "Bold (Ctrl+B)", glyph: <span className="font-bold">B</span> },
  { f: "italic", label: "Italic (Ctrl+I)", glyph: <span className="font-serif italic">I</span> },
  { f: "strike", label: "Strikethrough", glyph: <span className="line-through">S</span> },
  { f: "code", label: "Code (Ctrl+E)", glyph: <span className="font-mono text-xs">{"</>"}</span> },
  { f: "codeblock", label: "Code block", glyph: <span className="font-mono text-xs">{"{ }"}</span> },
  { f: "quote", label: "Quote", glyph: <span className="text-base leading-none">❝</span> },
];

interface Suggestion {
  key: string;
  main: ReactNode;
  aside: string;
  insert: string;
  emoji?: string;
}

export const Composer = forwardRef<ComposerHandle, ComposerProps>(function Composer(p, ref) {
  const [text, setText] = useState("");
  useComposerDraft(p.myId, p.draftConversationId, text, setText);
  const [caret, setCaret] = useState(0);
  const [active, setActive] = useState(0);
  const [dismissed, setDismissed] = useState<number | null>(null);
  const area = useRef<HTMLTextAreaElement>(null);
  const listId = useId();
  const max = p.maxLength ?? 4000;

  useImperativeHandle(ref, () => ({ focus: () => area.current?.focus() }), []);

  const [preview, setPreview] = useState(false);
  const [emojiOpen, setEmojiOpen] = useState(false);

  const mention = mentionQuery(text, caret);
  const shortcode = mention ? null : shortcodeQuery(text, caret);
  // The emoji data loads the first time someone types ":xx" (or opens the picker).
  const emojiIdx = useEmojiIndex(shortcode !== null);
  const slash = mention || shortcode ? null : /^\/([A-Za-z0-9_-]*)$/.exec(text.slice(0, caret));
  const command = slash ? { start: 0, query: (slash[1] ?? "").toLowerCase() } : null;
  const word = mention ?? shortcode ?? command;
  let suggestions: Suggestion[] = [];
  if (mention && mention.start !== dismissed) {
    suggestions = p.members
      .filter((m) => m.user.id !== p.myId)
      .filter((m) => m.user.handle.toLowerCase().startsWith(mention.query) || m.user.display_name.toLowerCase().includes(mention.query))
      .slice(0, 6)
      .map((m) => ({ key: `u${m.user.id}`, main: m.user.display_name, aside: `@${m.user.handle}`, insert: `@${m.user.handle} ` }));
  } else if (command && command.start !== dismissed && p.commands) {
    suggestions = p.commands
      .filter((c) => c.name.startsWith(command.query))
      .slice(0, 6)
      .map((c) => ({ key: `c${c.name}`, main: `/${c.name} ${c.usage_hint}`, aside: c.description, insert: `/${c.name} ` }));
  } else if (shortcode && shortcode.start !== dismissed && emojiIdx) {
    suggestions = searchEmoji(emojiIdx, shortcode.query, 40)
      .filter((e) => e.shortcodes.length > 0)
      .slice(0, 6)
      .map((e) => ({
        key: e.emoji,
        main: (
          <>
            <span className="mr-2 text-lg leading-none">
              <EmojiGlyph emoji={e.emoji} />
            </span>
            {`:${e.shortcodes.find((c) => c.startsWith(shortcode.query)) ?? e.shortcodes[0]}:`}
          </>
        ),
        aside: e.label,
        insert: e.emoji,
        emoji: e.emoji,
      }));
  }
  const open = suggestions.length > 0;
  const activeIndex = Math.min(active, Math.max(0, suggestions.length - 1));

  const replace = (next: string, selStart: number, selEnd = selStart) => {
    setText(next);
    setCaret(selEnd);
    setActive(0);
    requestAnimationFrame(() => {
      area.current?.setSelectionRange(selStart, selEnd);
      area.current?.focus();
    });
  };

  const pick = (sug: Suggestion) => {
    if (!word) return;
    if (sug.emoji) rememberEmoji(sug.emoji);
    const next = text.slice(0, word.start) + sug.insert + text.slice(caret);
    replace(next, word.start + sug.insert.length);
  };

  const format = (f: Format) => {
    const el = area.current;
    const start = el?.selectionStart ?? text.length;
    const end = el?.selectionEnd ?? text.length;
    const r = applyFormat(text, start, end, f);
    replace(r.text, r.start, r.end);
  };

  const insertAtCaret = (s2: string) => {
    const el = area.current;
    const start = el?.selectionStart ?? text.length;
    const end = el?.selectionEnd ?? text.length;
    replace(text.slice(0, start) + s2 + text.slice(end), start + s2.length);
  };

  const send = () => {
    const body = text.trim();
    if ((!body && !p.hasAttachments) || body.length > max || p.disabledReason || p.sendBlocked) return;
    if (!(body.startsWith("/") && p.onCommand?.(body))) p.onSend(body);
    setText("");
    setCaret(0);
    setDismissed(null);
    setPreview(false);
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
        setDismissed(word?.start ?? null);
        return;
      }
    }
    const f = (e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey ? SHORTCUTS[e.key.toLowerCase()] : undefined;
    if (f) {
      e.preventDefault();
      format(f);
      return;
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
          aria-label={mention ? "Mention someone" : "Emoji"}
          className="absolute bottom-full left-3 z-20 mb-1 w-72 max-w-[calc(100%-1.5rem)] overflow-hidden rounded-md border border-zinc-200 bg-white shadow-lg dark:border-zinc-700 dark:bg-zinc-900"
        >
          {suggestions.map((m, i) => (
            <li
              key={m.key}
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
              <span className="font-medium">{m.main}</span>{" "}
              <span className={i === activeIndex ? "text-indigo-100" : "text-zinc-500"}>{m.aside}</span>
            </li>
          ))}
        </ul>
      )}
      {p.tray}
      <div role="toolbar" aria-label="Formatting" className="mb-1 flex flex-wrap items-center gap-0.5 text-zinc-600 dark:text-zinc-300">
        {TOOLS.map((t) => (
          <button
            key={t.f}
            type="button"
            title={t.label}
            aria-label={t.label}
            onMouseDown={(e) => e.preventDefault()}
            onClick={() => format(t.f)}
            className="flex h-7 min-w-7 items-center justify-center rounded px-1 text-sm hover:bg-zinc-100 dark:hover:bg-zinc-800"
          >
            {t.glyph}
          </button>
        ))}
        <span className="relative">
          <button
            type="button"
            title="Emoji"
            aria-label="Insert emoji"
            aria-expanded={emojiOpen}
            onClick={() => setEmojiOpen((v) => !v)}
            className="flex h-7 min-w-7 items-center justify-center rounded px-1 hover:bg-zinc-100 dark:hover:bg-zinc-800"
          >
            <SmileIcon />
          </button>
          {emojiOpen && (
            <EmojiPicker
              className="sm:absolute sm:bottom-full sm:left-0 sm:mb-1"
              onPick={(e) => {
                setEmojiOpen(false);
                insertAtCaret(e);
              }}
              onClose={() => {
                setEmojiOpen(false);
                area.current?.focus();
              }}
            />
          )}
        </span>
        <button
          type="button"
          aria-pressed={preview}
          onClick={() => setPreview((v) => !v)}
          className={cx(
            "ml-auto rounded px-2 py-0.5 text-xs hover:bg-zinc-100 dark:hover:bg-zinc-800",
            preview && "bg-zinc-100 font-medium text-zinc-900 dark:bg-zinc-800 dark:text-zinc-50",
          )}
        >
          Preview
        </button>
      </div>
      {preview && (
        <div
          data-testid="composer-preview"
          aria-label="Preview"
          className="mb-2 max-h-60 overflow-auto rounded-md border border-dashed border-zinc-300 px-3 py-2 text-[0.9375rem] text-zinc-800 dark:border-zinc-600 dark:text-zinc-100"
        >
          {text.trim() ? <MessageBody body={text} /> : <span className="text-sm text-zinc-400">Nothing to preview</span>}
        </div>
      )}
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
