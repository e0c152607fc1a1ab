import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { loadEmoji, recentEmoji } from "../../lib/emoji";
import { Composer, applyFormat } from "./Composer";

const props = () => ({
  members: [],
  myId: 1,
  replyTo: null,
  onCancelReply: vi.fn(),
  onSend: vi.fn(),
  onTyping: vi.fn(),
  disabledReason: null,
  placeholder: "Message",
});

describe("Composer formatting", () => {
  beforeEach(() => localStorage.clear());

  it("wraps the selection, toggles the same markers off, and quotes whole lines", () => {
    expect(applyFormat("say hi now", 4, 6, "bold")).toEqual({ text: "say **hi** now", start: 6, end: 8 });
    expect(applyFormat("say **hi** now", 6, 8, "bold")).toEqual({ text: "say hi now", start: 4, end: 6 });
    expect(applyFormat("x", 1, 1, "code")).toEqual({ text: "x``", start: 2, end: 2 });
    expect(applyFormat("a\nb c\nd", 3, 5, "quote").text).toBe("a\n> b c\nd");
    expect(applyFormat("ls -l", 0, 5, "codeblock").text).toBe("```\nls -l\n```");
  });

  it("formats with Ctrl/Cmd+B, I, E and the toolbar", () => {
    render(<Composer {...props()} />);
    const box = screen.getByTestId("composer") as HTMLTextAreaElement;
    fireEvent.change(box, { target: { value: "make it bold", selectionStart: 12 } });
    box.setSelectionRange(8, 12);
    fireEvent.keyDown(box, { key: "b", ctrlKey: true });
    expect(box.value).toBe("make it **bold**");
    box.setSelectionRange(0, 4);
    fireEvent.keyDown(box, { key: "i", metaKey: true });
    expect(box.value).toBe("_make_ it **bold**");
    box.setSelectionRange(7, 9);
    fireEvent.keyDown(box, { key: "e", ctrlKey: true });
    expect(box.value).toBe("_make_ `it` **bold**");
    box.setSelectionRange(0, 0);
    fireEvent.click(screen.getByRole("button", { name: "Strikethrough" }));
    expect(box.value).toBe("~~~~_make_ `it` **bold**");
  });

  it("shows a preview of the formatted message", async () => {
    render(<Composer {...props()} />);
    const box = screen.getByTestId("composer") as HTMLTextAreaElement;
    fireEvent.change(box, { target: { value: "**loud** <i>x</i>", selectionStart: 17 } });
    fireEvent.click(screen.getByRole("button", { name: "Preview" }));
    const preview = screen.getByTestId("composer-preview");
    await waitFor(() => expect(preview.querySelector("strong")?.textContent).toBe("loud"));
    expect(preview.querySelector("i")).toBeNull();
    expect(preview.textContent).toContain("<i>x</i>");
  });

  it("completes :shortcodes: with the keyboard and remembers the emoji", async () => {
    await loadEmoji();
    const p = props();
    render(<Composer {...p} />);
    const box = screen.getByTestId("composer") as HTMLTextAreaElement;
    fireEvent.change(box, { target: { value: "well done :tad", selectionStart: 14 } });
    const list = await screen.findByRole("listbox", { name: "Emoji" });
    const options = screen.getAllByRole("option");
    expect(options[0]?.textContent).toContain(":tada:");
    expect(list).toBeTruthy();
    fireEvent.keyDown(box, { key: "Enter" });
    expect(box.value).toBe("well done 🎉");
    expect(recentEmoji()).toEqual(["🎉"]);
    expect(screen.queryByRole("listbox")).toBeNull();
    // Times and URLs are not shortcodes; Esc closes the list without sending.
    fireEvent.change(box, { target: { value: "at 10:30", selectionStart: 8 } });
    expect(screen.queryByRole("listbox")).toBeNull();
    fireEvent.change(box, { target: { value: "hi :smi", selectionStart: 7 } });
    await screen.findByRole("listbox", { name: "Emoji" });
    fireEvent.keyDown(box, { key: "Escape" });
    expect(screen.queryByRole("listbox")).toBeNull();
    expect(p.onSend).not.toHaveBeenCalled();
  });

  it("inserts an emoji chosen in the picker, found by search", async () => {
    render(<Composer {...props()} />);
    const box = screen.getByTestId("composer") as HTMLTextAreaElement;
    fireEvent.change(box, { target: { value: "yay ", selectionStart: 4 } });
    box.setSelectionRange(4, 4);
    fireEvent.click(screen.getByRole("button", { name: "Insert emoji" }));
    const search = await screen.findByRole("searchbox", { name: "Search emoji" });
    fireEvent.change(search, { target: { value: "tada" } });
    fireEvent.click(await screen.findByRole("button", { name: "party popper" }));
    expect(box.value).toBe("yay 🎉");
    expect(screen.queryByTestId("emoji-picker")).toBeNull();
  });
});
