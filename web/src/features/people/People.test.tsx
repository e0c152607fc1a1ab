import { QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { TokenPair } from "../../api/client";
import { createServices, ServicesContext } from "../../app/services";
import { Avatar } from "../../lib/ui";
import { BlockedPeople } from "./BlockedPeople";

const me = { id: 7, handle: "ann", display_name: "Ann", email: "ann@example.com", is_admin: false, is_bot: false, created_at: "2026-12-01T12:00:00Z" };
const pair: TokenPair = {
  access_token: "access-1",
  refresh_token: "refresh-1",
  token_type: "bearer",
  expires_in: 900,
  session_id: "00000000-0000-4000-8000-000000000007",
  enrollment_required: false,
  account_created: false,
  user: me,
};
const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

function serve(routes: Record<string, () => Response>) {
  const seen: string[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (req: Request) => {
      const key = `${req.method} ${new URL(req.url).pathname}`;
      seen.push(key);
      return routes[key]?.() ?? json({ detail: "not here", code: "not_found" }, 404);
    }),
  );
  return seen;
}

function mount(node: React.ReactNode) {
  const services = createServices(window.location.origin, localStorage);
  services.session.set(pair);
  render(
    <ServicesContext.Provider value={services}>
      <QueryClientProvider client={services.queryClient}>{node}</QueryClientProvider>
    </ServicesContext.Provider>,
  );
}

afterEach(() => {
  vi.unstubAllGlobals();
  localStorage.clear();
});

describe("people", () => {
  it("draws an uploaded avatar, and initials for someone without one or outside the app", async () => {
    serve({
      "GET /users/3/avatar": () => json({ user_id: 3, url: "http://localhost/media/avatars/3/a.webp" }),
      "GET /users/4/avatar": () => json({ user_id: 4, url: null }),
    });
    mount(
      <>
        <Avatar name="Bob Stone" id={3} />
        <Avatar name="Cy Doe" id={4} />
      </>,
    );
    const img = await screen.findByTestId("avatar-image");
    expect(img.getAttribute("src")).toBe("http://localhost/media/avatars/3/a.webp");
    expect(screen.getByText("CD")).toBeTruthy();
    render(<Avatar name="No App" id={5} />);
    expect(screen.getByText("NA")).toBeTruthy();
  });

  it("lists blocked people and unblocks one", async () => {
    let blocked = [{ id: 3, handle: "bob", display_name: "Bob", is_bot: false, blocked_at: "2026-12-06T10:00:00Z" }];
    const seen = serve({
      "GET /me/blocks": () => json(blocked),
      "DELETE /me/blocks/3": () => {
        blocked = [];
        return json(blocked);
      },
    });
    mount(<BlockedPeople />);
    fireEvent.click(await screen.findByRole("button", { name: "Unblock Bob" }));
    await waitFor(() => expect(screen.getByText("You have not blocked anyone.")).toBeTruthy());
    expect(seen).toContain("DELETE /me/blocks/3");
  });
});
