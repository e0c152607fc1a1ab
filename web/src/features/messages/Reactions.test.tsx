import { act, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import type { Message } from "../../api/client";
import { messageEvent } from "../../test/fakeSocket";
import { MessageItem, reactorNames, type MessageItemProps } from "./MessageItem";

const names: Record<number, string> = { 1: "Me", 2: "Bo", 3: "Ana" };

function renderItem(extra: Partial<Message> = {}, props: Partial<MessageItemProps> = {}) {
  const message = { ...(messageEvent(1, 1).data as Message), sender_id: 2, ...extra };
  const all: MessageItemProps = {
    message,
    senderName: "Bo",
    compact: false,
    mine: false,
    myId: 1,
    myHandle: "me",
    canDelete: false,
    readOnly: false,
    reply: undefined,
    highlighted: false,
    onReply: vi.fn(),
    onJumpTo: vi.fn(),
    onEdit: vi.fn(async () => undefined),
    onDelete: vi.fn(),
    onReact: vi.fn(),
    nameOf: (id) => (id === null ? "Deleted account" : (names[id] ?? "Former member")),
    ...props,
  };
  render(
    <ul>
      <MessageItem {...all} />
    </ul>,
  );
  return all;
}

describe("reactions", () => {
  it("names who reacted", () => {
    const nameOf = (id: number | null) => names[id ?? 0] ?? "?";
    expect(reactorNames([2], 1, nameOf)).toBe("Bo");
    expect(reactorNames([2, 1, 3], 1, nameOf)).toBe("Bo, Ana and you");
    expect(reactorNames(Array.from({ length: 12 }, (_, i) => i + 10), 1, () => "X")).toBe("X, X, X, X, X, X, X, X, X, X and 2 others");
  });

  it("shows who reacted on hover and keyboard focus, with the emoji's shortcode", async () => {
    renderItem({ reactions: [{ emoji: "🎉", count: 2, user_ids: [2, 1] }] });
    const chip = screen.getByTestId("reaction");
    fireEvent.mouseEnter(chip.parentElement!);
    const tip = await screen.findByRole("tooltip");
    expect(tip.textContent).toMatch(/^Bo and you reacted with /);
    await waitFor(() => expect(tip.textContent).toBe("Bo and you reacted with :tada:"));
    expect(chip.getAttribute("aria-describedby")).toBe(tip.id);
    fireEvent.mouseLeave(chip.parentElement!);
    expect(screen.queryByRole("tooltip")).toBeNull();
    fireEvent.focus(chip);
    expect(screen.getByRole("tooltip").textContent).toContain("Bo and you");
  });

  it("shows the names on a long press without toggling the reaction", async () => {
    vi.useFakeTimers();
    try {
      const p = renderItem({ reactions: [{ emoji: "👍", count: 1, user_ids: [3] }] });
      const chip = screen.getByTestId("reaction");
      fireEvent.touchStart(chip);
      act(() => vi.advanceTimersByTime(500));
      fireEvent.touchEnd(chip);
      fireEvent.click(chip);
      expect(p.onReact).not.toHaveBeenCalled();
      expect(screen.getByRole("tooltip").textContent).toMatch(/^Ana reacted with/);
      fireEvent.click(chip);
      expect(p.onReact).toHaveBeenCalledWith(expect.any(Number), "👍", true);
    } finally {
      vi.useRealTimers();
    }
  });

  it("reacts with any emoji from the full picker, joining the same emoji already there", async () => {
    const p = renderItem({ reactions: [{ emoji: "👍", count: 1, user_ids: [3] }] });
    fireEvent.click(screen.getByRole("button", { name: "Add reaction" }));
    fireEvent.click(screen.getByRole("menuitem", { name: "More emoji" }));
    const search = await screen.findByRole("searchbox", { name: "Search emoji" });
    fireEvent.change(search, { target: { value: "technologist" } });
    fireEvent.click(await screen.findByRole("button", { name: "woman technologist" }));
    expect(p.onReact).toHaveBeenLastCalledWith(expect.any(Number), "👩‍💻", true);
    fireEvent.click(screen.getByRole("button", { name: "Add reaction" }));
    fireEvent.click(screen.getByRole("menuitem", { name: "More emoji" }));
    fireEvent.change(await screen.findByRole("searchbox", { name: "Search emoji" }), { target: { value: "+1" } });
    fireEvent.click(await screen.findByRole("button", { name: "thumbs up" }));
    // The picker writes 👍 with U+FE0F; the reaction on the message is the same emoji.
    expect(p.onReact).toHaveBeenLastCalledWith(expect.any(Number), "👍", true);
  });
});

describe("editing", () => {
  it("formats with the composer's shortcuts while editing", () => {
    renderItem({ body: "fix this", sender_id: 1 }, { mine: true });
    fireEvent.click(screen.getByRole("button", { name: "Edit" }));
    const box = screen.getByRole("textbox", { name: "Edit message" }) as HTMLTextAreaElement;
    box.setSelectionRange(4, 8);
    fireEvent.keyDown(box, { key: "b", ctrlKey: true });
    expect(box.value).toBe("fix **this**");
  });
});
