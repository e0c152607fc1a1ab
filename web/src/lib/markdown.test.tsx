import { render, screen, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { MessageBody, loadMarkdown, looksFormatted } from "../features/messages/MessageBody";
import { loadHighlighter } from "./markdown";

async function show(body: string, myHandle?: string) {
  await loadMarkdown();
  const { container } = render(
    <div data-testid="body">
      <MessageBody body={body} myHandle={myHandle} />
    </div>,
  );
  return container.querySelector('[data-testid="body"]')!;
}

describe("message Markdown", () => {
  it("renders the common inline styles, quotes and lists", async () => {
    const el = await show("**bold** _it_ *it2* ~~gone~~ `x < y`\n\n> quoted\n\n- one\n- two\n\n1. first\n2. second");
    expect(el.querySelector("strong")?.textContent).toBe("bold");
    expect([...el.querySelectorAll("em")].map((e) => e.textContent)).toEqual(["it", "it2"]);
    expect(el.querySelector("s")?.textContent).toBe("gone");
    expect(el.querySelector("code")?.textContent).toBe("x < y");
    expect(el.querySelector("blockquote")?.textContent).toBe("quoted");
    expect([...el.querySelectorAll("ul > li")].map((e) => e.textContent)).toEqual(["one", "two"]);
    expect([...el.querySelectorAll("ol > li")].map((e) => e.textContent)).toEqual(["first", "second"]);
  });

  it("keeps single line breaks, as typed in chat", async () => {
    const el = await show("line *one*\nline two");
    expect(el.querySelectorAll("br")).toHaveLength(1);
    expect(el.textContent).toBe("line oneline two");
  });

  it("shows raw HTML as the text that was typed, creating no element", async () => {
    const body = '<img src=x onerror="alert(1)"> <b>bold?</b> <script>alert(2)</script> *real*';
    const el = await show(body);
    expect(el.querySelector("img, b, script")).toBeNull();
    expect(el.textContent).toContain('<img src=x onerror="alert(1)">');
    expect(el.textContent).toContain("<b>bold?</b>");
    expect(el.querySelector("em")?.textContent).toBe("real");
  });

  it("links only http, https and mailto, opening in a new tab without referrer", async () => {
    const el = await show(
      "[ok](https://example.com/a) [js](javascript:alert(1)) [data](data:text/html,hi) [vb](VBScript:x) [mail](mailto:a@b.c) <javascript:alert(3)> see https://x.org/p.",
    );
    const links = [...el.querySelectorAll("a")];
    expect(links.map((a) => a.getAttribute("href"))).toEqual(["https://example.com/a", "mailto:a@b.c", "https://x.org/p"]);
    for (const a of links) {
      expect(a.getAttribute("rel")).toBe("noopener noreferrer nofollow");
      expect(a.getAttribute("target")).toBe("_blank");
    }
    expect(el.textContent).toContain("[js](javascript:alert(1))");
    expect(el.innerHTML).not.toMatch(/href="(javascript|data|vbscript):/i);
  });

  it("does not turn chat lines into headings, rules, images or indented code", async () => {
    const el = await show("# 1 thing\nthen\n---\n![x](https://example.com/i.png)\n\n    indented *em*");
    expect(el.querySelector("h1, h2, hr, img, pre")).toBeNull();
    expect(el.textContent).toContain("# 1 thing");
    expect(el.querySelector("em")?.textContent).toBe("em");
  });

  it("keeps @mentions highlighted inside formatted text, and not inside code", async () => {
    const el = await show("**hey @ana_b** and `@bob_x` > @me_too", "ana_b");
    const strong = el.querySelector("strong")!;
    const mention = [...strong.querySelectorAll("span")].find((s) => s.textContent === "@ana_b");
    expect(mention?.className).toContain("amber");
    expect([...el.querySelectorAll("code span")]).toHaveLength(0);
    expect(el.querySelector("code")?.textContent).toBe("@bob_x");
  });

  it("renders a fenced code block as text, then highlights it when the highlighter has loaded", async () => {
    const el = await show("look:\n```python\ndef f(x):\n    return '<b>' + x\n```");
    const pre = el.querySelector('[data-testid="code-block"]')!;
    expect(pre.getAttribute("data-lang")).toBe("python");
    expect(pre.textContent).toBe("def f(x):\n    return '<b>' + x");
    await loadHighlighter();
    await waitFor(() => expect(pre.querySelector(".hljs-keyword")?.textContent).toBe("def"));
    expect(pre.textContent).toBe("def f(x):\n    return '<b>' + x");
    expect(pre.querySelector("b")).toBeNull();
  });

  it("leaves an unknown language plain", async () => {
    await loadHighlighter();
    const el = await show("```klingon\nqapla'\n```");
    expect(el.querySelector('[data-testid="code-block"]')?.textContent).toBe("qapla'");
    expect(el.querySelector('[class^="hljs-"]')).toBeNull();
  });

  it("hides ||spoilers|| until clicked", async () => {
    await show("the end: ||they win||");
    const sp = screen.getByTestId("spoiler");
    expect(sp.getAttribute("aria-expanded")).toBe("false");
    sp.click();
    await waitFor(() => expect(sp.getAttribute("aria-expanded")).toBe("true"));
  });

  it("uses the plain form for text with nothing Markdown could act on", () => {
    expect(looksFormatted("hello there, see https://example.com")).toBe(false);
    expect(looksFormatted("a *b*")).toBe(true);
    expect(looksFormatted("- item")).toBe(true);
    expect(looksFormatted("x\n2. item")).toBe(true);
  });
});
