/**
 * Drafts: what I typed in a conversation and have not sent, kept per account in this browser's
 * localStorage (`tipline.drafts.<user id>`), so it survives switching conversations and reloads
 * and shows in the conversation list as "Draft: …". Drafts never leave the browser; signing out
 * forgets them (docs/subsystems/web-client.md, Drafts).
 */
import { useEffect, useRef, useSyncExternalStore } from "react";

const PREFIX = "tipline.drafts.";
/** Longer drafts are kept cut to this many characters (a message is at most 4,000). */
const MAX_DRAFT = 10_000;

type Drafts = Record<string, string>;

function storage(): Storage | null {
  try {
    return typeof localStorage === "undefined" ? null : localStorage;
  } catch {
    return null;
  }
}

const listeners = new Set<() => void>();
const cache = new Map<number, Drafts>();

function read(userId: number): Drafts {
  const held = cache.get(userId);
  if (held) return held;
  let drafts: Drafts = {};
  try {
    const parsed: unknown = JSON.parse(storage()?.getItem(PREFIX + userId) ?? "{}");
    if (parsed && typeof parsed === "object") {
      drafts = Object.fromEntries(Object.entries(parsed).filter((e): e is [string, string] => typeof e[1] === "string"));
    }
  } catch {
    // A damaged entry is dropped, as if there were no drafts.
  }
  cache.set(userId, drafts);
  return drafts;
}

function write(userId: number, drafts: Drafts): void {
  cache.set(userId, drafts);
  try {
    if (Object.keys(drafts).length === 0) storage()?.removeItem(PREFIX + userId);
    else storage()?.setItem(PREFIX + userId, JSON.stringify(drafts));
  } catch {
    // Storage full or refused: the draft lives for this page only.
  }
  for (const l of listeners) l();
}

export function loadDraft(userId: number, conversationId: number): string {
  return read(userId)[String(conversationId)] ?? "";
}

/** Keep (or, for blank text, forget) a conversation's draft. */
export function saveDraft(userId: number, conversationId: number, text: string): void {
  const drafts = read(userId);
  const key = String(conversationId);
  const value = text.trim() ? text.slice(0, MAX_DRAFT) : "";
  if ((drafts[key] ?? "") === value) return;
  const next = { ...drafts };
  if (value) next[key] = value;
  else delete next[key];
  write(userId, next);
}

/** Forget every draft of an account (signing out). */
export function forgetDrafts(userId: number): void {
  write(userId, {});
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  // Another tab of the same account typed: re-read.
  const onStorage = (e: StorageEvent) => {
    if (e.key?.startsWith(PREFIX)) {
      cache.delete(Number(e.key.slice(PREFIX.length)));
      listener();
    }
  };
  if (typeof window !== "undefined") window.addEventListener("storage", onStorage);
  return () => {
    listeners.delete(listener);
    if (typeof window !== "undefined") window.removeEventListener("storage", onStorage);
  };
}

/** A conversation's draft, live (for the conversation list). */
export function useDraft(userId: number | undefined, conversationId: number): string {
  return useSyncExternalStore(subscribe, () => (userId ? loadDraft(userId, conversationId) : ""));
}

/** "Draft: …" for the conversation list, or null without a draft. */
export function draftPreview(text: string): string | null {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat ? `Draft: ${flat}` : null;
}

/**
 * The composer's side: restore the draft once the account is known, then keep every change.
 * Sending clears the text, which forgets the draft.
 */
export function useComposerDraft(userId: number, conversationId: number | undefined, text: string, setText: (t: string) => void): void {
  const restored = useRef(false);
  useEffect(() => {
    if (restored.current || !userId || conversationId === undefined) return;
    restored.current = true;
    const draft = loadDraft(userId, conversationId);
    if (draft && !text) setText(draft);
    // Only when the account becomes known: later changes are the user's typing.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [userId, conversationId]);
  useEffect(() => {
    if (restored.current && userId && conversationId !== undefined) saveDraft(userId, conversationId, text);
  }, [userId, conversationId, text]);
}
