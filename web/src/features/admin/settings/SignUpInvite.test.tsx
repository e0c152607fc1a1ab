import { QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createServices, ServicesContext } from "../../../app/services";
import { customEmojiUrl, loadEmoji, searchEmoji, setCustomEmoji } from "../../../lib/emoji";
import { withCustomEmoji } from "../../../lib/EmojiGlyph";
import { SignUp, inviteCode } from "../../accounts/AuthPages";

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

afterEach(() => {
  vi.unstubAllGlobals();
  localStorage.clear();
  window.history.replaceState(null, "", "/");
  setCustomEmoji([]);
});

describe("sign-up with an invite link", () => {
  it("reads the code from the fragment, takes it out of the address bar and sends it", async () => {
    expect(inviteCode("#invite=abc_123")).toBe("abc_123");
    expect(inviteCode("")).toBe("");
    const seen: unknown[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (req: Request) => {
        const url = new URL(req.url);
        if (url.pathname === "/auth/signup-info") return json({ signup_mode: "invite_only", allowed_email_domains: ["example.com"] });
        if (url.pathname === "/auth/signup") {
          seen.push(JSON.parse(await req.text()));
          return json({ detail: "this invite has been used up", code: "invite_used_up" }, 403);
        }
        return json([]);
      }),
    );
    window.history.replaceState(null, "", "/signup#invite=CODE42");
    const services = createServices(window.location.origin, localStorage);
    render(
      <ServicesContext.Provider value={services}>
        <QueryClientProvider client={services.queryClient}>
          <SignUp />
        </QueryClientProvider>
      </ServicesContext.Provider>,
    );
    expect(window.location.hash).toBe("");
    await waitFor(() => expect(screen.getByLabelText(/Invite code/)).toHaveProperty("value", "CODE42"));
    await screen.findByText("Addresses at example.com only.");
    fireEvent.change(screen.getByLabelText(/Display name/), { target: { value: "Newbie" } });
    fireEvent.change(screen.getByLabelText(/^Handle/), { target: { value: "newbie" } });
    fireEvent.change(screen.getByLabelText(/^Email/), { target: { value: "newbie@example.com" } });
    fireEvent.change(screen.getByLabelText(/^Password/), { target: { value: "a long enough passphrase" } });
    fireEvent.click(screen.getByRole("button", { name: "Create account" }));
    await screen.findByText(/used up/);
    expect(seen).toEqual([
      { email: "newbie@example.com", password: "a long enough passphrase", handle: "newbie", display_name: "Newbie", invite: "CODE42" },
    ]);
  });
});

describe("custom emoji", () => {
  it("are found by name and drawn from their image only when the server has them", async () => {
    setCustomEmoji([{ name: "party_parrot", url: "http://x/media/emoji/a.png" }]);
    expect(customEmojiUrl(":party_parrot:")).toBe("http://x/media/emoji/a.png");
    expect(customEmojiUrl(":nope:")).toBeUndefined();
    const idx = await loadEmoji();
    expect(searchEmoji(idx, "party_p")[0]).toMatchObject({ emoji: ":party_parrot:", url: "http://x/media/emoji/a.png" });
    const parts = withCustomEmoji("hi :party_parrot: and :nope:", "k", (t) => t);
    expect(parts.filter((p) => typeof p === "string")).toEqual(["hi ", " and ", ":nope:"]);
    const { container } = render(<p>{parts}</p>);
    expect(container.querySelector("img")?.getAttribute("alt")).toBe(":party_parrot:");
  });
});
