import { describe, expect, it } from "vitest";
import { mentionsAll, wantsNotification } from "./levels";
import { badgedFavicon, titleFor } from "./unread";

describe("notification levels", () => {
  it("reads @here and @channel as the server does", () => {
    expect(mentionsAll("@here standup")).toBe(true);
    expect(mentionsAll("ping @Channel!")).toBe(true);
    expect(mentionsAll("x@channel.io")).toBe(false);
    expect(mentionsAll("@channels")).toBe(false);
    expect(mentionsAll("no mention")).toBe(false);
  });

  it("applies all / mentions / mute", () => {
    expect(wantsNotification("direct", "all", false, "hi")).toBe(true);
    expect(wantsNotification("group", "all", false, "hi")).toBe(false);
    expect(wantsNotification("public", "all", false, "hi")).toBe(false);
    expect(wantsNotification("public", "all", true, "hi")).toBe(true);
    expect(wantsNotification("public", "all", false, "@channel hi")).toBe(true);
    expect(wantsNotification("direct", "mentions", false, "hi")).toBe(false);
    expect(wantsNotification("public", "mentions", false, "@here hi")).toBe(true);
    expect(wantsNotification("direct", "mute", true, "@here hi")).toBe(false);
  });
});

describe("unread indicators", () => {
  it("puts the count in the title and a badge on the favicon", () => {
    expect(titleFor(0)).toBe("Tipline");
    expect(titleFor(3)).toBe("(3) Tipline");
    expect(titleFor(250)).toBe("(99+) Tipline");
    const icon = decodeURIComponent(badgedFavicon(7));
    expect(icon.startsWith("data:image/svg+xml,<svg")).toBe(true);
    expect(icon).toContain(">7</text>");
  });
});
