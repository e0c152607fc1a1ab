import { QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Router } from "wouter";
import { memoryLocation } from "wouter/memory-location";
import { createServices, ServicesContext } from "../../app/services";
import { Highlight } from "./Highlight";
import { hitHref } from "./queries";
import { SearchPage } from "./SearchPage";

const hit = (id: number, pieces: { text: string; match: boolean }[], senderId = 2) => ({
  id,
  conversation_id: 7,
  seq: id,
  sender_id: senderId,
  sender: { id: senderId, handle: `u${senderId}`, display_name: senderId === 2 ? "Bea Sender" : "Someone Else" },
  created_at: "2026-11-21T10:00:00Z",
  edited_at: null,
  body: pieces.map((p) => p.text).join(""),
  rank: 0.1,
  highlight: pieces,
});

function json(body: unknown): Response {
  return new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } });
}

afterEach(() => vi.unstubAllGlobals());

describe("Highlight", () => {
  it("renders pieces as text, matches in <mark>, never markup from the message", () => {
    const evil = '<img src=x onerror="window.pwned=1">';
    const { container } = render(
      <p>
        <Highlight pieces={[{ text: evil, match: false }, { text: "falcon", match: true }, { text: " flies", match: false }]} />
      </p>,
    );
    expect(container.textContent).toBe(`${evil}falcon flies`);
    expect(container.querySelector("img")).toBeNull();
    expect([...container.querySelectorAll("mark")].map((m) => m.textContent)).toEqual(["falcon"]);
  });
});

describe("SearchPage", () => {
  it("searches as you type, links each result to its message, and pages on", async () => {
    const calls: string[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (request: Request) => {
        const url = new URL(request.url);
        calls.push(url.pathname + url.search);
        if (url.pathname === "/conversations") {
          return json({ conversations: [{ id: 7, kind: "group", name: "Birders", topic: "", peer: null, role: "member", archived: false }] });
        }
        if (url.searchParams.get("cursor") === "next") {
          return json({ mode: "words", sort: "relevance", hits: [hit(3, [{ text: "third heron", match: false }])], next_cursor: null });
        }
        return json({
          mode: "words",
          sort: "relevance",
          hits: [hit(1, [{ text: "a ", match: false }, { text: "heron", match: true }]), hit(2, [{ text: "heron", match: true }], 5)],
          next_cursor: "next",
        });
      }),
    );
    const services = createServices("http://tipline.test", null);
    const { hook } = memoryLocation({ path: "/find" });
    render(
      <ServicesContext.Provider value={services}>
        <QueryClientProvider client={services.queryClient}>
          <Router hook={hook}>
            <SearchPage />
          </Router>
        </QueryClientProvider>
      </ServicesContext.Provider>,
    );
    fireEvent.change(screen.getByLabelText("Search"), { target: { value: "heron" } });
    const results = await screen.findByTestId("search-results");
    const links = within(results).getAllByTestId("search-hit");
    expect(links.map((a) => a.getAttribute("href"))).toEqual(["/c/7?m=1", "/c/7?m=2"]);
    expect(within(results).getAllByText("heron", { selector: "mark" })).toHaveLength(2);
    // Each result is labelled with who wrote it, then the conversation it is in.
    expect(within(results).getAllByTestId("search-hit-sender").map((e) => e.textContent)).toEqual(["Bea Sender", "Someone Else"]);
    expect(await within(results).findAllByText("in Birders")).toHaveLength(2);
    expect(calls.some((c) => c.startsWith("/search/messages?") && c.includes("q=heron"))).toBe(true);
    fireEvent.click(screen.getByRole("button", { name: "More results" }));
    expect(await screen.findByText("third heron")).toBeTruthy();
    expect(screen.queryByRole("button", { name: "More results" })).toBeNull();
  });

  it("links a hit to its conversation at the message", () => {
    expect(hitHref({ conversation_id: 4, id: 99 })).toBe("/c/4?m=99");
  });
});
