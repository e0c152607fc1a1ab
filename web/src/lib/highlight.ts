/**
 * Syntax highlighting for fenced code blocks, in its own chunk (loaded by `CodeBlock` on the
 * first block with a language). lowlight runs highlight.js's grammars and returns a syntax tree,
 * which is turned into React elements here: no HTML string is ever produced or injected.
 * A dozen common languages only (each grammar adds to the chunk); others stay plain.
 */
import bash from "highlight.js/lib/languages/bash";
import css from "highlight.js/lib/languages/css";
import diff from "highlight.js/lib/languages/diff";
import go from "highlight.js/lib/languages/go";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import python from "highlight.js/lib/languages/python";
import rust from "highlight.js/lib/languages/rust";
import sql from "highlight.js/lib/languages/sql";
import typescript from "highlight.js/lib/languages/typescript";
import xml from "highlight.js/lib/languages/xml";
import yaml from "highlight.js/lib/languages/yaml";
import { createLowlight } from "lowlight";
import { createElement, type ReactNode } from "react";
import "./highlight.css";

const lowlight = createLowlight({ bash, css, diff, go, javascript, json, python, rust, sql, typescript, xml, yaml });
lowlight.registerAlias({ bash: ["sh", "shell", "zsh", "console"], javascript: ["js", "jsx", "mjs"], typescript: ["ts", "tsx"], python: ["py"], xml: ["html", "svg"], yaml: ["yml"] });

interface HastText {
  type: "text";
  value: string;
}
interface HastElement {
  type: "element";
  tagName: string;
  properties?: { className?: unknown };
  children: HastNode[];
}
type HastNode = HastText | HastElement | { type: string };

function toReact(node: HastNode, key: string): ReactNode {
  if (node.type === "text") return (node as HastText).value;
  if (node.type !== "element") return null;
  const el = node as HastElement;
  const cls = el.properties?.className;
  return createElement(
    "span",
    { key, className: Array.isArray(cls) ? cls.join(" ") : undefined },
    ...el.children.map((c, i) => toReact(c, `${key}.${i}`)),
  );
}

export function languages(): string[] {
  return lowlight.listLanguages();
}

/** The code as coloured spans, or null for a language it does not know. */
export function highlight(code: string, lang: string): ReactNode[] | null {
  if (!lowlight.registered(lang)) return null;
  const tree = lowlight.highlight(lang, code);
  return (tree.children as HastNode[]).map((c, i) => toReact(c, String(i)));
}
