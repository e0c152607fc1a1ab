import { fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import type { Member } from "../../api/client";
import { Composer, mentionQuery } from "./Composer";

const member = (id: number, handle: string, name: string): Member => ({
  user: { id, handle, display_name: name, is_bot: false },
  role: "member",
  joined_at: "2026-11-21T10:00:00Z",
  last_read_seq: 0,
});

describe("Composer", () => {
  it("finds the @word at the caret", () => {
    expect(mentionQuery("hello @an", 9)).toEqual({ start: 6, query: "an" });
    expect(mentionQuery("mail@an", 7)).toBeNull();
    expect(mentionQuery("@", 1)).toEqual({ start: 0, query: "" });
  });

  it("completes mentions from the members list with the keyboard, and sends on Enter", () => {
    const onSend = vi.fn();
    render(
      <Composer
        members={[member(1, "me", "Me"), member(2, "anna", "Anna Lee"), member(3, "andy", "Andy")]}
        myId={1}
        replyTo={null}
        onCancelReply={vi.fn()}
        onSend={onSend}
        onTyping={vi.fn()}
        disabledReason={null}
        placeholder="Message"
      />,
    );
    const box = screen.getByTestId("composer") as HTMLTextAreaElement;
    fireEvent.change(box, { target: { value: "hi @an", selectionStart: 6 } });
    const options = screen.getAllByRole("option");
    expect(options.map((o) => o.textContent)).toEqual(["Anna Lee @anna", "Andy @andy"]);
    fireEvent.keyDown(box, { key: "ArrowDown" });
    fireEvent.keyDown(box, { key: "Enter" });
    expect(box.value).toBe("hi @andy ");
    expect(screen.queryByRole("listbox")).toBeNull();
    fireEvent.keyDown(box, { key: "Enter" });
    expect(onSend).toHaveBeenCalledWith("hi @andy");
    expect(box.value).toBe("");
  });

  it("sends without text once attachments are ready, and waits while uploads run", () => {
    const onSend = vi.fn();
    const props = {
      members: [],
      myId: 1,
      replyTo: null,
      onCancelReply: vi.fn(),
      onSend,
      onTyping: vi.fn(),
      disabledReason: null,
      placeholder: "Message",
    };
    const { rerender } = render(<Composer {...props} hasAttachments sendBlocked tray={<p>tray here</p>} />);
    expect(screen.getByText("tray here")).toBeTruthy();
    const button = screen.getByTestId("send") as HTMLButtonElement;
    expect(button.disabled).toBe(true);
    fireEvent.keyDown(screen.getByTestId("composer"), { key: "Enter" });
    expect(onSend).not.toHaveBeenCalled();
    rerender(<Composer {...props} hasAttachments sendBlocked={false} />);
    expect(button.disabled).toBe(false);
    fireEvent.click(button);
    expect(onSend).toHaveBeenCalledWith("");
  });

  it("offers an Attach button that hands over the picked files", () => {
    const onAttach = vi.fn();
    render(
      <Composer members={[]} myId={1} replyTo={null} onCancelReply={vi.fn()} onSend={vi.fn()} onTyping={vi.fn()} disabledReason={null} placeholder="Message" onAttach={onAttach} />,
    );
    const picked = new File(["x"], "notes.txt", { type: "text/plain" });
    fireEvent.change(screen.getByLabelText("Attach files"), { target: { files: [picked] } });
    expect(onAttach).toHaveBeenCalledWith([picked]);
  });
});
