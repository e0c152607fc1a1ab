/**
 * A message's text. It is never parsed as HTML: the body is split into plain strings, @mentions
 * and http(s) links, each rendered as a React text node (React escapes it), so markup in a
 * message shows as the characters that were typed.
 */
import type { ReactNode } from "react";

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

export function MessageBody({ body, myHandle }: { body: string; myHandle?: string | undefined }) {
  const nodes: ReactNode[] = segments(body).map((s, i) => {
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
  return <span className="whitespace-pre-wrap break-words">{nodes}</span>;
}
