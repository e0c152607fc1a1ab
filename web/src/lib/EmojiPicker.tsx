/**
 * The full emoji picker: search (shortcodes, names, tags), recently used (this device), and every
 * Unicode emoji by group. Its data loads on first open (lib/emoji). A popover beside what opened
 * it; a sheet along the bottom of the screen on phones.
 */
import { useEffect, useMemo, useRef, useState } from "react";
import { emojiIndex, findEmoji, loadEmoji, recentEmoji, rememberEmoji, searchEmoji, type EmojiEntry, type EmojiIndex } from "./emoji";
import { EmojiGlyph, useCustomEmoji } from "./EmojiGlyph";
import { cx } from "./ui";

/** The emoji data, loading it (once, for the whole app) when `wanted`. */
export function useEmojiIndex(wanted = true): EmojiIndex | null {
  const [idx, setIdx] = useState<EmojiIndex | null>(emojiIndex());
  useEffect(() => {
    if (idx || !wanted) return;
    let live = true;
    void loadEmoji().then((i) => live && setIdx(i));
    return () => {
      live = false;
    };
  }, [idx, wanted]);
  return idx;
}

export function EmojiPicker({ onPick, onClose, className }: { onPick(emoji: string): void; onClose(): void; className?: string }) {
  const idx = useEmojiIndex();
  const custom = useCustomEmoji();
  const [query, setQuery] = useState("");
  const [recent] = useState(recentEmoji);
  const input = useRef<HTMLInputElement>(null);
  const scroller = useRef<HTMLDivElement>(null);
  useEffect(() => input.current?.focus(), []);

  // Searched again when the server's custom emoji change (searchEmoji reads them).
  const results = useMemo(() => (idx && query.trim() && custom ? searchEmoji(idx, query) : null), [idx, query, custom]);
  const byGroup = useMemo(() => {
    const m = new Map<number, EmojiEntry[]>();
    for (const e of idx?.all ?? []) {
      const list = m.get(e.group) ?? [];
      list.push(e);
      m.set(e.group, list);
    }
    return m;
  }, [idx]);

  const pick = (emoji: string) => {
    rememberEmoji(emoji);
    onPick(emoji);
  };
  const cell = (e: EmojiEntry | string) => {
    const entry = typeof e === "string" ? findEmoji(idx, e) : e;
    const emoji = typeof e === "string" ? e : e.emoji;
    const label = entry?.label ?? emoji;
    return (
      <button
        key={emoji}
        type="button"
        title={entry?.shortcodes[0] ? `:${entry.shortcodes[0]}:` : label}
        aria-label={label}
        data-emoji={emoji}
        onClick={() => pick(emoji)}
        className="flex size-9 items-center justify-center rounded text-2xl leading-none hover:bg-zinc-100 focus-visible:bg-zinc-100 dark:hover:bg-zinc-800 dark:focus-visible:bg-zinc-800"
      >
        <EmojiGlyph emoji={emoji} />
      </button>
    );
  };

  return (
    <div
      role="dialog"
      aria-label="Emoji picker"
      data-testid="emoji-picker"
      onKeyDown={(e) => {
        if (e.key === "Escape") {
          e.stopPropagation();
          onClose();
        }
      }}
      className={cx(
        "z-30 flex w-80 flex-col rounded-lg border border-zinc-200 bg-white shadow-xl dark:border-zinc-700 dark:bg-zinc-900",
        "max-sm:fixed max-sm:inset-x-2 max-sm:bottom-2 max-sm:w-auto",
        className,
      )}
    >
      <div className="flex items-center gap-2 border-b border-zinc-200 p-2 dark:border-zinc-700">
        <input
          ref={input}
          type="search"
          aria-label="Search emoji"
          placeholder="Search emoji"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && results?.[0]) {
              e.preventDefault();
              pick(results[0].emoji);
            }
          }}
          className="min-w-0 flex-1 rounded-md border border-zinc-300 bg-white px-2 py-1.5 text-base text-zinc-900 placeholder:text-zinc-400 sm:text-sm dark:border-zinc-600 dark:bg-zinc-950 dark:text-zinc-100"
        />
        <button type="button" aria-label="Close emoji picker" onClick={onClose} className="rounded px-2 py-1 text-zinc-500 hover:bg-zinc-100 dark:hover:bg-zinc-800">
          ✕
        </button>
      </div>
      {idx && !results && (
        <nav aria-label="Emoji groups" className="flex gap-0.5 overflow-x-auto border-b border-zinc-200 px-1 py-1 dark:border-zinc-700">
          {idx.groups.map((g) => (
            <button
              key={g.id}
              type="button"
              title={g.name}
              aria-label={g.name}
              onClick={() => document.getElementById(`emoji-group-${g.id}`)?.scrollIntoView({ block: "start" })}
              className="flex size-8 shrink-0 items-center justify-center rounded text-lg hover:bg-zinc-100 dark:hover:bg-zinc-800"
            >
              {byGroup.get(g.id)?.[0]?.emoji}
            </button>
          ))}
        </nav>
      )}
      <div ref={scroller} className="h-72 overflow-y-auto p-1 max-sm:h-[40vh]">
        {!idx ? (
          <p className="p-3 text-sm text-zinc-500">Loading emoji…</p>
        ) : results ? (
          results.length === 0 ? (
            <p className="p-3 text-sm text-zinc-500 dark:text-zinc-400">No emoji match "{query.trim()}".</p>
          ) : (
            <section aria-label="Search results" className="grid grid-cols-[repeat(auto-fill,minmax(2.25rem,1fr))]">
              {results.map(cell)}
            </section>
          )
        ) : (
          <>
            {custom.length > 0 && (
              <section aria-label="Custom" data-testid="custom-emoji">
                <h3 className="px-1 pt-1 text-xs font-medium text-zinc-500 dark:text-zinc-400">Custom</h3>
                <div className="grid grid-cols-[repeat(auto-fill,minmax(2.25rem,1fr))]">{custom.map(cell)}</div>
              </section>
            )}
            {recent.length > 0 && (
              <section aria-label="Recently used">
                <h3 className="px-1 pt-1 text-xs font-medium text-zinc-500 dark:text-zinc-400">Recently used</h3>
                <div className="grid grid-cols-[repeat(auto-fill,minmax(2.25rem,1fr))]">{recent.map(cell)}</div>
              </section>
            )}
            {idx.groups.map((g) => (
              <section key={g.id} id={`emoji-group-${g.id}`} aria-label={g.name}>
                <h3 className="px-1 pt-1 text-xs font-medium text-zinc-500 dark:text-zinc-400">{g.name}</h3>
                <div className="grid grid-cols-[repeat(auto-fill,minmax(2.25rem,1fr))]">{byGroup.get(g.id)?.map(cell)}</div>
              </section>
            ))}
          </>
        )}
      </div>
    </div>
  );
}
