/**
 * Message Markdown, rendered to React elements (loaded on use: see `features/messages/MessageBody`).
 *
 * markdown-it parses with `html: false`, and its token stream is turned into React elements
 * here instead of into an HTML string: nothing is ever assigned to `innerHTML`, so raw HTML in
 * a message stays the characters that were typed. Only http(s) and mailto links become links.
 * Supported: **bold**, *italic* or _italic_, ~~strikethrough~~, `code`, fenced code blocks
 * (highlighted on use), > quotes, lists, [links](https://…), bare http(s) URLs, ||spoilers||,
 * and @mentions (left to the caller's `renderText`). Headings, rules, tables, images, indented
 * code and reference definitions are switched off: in chat they turn ordinary lines into
 * surprises ("# 1 thing", "---" under a line) and images would load from other origins.
 */
import MarkdownIt, { type Token } from "markdown-it";
import { createElement, Fragment, useEffect, useState, type ReactNode } from "react";
import { withCustomEmoji } from "./EmojiGlyph";

export const SAFE_LINK = /^(https?:|mailto:)/i;

const md = new MarkdownIt("commonmark", { html: false, linkify: false, breaks: true });
md.enable("strikethrough");
md.disable(["heading", "lheading", "hr", "code", "image", "reference", "html_block", "html_inline", "entity"]);
md.validateLink = (url: string) => SAFE_LINK.test(url.trim());

export type RenderText = (text: string, key: string) => ReactNode;
export type RenderCode = (code: string, lang: string, key: string) => ReactNode;

const CLASSES: Record<string, string> = {
  p: "",
  strong: "font-semibold",
  em: "italic",
  s: "line-through",
  blockquote: "border-l-4 border-zinc-300 pl-3 text-zinc-600 dark:border-zinc-600 dark:text-zinc-300",
  ul: "list-disc pl-6",
  ol: "list-decimal pl-6",
  li: "",
  a: "break-all text-indigo-700 underline dark:text-indigo-300",
};

interface Frame {
  token: Token | null;
  children: ReactNode[];
}

/** The body as React nodes; `renderText` draws plain text (mentions, bare URLs) outside links and code. */
export function renderMarkdown(body: string, renderText: RenderText, renderCode: RenderCode = plainCode): ReactNode {
  const tokens = md.parse(body, {});
  let n = 0;
  const key = () => `md${n++}`;
  const stack: Frame[] = [{ token: null, children: [] }];
  const top = () => stack[stack.length - 1]!;
  const inLink = () => stack.some((f) => f.token?.type === "link_open");

  const walk = (list: Token[]) => {
    for (const t of list) {
      if (t.nesting === 1) {
        stack.push({ token: t, children: [] });
        continue;
      }
      if (t.nesting === -1) {
        const f = stack.pop()!;
        const open = f.token!;
        // Paragraphs in tight lists are "hidden": their content goes straight into the item.
        if (open.hidden) top().children.push(...f.children);
        else top().children.push(element(open, f.children, key()));
        continue;
      }
      switch (t.type) {
        case "inline":
          walk(t.children ?? []);
          break;
        case "text":
          if (inLink()) top().children.push(t.content);
          else
            // ||spoiler|| (Discord's syntax; GitHub has none) within one run of plain text.
            t.content.split(/\|\|([^|]+?)\|\|/).forEach((part, i) => {
              if (!part) return;
              const k = key();
              // Custom server emoji (":name:") are drawn from their image; the rest is the caller's text.
              const text = withCustomEmoji(part, k, renderText);
              top().children.push(i % 2 === 1 ? <Spoiler key={k}>{text}</Spoiler> : text.length === 1 ? text[0] : <Fragment key={k}>{text}</Fragment>);
            });
          break;
        case "code_inline":
          top().children.push(
            <code key={key()} className="rounded bg-zinc-100 px-1 py-0.5 font-mono text-[0.85em] text-rose-700 dark:bg-zinc-800 dark:text-rose-300">
              {t.content}
            </code>,
          );
          break;
        case "fence": {
          const lang = t.info.trim().split(/\s+/)[0] ?? "";
          top().children.push(renderCode(t.content.replace(/\n$/, ""), lang.toLowerCase(), key()));
          break;
        }
        case "softbreak":
        case "hardbreak":
          top().children.push(<br key={key()} />);
          break;
        default:
          // Anything else carries its source text (e.g. a rule switched off leaves text tokens).
          if (t.content) top().children.push(t.content);
      }
    }
  };
  walk(tokens);
  return <div className="flex flex-col gap-1 break-words">{stack[0]!.children}</div>;
}

function element(open: Token, children: ReactNode[], key: string): ReactNode {
  if (open.type === "link_open") {
    return (
      <a key={key} href={open.attrGet("href") ?? undefined} target="_blank" rel="noopener noreferrer nofollow" className={CLASSES.a}>
        {children}
      </a>
    );
  }
  if (open.type === "spoiler_open") {
    return <Spoiler key={key}>{children}</Spoiler>;
  }
  if (open.type === "ordered_list_open") {
    const start = Number(open.attrGet("start") ?? "1");
    return (
      <ol key={key} start={start} className={CLASSES.ol}>
        {children}
      </ol>
    );
  }
  const tag = open.tag in CLASSES ? open.tag : "span";
  return createElement(tag, { key, className: CLASSES[tag] || undefined }, ...children);
}

function Spoiler({ children }: { children: ReactNode }) {
  const [shown, setShown] = useState(false);
  return (
    <span
      role="button"
      tabIndex={shown ? -1 : 0}
      aria-label={shown ? undefined : "Spoiler: show"}
      aria-expanded={shown}
      data-testid="spoiler"
      onClick={() => setShown(true)}
      onKeyDown={(e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          setShown(true);
        }
      }}
      className={shown ? "rounded bg-zinc-200/60 px-0.5 dark:bg-zinc-700/60" : "cursor-pointer rounded bg-zinc-700 px-0.5 text-transparent select-none dark:bg-zinc-300"}
    >
      {children}
    </span>
  );
}

export function plainCode(code: string, lang: string, key: string): ReactNode {
  return <CodeBlock key={key} code={code} lang={lang} />;
}

type Highlighter = typeof import("./highlight");
let highlighter: Highlighter | null = null;
let loading: Promise<Highlighter> | null = null;

export function loadHighlighter(): Promise<Highlighter> {
  loading ??= import("./highlight").then((m) => (highlighter = m));
  return loading;
}

/** A fenced block: plain at once, coloured when the highlighter (its own chunk) has loaded. */
export function CodeBlock({ code, lang }: { code: string; lang: string }) {
  const [h, setH] = useState<Highlighter | null>(highlighter);
  useEffect(() => {
    if (h || !lang) return;
    let live = true;
    void loadHighlighter().then((m) => live && setH(m));
    return () => {
      live = false;
    };
  }, [h, lang]);
  const inner = h && lang ? h.highlight(code, lang) : null;
  return (
    <pre
      data-testid="code-block"
      data-lang={lang || undefined}
      className="max-h-96 overflow-auto rounded-md border border-zinc-200 bg-zinc-50 p-2 font-mono text-[0.8125rem] leading-snug whitespace-pre text-zinc-800 dark:border-zinc-700 dark:bg-zinc-950 dark:text-zinc-100"
    >
      <code className={inner ? "hljs" : undefined}>{inner ?? code}</code>
    </pre>
  );
}
