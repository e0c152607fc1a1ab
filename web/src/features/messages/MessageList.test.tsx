import { fireEvent, render, screen, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import type { Message } from "../../api/client";
import { messageEvent } from "../../test/fakeSocket";
import type { OutboxItem } from "../../realtime";
import { segments } from "./MessageBody";
import { MessageList, type MessageListProps } from "./MessageList";

const msg = (seq: number, extra: Partial<Message> = {}): Message => ({ ...(messageEvent(1, seq).data as Message), ...extra });

function renderList(props: Partial<MessageListProps> = {}) {
  const all: MessageListProps = {
    messages: [],
    pending: [],
    hasOlder: false,
    loadingOlder: false,
    onLoadOlder: vi.fn(),
    myId: 1,
    myHandle: "me",
    nameOf: (id) => (id === 1 ? "Me" : id === 2 ? "Bo" : "Someone"),
    canModerate: false,
    readOnly: false,
    unreadAfter: null,
    online: true,
    onReply: vi.fn(),
    onEdit: vi.fn(async () => undefined),
    onDelete: vi.fn(),
    onReact: vi.fn(),
    onRetry: vi.fn(),
    onDiscard: vi.fn(),
    ...props,
  };
  return { ...render(<MessageList {...all} />), props: all };
}

describe("MessageList", () => {
  it("renders message text as text, never as HTML", () => {
    const evil = `<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bold</b> <a href="javascript:alert(1)">x</a>`;
    const { container } = renderList({ messages: [msg(1, { body: evil })] });
    const body = screen.getByTestId("message-body");
    expect(body.textContent).toContain(evil);
    expect(container.querySelector("img, script, b")).toBeNull();
    expect(container.querySelector('a[href^="javascript:"]')).toBeNull();
    expect((window as unknown as { pwned?: number }).pwned).toBeUndefined();
  });

  it("shows a separator per day, groups a sender's messages, and marks where unread starts", () => {
    renderList({
      messages: [
        msg(1, { created_at: "2026-11-20T10:00:00Z" }),
        msg(2, { created_at: "2026-11-21T10:00:00Z" }),
        msg(3, { created_at: "2026-11-21T10:01:00Z" }),
        msg(4, { created_at: "2026-11-21T10:02:00Z" }),
      ],
      unreadAfter: 3,
    });
    expect(screen.getAllByRole("separator")).toHaveLength(2);
    expect(screen.getAllByTestId("message")).toHaveLength(4);
    // Only the first of a run shows the sender's name.
    expect(screen.getAllByText("Bo")).toHaveLength(3);
    expect(screen.getByText("New messages")).toBeTruthy();
  });

  it("shows pending messages after the sent ones, and hides one as soon as its sent copy is there", () => {
    const pending: OutboxItem[] = [
      { client_msg_id: "c-a", conversation_id: 1, body: "queued one", reply_to: null, created_at: "2026-11-21T10:00:00Z", status: "pending", attempts: 0 },
      { client_msg_id: "c-b", conversation_id: 1, body: "refused one", reply_to: null, created_at: "2026-11-21T10:00:00Z", status: "failed", attempts: 1, error: { code: "body_too_long", message: "too long" } },
    ];
    const { rerender, props } = renderList({ messages: [msg(1)], pending, online: false });
    const items = screen.getAllByTestId("pending-message");
    expect(items.map((i) => i.dataset.status)).toEqual(["queued", "failed"]);
    fireEvent.click(within(items[1]!).getByRole("button", { name: "Retry" }));
    expect(props.onRetry).toHaveBeenCalledWith("c-b");
    fireEvent.click(within(items[1]!).getByRole("button", { name: "Discard" }));
    expect(props.onDiscard).toHaveBeenCalledWith("c-b");
    rerender(<MessageList {...props} messages={[msg(1), msg(2, { client_msg_id: "c-a", sender_id: 1, body: "queued one" })]} />);
    expect(screen.getAllByTestId("pending-message")).toHaveLength(1);
    expect(screen.getAllByText("queued one")).toHaveLength(1);
  });

  it("shows replies, reactions and the actions a member may take", () => {
    const { props } = renderList({
      messages: [msg(1, { body: "original" }), msg(2, { sender_id: 1, reply_to_id: 100, body: "answer", reactions: [{ emoji: "🎉", count: 2, user_ids: [1, 2] }] })],
    });
    const answer = screen.getAllByTestId("message")[1]!;
    expect(within(answer).getByRole("button", { name: /Bo\s*original/ })).toBeTruthy();
    const chip = within(answer).getByRole("button", { name: "🎉 2, including you" });
    expect(chip.getAttribute("aria-pressed")).toBe("true");
    fireEvent.click(chip);
    expect(props.onReact).toHaveBeenCalledWith(100 * 2, "🎉", false);
    expect(within(answer).getByRole("button", { name: "Edit" })).toBeTruthy();
    const other = screen.getAllByTestId("message")[0]!;
    expect(within(other).queryByRole("button", { name: "Edit" })).toBeNull();
    expect(within(other).queryByRole("button", { name: "Delete" })).toBeNull();
  });

  it("offers older messages when there are more", () => {
    const { props } = renderList({ messages: [msg(10)], hasOlder: true });
    fireEvent.click(screen.getByRole("button", { name: "Load older messages" }));
    expect(props.onLoadOlder).toHaveBeenCalled();
  });
});

describe("message text segments", () => {
  it("finds mentions and http(s) links only", () => {
    expect(segments("hi @ana_b, see https://example.com/x. Or javascript:alert(1) and mail@host.com")).toEqual([
      { kind: "text", text: "hi " },
      { kind: "mention", text: "@ana_b" },
      { kind: "text", text: ", see " },
      { kind: "link", text: "https://example.com/x" },
      { kind: "text", text: ". Or javascript:alert(1) and mail@host.com" },
    ]);
  });
});

describe("MessageList moderation and jumps", () => {
  it("shows a blocked sender's message as a placeholder without actions", () => {
    renderList({ messages: [msg(1, { body: "", hidden: true })] });
    expect(screen.getByTestId("message-hidden").textContent).toContain("someone you blocked");
    expect(screen.queryByRole("toolbar")).toBeNull();
  });

  it("reports someone else's message with a reason, and blocks its sender after confirming", async () => {
    const onReport = vi.fn(async () => undefined);
    const onBlock = vi.fn();
    renderList({ messages: [msg(1, { sender_id: 2 }), msg(2, { sender_id: 1 })], onReport, onBlock });
    const [theirs, mine] = screen.getAllByTestId("message") as [HTMLElement, HTMLElement];
    expect(within(mine).queryByRole("button", { name: "Report" })).toBeNull();
    fireEvent.click(within(theirs).getByRole("button", { name: "Report" }));
    const form = within(theirs).getByRole("form", { name: "Report this message" });
    fireEvent.change(within(form).getByRole("textbox"), { target: { value: "  spam  " } });
    fireEvent.click(within(form).getByRole("button", { name: "Report" }));
    expect(await within(theirs).findByRole("status")).toBeTruthy();
    expect(onReport).toHaveBeenCalledWith(msg(1).id, "spam");
    fireEvent.click(within(theirs).getByRole("button", { name: "Block Bo" }));
    expect(onBlock).not.toHaveBeenCalled();
    fireEvent.click(within(within(theirs).getByRole("alertdialog")).getByRole("button", { name: "Block" }));
    expect(onBlock).toHaveBeenCalledWith(2);
  });

  it("opened at a message: loads older pages until it is there, then scrolls to it", () => {
    const scrolled: string[] = [];
    Element.prototype.scrollIntoView = function (this: Element) {
      scrolled.push(this.id);
    };
    const target = msg(5).id;
    const { props, rerender } = renderList({ messages: [msg(10)], hasOlder: true, target });
    expect(props.onLoadOlder).toHaveBeenCalled();
    expect(scrolled).toEqual([]);
    const ids = [5, 6, 7, 8, 9, 10].map((s) => msg(s));
    rerender(<MessageList {...props} messages={ids} hasOlder={false} />);
    expect(scrolled).toEqual([`m-${target}`]);
  });
  it("says why a send was refused in a sentence, not the server's raw text", () => {
    renderList({
      pending: [
        { client_msg_id: "c-x", conversation_id: 1, body: "x", reply_to: null, created_at: "2026-11-21T10:00:00Z", status: "failed", attempts: 1, error: { code: "body_too_long", message: "message body is too long" } },
        { client_msg_id: "c-y", conversation_id: 1, body: "y", reply_to: null, created_at: "2026-11-21T10:00:00Z", status: "failed", attempts: 1, error: { code: "new_code", message: "something odd happened" } },
      ],
    });
    const alerts = screen.getAllByRole("alert").map((a) => a.querySelector("span")?.textContent);
    expect(alerts).toEqual(["This message is too long. Shorten it or split it in two.", "Something odd happened."]);
  });

  it("stays at the bottom while content above grows (thumbnails loading), until the reader scrolls away", () => {
    const observers: { cb: ResizeObserverCallback; targets: Element[] }[] = [];
    vi.stubGlobal(
      "ResizeObserver",
      class {
        targets: Element[] = [];
        constructor(cb: ResizeObserverCallback) {
          observers.push({ cb, targets: this.targets });
        }
        observe(t: Element) {
          this.targets.push(t);
        }
        unobserve() {}
        disconnect() {}
      },
    );
    try {
      renderList({ messages: [msg(1), msg(2), msg(3)] });
      const scroller = screen.getByLabelText("Messages");
      let height = 1000;
      Object.defineProperty(scroller, "scrollHeight", { configurable: true, get: () => height });
      Object.defineProperty(scroller, "clientHeight", { configurable: true, get: () => 400 });
      const grow = (by: number) => {
        height += by;
        for (const o of observers) o.cb([], o as unknown as ResizeObserver);
      };
      expect(observers.some((o) => o.targets.includes(scroller))).toBe(true);
      scroller.scrollTop = 600; // at the bottom
      fireEvent.scroll(scroller);
      grow(117); // an image arrived
      expect(scroller.scrollTop).toBe(1117);
      // The reader scrolls up to read: growth no longer moves the view.
      scroller.scrollTop = 300;
      fireEvent.scroll(scroller);
      grow(100);
      expect(scroller.scrollTop).toBe(300);
    } finally {
      vi.unstubAllGlobals();
    }
  });
});
