/** An emoji as drawn in messages, reactions and the picker: text, or a custom server emoji's image. */
import { useSyncExternalStore } from "react";
import { customEmojiUrl, customEntries, subscribeCustomEmoji, type EmojiEntry } from "./emoji";
import { cx } from "./ui";

/** The custom emoji, re-rendering when the server's list changes. */
export function useCustomEmoji(): EmojiEntry[] {
  return useSyncExternalStore(subscribeCustomEmoji, customEntries);
}

export function EmojiGlyph({ emoji, className }: { emoji: string; className?: string }) {
  useCustomEmoji();
  const url = customEmojiUrl(emoji);
  if (!url) return <>{emoji}</>;
  return <img src={url} alt={emoji} title={emoji} data-custom-emoji={emoji} className={cx("inline-block size-[1.375em] object-contain align-text-bottom", className)} />;
}

/** Plain text with each known ":name:" drawn as its image; the rest goes to `render`. */
export function withCustomEmoji(text: string, key: string, render: (text: string, key: string) => React.ReactNode): React.ReactNode[] {
  const out: React.ReactNode[] = [];
  text.split(/(:[a-z0-9_+-]{2,32}:)/).forEach((part, i) => {
    if (!part) return;
    if (i % 2 === 1 && customEmojiUrl(part)) out.push(<EmojiGlyph key={`${key}e${i}`} emoji={part} />);
    else out.push(render(part, `${key}p${i}`));
  });
  return out;
}
