import { beforeEach, describe, expect, it } from "vitest";
import { bare, canonicalEmoji, emojiName, loadEmoji, recentEmoji, rememberEmoji, searchEmoji, shortcodeQuery } from "./emoji";

describe("emoji data", () => {
  beforeEach(() => localStorage.clear());

  it("finds emoji by shortcode, name and tag, best match first", async () => {
    const idx = await loadEmoji();
    expect(idx.all.length).toBeGreaterThan(1800);
    expect(searchEmoji(idx, "tada")[0]?.emoji).toBe("🎉");
    expect(bare(searchEmoji(idx, ":+1:")[0]!.emoji)).toBe("👍");
    // The picker's spelling of an emoji joins the reaction already on the message.
    expect(canonicalEmoji(searchEmoji(idx, "+1")[0]!.emoji, ["🎉", "👍"])).toBe("👍");
    expect(canonicalEmoji("🚀", ["🎉"])).toBe("🚀");
    expect(searchEmoji(idx, "party").map((e) => e.emoji)).toContain("🎉");
    expect(searchEmoji(idx, "zzzzqqq")).toEqual([]);
    // Multi-codepoint emoji (ZWJ sequences, flags) are there as one entry.
    expect(idx.byEmoji.has("👩‍💻")).toBe(true);
    expect(idx.byEmoji.has("🇫🇷")).toBe(true);
    expect(emojiName(idx, "🎉")).toBe(":tada:");
    expect(emojiName(idx, "👍")).toBe(":+1:");
  });

  it("remembers recently used emoji, newest first, without duplicates", () => {
    rememberEmoji("🎉");
    rememberEmoji("👍");
    rememberEmoji("🎉");
    expect(recentEmoji()).toEqual(["🎉", "👍"]);
    for (let i = 0; i < 30; i++) rememberEmoji(String(i));
    expect(recentEmoji()).toHaveLength(24);
    localStorage.setItem("tipline.emoji.recent", "not json");
    expect(recentEmoji()).toEqual([]);
  });

  it("finds the :partial word at the caret", () => {
    expect(shortcodeQuery("nice :ta", 8)).toEqual({ start: 5, query: "ta" });
    expect(shortcodeQuery(":+1", 3)).toEqual({ start: 0, query: "+1" });
    expect(shortcodeQuery("at 10:30", 8)).toBeNull();
    expect(shortcodeQuery("nice :t", 7)).toBeNull();
    expect(shortcodeQuery("http://x", 8)).toBeNull();
  });
});
