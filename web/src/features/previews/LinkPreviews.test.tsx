import { QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Message } from "../../api/client";
import { createServices, ServicesContext } from "../../app/services";
import type { ConversationEvent } from "../../realtime";
import { applyEvent, type Timeline } from "../messages/timeline";
import { LinkPreviews } from "./LinkPreviews";
import { safeHref, type Preview } from "./queries";

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

const preview: Preview = {
  id: 7,
  url: "https://example.com/post",
  title: "A post",
  description: "What it is about",
  site_name: "Example",
  image: { width: 320, height: 168 },
};

afterEach(() => vi.unstubAllGlobals());

function show(previews: Preview[], removable: boolean) {
  const services = createServices(window.location.origin, null);
  render(
    <ServicesContext.Provider value={services}>
      <QueryClientProvider client={services.queryClient}>
        <LinkPreviews previews={previews} removable={removable} />
      </QueryClientProvider>
    </ServicesContext.Provider>,
  );
}

describe("LinkPreviews", () => {
  it("shows the card with Tipline's copy of the image and lets the sender remove it", async () => {
    const calls: string[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (req: Request) => {
        const url = new URL(req.url);
        calls.push(`${req.method} ${url.pathname}`);
        if (url.pathname === "/previews/7/image") return json({ url: "/media/local/objects/previews/1/x.webp?sig=1", expires_at: "", content_type: "image/webp", inline: true });
        return json({});
      }),
    );
    show([preview], true);
    const link = screen.getByRole("link", { name: "A post" });
    expect(link.getAttribute("href")).toBe("https://example.com/post");
    expect(link.getAttribute("rel")).toContain("noopener");
    expect(screen.getByText("What it is about")).toBeTruthy();
    expect(screen.getByText("Example")).toBeTruthy();
    const img = (await screen.findByTestId("preview-image")) as HTMLImageElement;
    expect(img.src).toContain("/media/local/objects/previews/1/x.webp");
    fireEvent.click(screen.getByRole("button", { name: "Remove preview of A post" }));
    await waitFor(() => expect(calls).toContain("DELETE /previews/7"));
  });

  it("has no remove button for others, and no link for a non-http URL", () => {
    vi.stubGlobal("fetch", vi.fn(async () => json({})));
    show([{ ...preview, id: 8, url: "javascript:alert(1)", title: null, site_name: null, image: null }], false);
    expect(screen.queryByRole("button")).toBeNull();
    expect(screen.queryByRole("link")).toBeNull();
    expect(safeHref("javascript:alert(1)")).toBeUndefined();
  });
});

describe("preview events", () => {
  const message = { id: 1, conversation_id: 1, seq: 1, sender_id: 1, client_msg_id: "a", body: "https://example.com/post", reply_to_id: null, mention_ids: [], created_at: "2026-12-01T00:00:00Z", edited_at: null, deleted: false, reactions: [], reply_count: 0, tips: [], attachments: [], hidden: false } as unknown as Message;
  const ev = (event: "preview.added" | "preview.removed", seq: number, previews: Preview[]) =>
    ({ type: "event", event, conversation_id: 1, seq, data: { message_id: 1, sender_id: 1, previews } }) as ConversationEvent;

  it("replace the message's previews with the list the event carries", () => {
    let t: Timeline = { messages: [message], hasOlder: false };
    t = applyEvent(t, ev("preview.added", 2, [preview]));
    expect(t.messages[0]!.previews).toEqual([preview]);
    t = applyEvent(t, ev("preview.removed", 3, []));
    expect(t.messages[0]!.previews).toEqual([]);
  });
});
