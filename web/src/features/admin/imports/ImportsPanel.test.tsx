import { QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createServices, ServicesContext } from "../../../app/services";
import { ImportsPanel, type ImportRun } from "./ImportsPanel";

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

const run = (over: Partial<ImportRun> = {}): ImportRun => ({
  id: 1,
  source: "slack",
  file_name: "acme.zip",
  state: "running",
  started_at: "2026-12-07T10:00:00Z",
  updated_at: "2026-12-07T10:00:05Z",
  finished_at: null,
  processed: 5000,
  total: 20000,
  counts: { created: { users: 12, messages: 4800, replies: 200 }, matched: { users: 3 }, skipped: {}, notes: {} },
  last_error: null,
  ...over,
});

function serve(answers: unknown[]): string[] {
  const seen: string[] = [];
  let i = 0;
  vi.stubGlobal(
    "fetch",
    vi.fn(async (req: Request) => {
      const url = new URL(req.url);
      seen.push(url.pathname + url.search);
      const body = answers[Math.min(i, answers.length - 1)];
      i += 1;
      return body instanceof Response ? body : json(body);
    }),
  );
  return seen;
}

function mount() {
  const services = createServices("http://tipline.test", null);
  render(
    <ServicesContext.Provider value={services}>
      <QueryClientProvider client={services.queryClient}>
        <ImportsPanel />
      </QueryClientProvider>
    </ServicesContext.Provider>,
  );
}

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe("ImportsPanel", () => {
  it("shows each run with its progress, and its counts on demand", async () => {
    const seen = serve([
      [
        run(),
        run({
          id: 2,
          source: "mattermost",
          file_name: "team.jsonl",
          state: "failed",
          processed: 1500,
          total: 3000,
          finished_at: "2026-12-06T10:00:00Z",
          last_error: "SimulatedCrash: stopped after 3 batches",
          counts: { created: {}, matched: {}, skipped: { "message: its author is not in the export": 4 }, notes: {} },
        }),
      ],
    ]);
    mount();
    const items = await screen.findAllByTestId("import-run");
    const [first, second] = items as [HTMLElement, HTMLElement];
    expect(seen[0]).toBe("/admin/imports?limit=100");
    expect(items.map((i) => i.getAttribute("data-state"))).toEqual(["running", "failed"]);
    expect(within(first).getByText("acme.zip")).toBeTruthy();
    expect(within(first).getByTestId("import-progress").textContent).toBe("25% · 5,000 / 20,000 messages");
    expect(within(first).getByRole("progressbar").getAttribute("aria-valuenow")).toBe("25");
    expect(within(second).getByTestId("import-error").textContent).toBe("SimulatedCrash: stopped after 3 batches");

    fireEvent.click(within(first).getByRole("button", { name: "Details" }));
    const messages = within(first).getByTestId("import-count-messages");
    expect(messages.textContent).toBe("messages4,8000");
    expect(within(first).getByTestId("import-count-users").textContent).toBe("users123");
    fireEvent.click(within(second).getByRole("button", { name: "Details" }));
    expect(within(second).getByText(/its author is not in the export/).textContent).toContain("4 ·");
  });

  it("polls while a run is going and stops once it is done", async () => {
    const seen = serve([[run()], [run({ processed: 15000 })], [run({ state: "done", processed: 20000, finished_at: "2026-12-07T10:01:00Z" })]]);
    mount();
    await screen.findByTestId("import-run");
    await waitFor(() => expect(screen.getByTestId("import-progress").textContent).toContain("75%"), { timeout: 5000 });
    await waitFor(() => expect(screen.getByTestId("import-run").getAttribute("data-state")).toBe("done"), { timeout: 5000 });
    expect(screen.getByTestId("import-progress").textContent).toBe("100% · 20,000 / 20,000 messages");
    const calls = seen.length;
    await new Promise((r) => setTimeout(r, 2500));
    expect(seen.length).toBe(calls);
  }, 15000);

  it("says when nothing was imported yet", async () => {
    serve([[]]);
    mount();
    expect((await screen.findByTestId("imports-empty")).textContent).toBe("No import has run yet.");
  });

  it("shows the server's refusal", async () => {
    serve([json({ detail: "only server admins can do this", code: "not_a_server_admin" }, 403)]);
    mount();
    expect(await screen.findByText(/only server admins/i)).toBeTruthy();
  });

  it("shows a run still validating its export", async () => {
    serve([[run({ total: null, processed: 0 })]]);
    mount();
    expect((await screen.findByTestId("import-progress")).textContent).toBe("validating… · 0 messages");
  });
});
