/**
 * A message's text. It is never parsed as HTML. A body with Markdown in it (see `looksFormatted`)
 * is rendered by `lib/markdown` (its own chunk, loaded on first use; until then the plain form
 * below shows), which builds React elements from markdown-it's tokens. Plain text is split into
 * strings, @mentions and http(s) links, each a React text node (React escapes it), so markup in a
 * message shows as the characters that were typed.
 */
import { useEffect, useSyncExternalStore, type ReactNode } from "react";
import { useCustomEmoji, withCustomEmoji } from "../../lib/EmojiGlyph";

// Same rule as the server's MENTION_RE (domain/messages/schemas.py).
const TOKEN = /(?<![\w@])@([A-Za-z0-9_]{3,32})\b|\bhttps?:\/\/[^\s<>"']+/g;

export interface Segment {
  kind: "text" | "mention" | "link";
  text: string;
}

export function segments(body: string): Segment[] {
  const out: Segment[] = [];
  let last = 0;
  for (const m of body.matchAll(TOKEN)) {
    const start = m.index;
    let text = m[0];
    if (m[1] === undefined) {
      // Trailing punctuation usually ends the sentence, not the URL.
      text = text.replace(/[.,;:!?)\]]+$/, "");
    }
    if (start > last) out.push({ kind: "text", text: body.slice(last, start) });
    out.push({ kind: m[1] !== undefined ? "mention" : "link", text });
    last = start + text.length;
  }
  if (last < body.length) out.push({ kind: "text", text: body.slice(last) });
  return out;
}

/** Whether the body has characters Markdown could act on; if not, the plain form is the same. */
export function looksFormatted(body: string): boolean {
  return /[*_~`>|[\\<&]|^\s*(?:[-+]|\d+[.)])\s/m.test(body);
}

type Markdown = typeof import("../../lib/markdown");
let markdown: Markdown | null = null;
let loading: Promise<Markdown> | null = null;
const listeners = new Set<() => void>();

/** Loads the Markdown renderer once (a separate chunk, out of the first-load bundle). */
export function loadMarkdown(): Promise<Markdown> {
  loading ??= import("../../lib/markdown").then((m) => {
    markdown = m;
    for (const l of listeners) l();
    return m;
  });
  return loading;
}

function useMarkdown(needed: boolean): Markdown | null {
  const m = useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => markdown,
  );
  useEffect(() => {
    if (needed && !markdown) void loadMarkdown();
  }, [needed]);
  return needed ? m : null;
}

export function MessageBody({ body, myHandle }: { body: string; myHandle?: string | undefined }) {
  useCustomEmoji(); // drawn again when the server's custom emoji arrive or change
  const md = useMarkdown(looksFormatted(body));
  if (md) {
    return (
      <div data-formatted="true">{md.renderMarkdown(body, (text, key) => <span key={key}>{inlineNodes(text, myHandle)}</span>)}</div>
    );
  }
  return (
    <span className="whitespace-pre-wrap break-words">{withCustomEmoji(body, "b", (text, key) => <span key={key}>{inlineNodes(text, myHandle)}</span>)}</span>
  );
}

/** Text with its @mentions highlighted and bare http(s) URLs as links. */
function inlineNodes(body: string, myHandle: string | undefined): ReactNode[] {
  return segments(body).map((s, i) => {
    if (s.kind === "mention") {
      const me = myHandle !== undefined && s.text.slice(1).toLowerCase() === myHandle.toLowerCase();
      return (
        <span
          key={i}
          className={
            me
              ? "rounded bg-amber-200 px-0.5 font-medium text-amber-950 dark:bg-amber-500/30 dark:text-amber-100"
              : "rounded bg-indigo-100 px-0.5 font-medium text-indigo-800 dark:bg-indigo-500/20 dark:text-indigo-200"
          }
        >
          {s.text}
        </span>
      );
    }
    if (s.kind === "link") {
      return (
        <a key={i} href={s.text} target="_blank" rel="noopener noreferrer nofollow" className="break-all text-indigo-700 underline dark:text-indigo-300">
          {s.text}
        </a>
      );
    }
    return s.text;
  });
}
