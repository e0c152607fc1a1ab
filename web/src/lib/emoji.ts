/**
 * Unicode emoji data for the picker and `:shortcode:` completion. The data (emojibase, English
 * labels and tags, GitHub-style shortcodes) is bundled with the app but in its own chunk, loaded
 * on first use: no CDN (the CSP allows only our origin) and nothing in the first-load bundle.
 */
export interface EmojiEntry {
  emoji: string;
  label: string;
  shortcodes: string[];
  tags: string[];
  group: number;
  order: number;
  /** A custom server emoji's image (its `emoji` is then ":name:"). */
  url?: string;
}

export interface EmojiGroup {
  id: number;
  name: string;
}

export interface EmojiIndex {
  all: EmojiEntry[];
  groups: EmojiGroup[];
  byEmoji: Map<string, EmojiEntry>;
}

// emojibase's group 2 holds components (skin tones, hair) that are not emoji on their own.
const COMPONENTS = 2;
const GROUP_NAMES = ["Smileys & emotion", "People & body", "", "Animals & nature", "Food & drink", "Travel & places", "Activities", "Objects", "Symbols", "Flags"];

let index: EmojiIndex | null = null;
let loading: Promise<EmojiIndex> | null = null;

export function emojiIndex(): EmojiIndex | null {
  return index;
}

export function loadEmoji(): Promise<EmojiIndex> {
  loading ??= Promise.all([import("emojibase-data/en/compact.json"), import("emojibase-data/en/shortcodes/github.json")]).then(
    ([compact, github]) => {
      const codes = github.default as Record<string, string | string[]>;
      const all: EmojiEntry[] = [];
      for (const e of compact.default as { group?: number; hexcode: string; label: string; order?: number; tags?: string[]; unicode: string }[]) {
        if (e.group === undefined || e.group === COMPONENTS) continue;
        const sc = codes[e.hexcode];
        all.push({
          emoji: e.unicode,
          label: e.label,
          shortcodes: sc === undefined ? [] : Array.isArray(sc) ? sc : [sc],
          tags: e.tags ?? [],
          group: e.group,
          order: e.order ?? 0,
        });
      }
      all.sort((a, b) => a.order - b.order);
      const groups = [...new Set(all.map((e) => e.group))].sort((a, b) => a - b).map((id) => ({ id, name: GROUP_NAMES[id] ?? "Other" }));
      index = { all, groups, byEmoji: new Map(all.map((e) => [bare(e.emoji), e])) };
      return index;
    },
  );
  return loading;
}

/**
 * Emoji matching `query`, best first: an exact shortcode, then shortcodes starting with it, then
 * labels or tags with a word starting with it. Case-insensitive; spaces and ":" are ignored.
 */
export function searchEmoji(idx: EmojiIndex, query: string, limit = 80): EmojiEntry[] {
  const q = query.trim().toLowerCase().replace(/^:|:$/g, "");
  if (!q) return [];
  const scored: [number, EmojiEntry][] = [];
  for (const e of [...customEntries(), ...idx.all]) {
    let score = -1;
    if (e.shortcodes.includes(q)) score = 0;
    else if (e.shortcodes.some((s) => s.startsWith(q))) score = 1;
    else if (e.label.toLowerCase().split(/[\s:,-]+/).some((w) => w.startsWith(q))) score = 2;
    else if (e.tags.some((t) => t.startsWith(q))) score = 3;
    else if (e.label.toLowerCase().includes(q)) score = 4;
    if (score >= 0) scored.push([score, e]);
  }
  scored.sort((a, b) => a[0] - b[0] || a[1].order - b[1].order);
  return scored.slice(0, limit).map(([, e]) => e);
}

/** The emoji without variation selector 16: "👍" and "👍\uFE0F" are the same picture. */
export function bare(emoji: string): string {
  return emoji.replace(/\uFE0F/g, "");
}

/** The entry for an emoji, however it is written (with or without U+FE0F). */
export function findEmoji(idx: EmojiIndex | null, emoji: string): EmojiEntry | undefined {
  return customByCode.get(emoji) ?? idx?.byEmoji.get(bare(emoji));
}

/**
 * The spelling to react with: the one already used on the message (or among `known`) when it is
 * the same emoji, so "👍" from the quick bar and "👍\uFE0F" from the picker count as one reaction.
 */
export function canonicalEmoji(emoji: string, known: readonly string[]): string {
  return known.find((k) => bare(k) === bare(emoji)) ?? emoji;
}

/** The shortcode a reaction or tooltip names an emoji by (":tada:"), or its label. */
export function emojiName(idx: EmojiIndex | null, emoji: string): string {
  const e = findEmoji(idx, emoji);
  if (!e) return emoji;
  return e.shortcodes[0] ? `:${e.shortcodes[0]}:` : e.label;
}

const RECENT_KEY = "tipline.emoji.recent";
const RECENT_MAX = 24;

export function recentEmoji(): string[] {
  try {
    const v: unknown = JSON.parse(localStorage.getItem(RECENT_KEY) ?? "[]");
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string").slice(0, RECENT_MAX) : [];
  } catch {
    return [];
  }
}

export function rememberEmoji(emoji: string): void {
  const next = [emoji, ...recentEmoji().filter((e) => e !== emoji)].slice(0, RECENT_MAX);
  try {
    localStorage.setItem(RECENT_KEY, JSON.stringify(next));
  } catch {
    // Storage full or disabled: recently used is a convenience.
  }
}

/** The ":partial" word the caret is in (two characters at least), if any. */
export function shortcodeQuery(text: string, caret: number): { start: number; query: string } | null {
  const m = /(^|[\s(])(:[a-z0-9_+-]{2,32})$/i.exec(text.slice(0, caret));
  if (!m) return null;
  return { start: caret - m[2]!.length, query: m[2]!.slice(1).toLowerCase() };
}

/*
 * Custom server emoji (GET /emoji, uploaded by admins): written ":name:" in messages and reactions,
 * drawn from their image. Set by features/admin/settings/queries.useCustomEmojiSync.
 */
export interface CustomEmoji {
  name: string;
  url: string;
}

let customList: EmojiEntry[] = [];
let customByCode = new Map<string, EmojiEntry>();
const customListeners = new Set<() => void>();

export function setCustomEmoji(list: readonly CustomEmoji[]): void {
  const same = list.length === customList.length && list.every((e, i) => customList[i]?.url === e.url && customList[i]?.label === e.name);
  if (same) return;
  customList = list.map((e, i) => ({ emoji: `:${e.name}:`, label: e.name, shortcodes: [e.name], tags: ["custom"], group: -1, order: i, url: e.url }));
  customByCode = new Map(customList.map((e) => [e.emoji, e]));
  for (const fn of customListeners) fn();
}

/** The custom emoji as picker entries (group -1, "Custom"). */
export function customEntries(): EmojiEntry[] {
  return customList;
}

/** The image of a custom emoji written ":name:", if the server has one by that name. */
export function customEmojiUrl(code: string): string | undefined {
  return customByCode.get(code)?.url;
}

export function subscribeCustomEmoji(fn: () => void): () => void {
  customListeners.add(fn);
  return () => customListeners.delete(fn);
}
