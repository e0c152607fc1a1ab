import { QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createServices, ServicesContext } from "../../app/services";
import { Composer } from "../messages/Composer";
import { CommandAnswer, useComposerCommands } from "./Webhooks";
import { parseCommand } from "./webhooks";

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

function serve(handler: (path: string, body: unknown) => Response | undefined) {
  const seen: { method: string; path: string; body: unknown }[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (req: Request) => {
      const text = req.method === "GET" ? "" : await req.text();
      const body: unknown = text ? JSON.parse(text) : null;
      const path = new URL(req.url).pathname;
      seen.push({ method: req.method, path, body });
      return handler(path, body) ?? json({ detail: "not here", code: "not_found" }, 404);
    }),
  );
  return seen;
}

function Harness({ line }: { line: string }) {
  const c = useComposerCommands(5);
  return (
    <div>
      <button onClick={() => (c.tryRun(line) ? undefined : document.body.setAttribute("data-sent", line))}>run</button>
      <CommandAnswer answer={c.answer} onDismiss={c.dismiss} />
    </div>
  );
}

function mount(node: React.ReactNode) {
  const services = createServices(window.location.origin, localStorage);
  render(
    <ServicesContext.Provider value={services}>
      <QueryClientProvider client={services.queryClient}>{node}</QueryClientProvider>
    </ServicesContext.Provider>,
  );
}

const weather = { id: 1, name: "weather", description: "", usage_hint: "", bot: { id: 9, handle: "cmd_x", display_name: "/weather", is_bot: true } };

afterEach(() => {
  vi.unstubAllGlobals();
  localStorage.clear();
  document.body.removeAttribute("data-sent");
});

describe("slash commands in the composer", () => {
  it("parses a command line", () => {
    expect(parseCommand("/Weather  Paris now")).toEqual(["weather", "Paris now"]);
    expect(parseCommand("/roll")).toEqual(["roll", ""]);
    expect(parseCommand("not /a command")).toBeNull();
    expect(parseCommand("/ spaced")).toBeNull();
  });

  it("runs a registered command and shows the ephemeral answer to the caller only", async () => {
    const seen = serve((path) => {
      if (path === "/commands") return json([weather]);
      if (path === "/conversations/5/commands") return json({ response_type: "ephemeral", text: "Sunny", message: null });
      return undefined;
    });
    mount(<Harness line="/weather Paris" />);
    await waitFor(() => expect(seen.some((s) => s.path === "/commands")).toBe(true));
    await new Promise((r) => setTimeout(r, 20));
    fireEvent.click(screen.getByRole("button", { name: "run" }));
    expect((await screen.findByTestId("command-answer")).textContent).toContain("Only you can see this:Sunny");
    expect(seen.find((s) => s.method === "POST")?.body).toEqual({ command: "weather", text: "Paris" });
    fireEvent.click(screen.getByRole("button", { name: "Dismiss" }));
    expect(screen.queryByTestId("command-answer")).toBeNull();
  });

  it("sends an unknown /word as a message once the list is loaded", async () => {
    const seen = serve((path) => (path === "/commands" ? json([weather]) : undefined));
    mount(<Harness line="/shrug ok" />);
    await waitFor(() => expect(seen.some((s) => s.path === "/commands")).toBe(true));
    await new Promise((r) => setTimeout(r, 20));
    fireEvent.click(screen.getByRole("button", { name: "run" }));
    expect(document.body.getAttribute("data-sent")).toBe("/shrug ok");
    expect(seen.some((s) => s.method === "POST")).toBe(false);
  });
});

describe("the composer's / list", () => {
  it("offers registered commands after a slash, and a command line goes to onCommand, not onSend", () => {
    const onSend = vi.fn();
    const onCommand = vi.fn(() => true);
    render(
      <Composer
        members={[]}
        myId={1}
        replyTo={null}
        onCancelReply={vi.fn()}
        onSend={onSend}
        onTyping={vi.fn()}
        disabledReason={null}
        placeholder="Message"
        onCommand={onCommand}
        commands={[
          { name: "weather", usage_hint: "[city]", description: "Forecast" },
          { name: "roll", usage_hint: "", description: "Dice" },
        ]}
      />,
    );
    const box = screen.getByTestId("composer") as HTMLTextAreaElement;
    fireEvent.change(box, { target: { value: "/we", selectionStart: 3 } });
    expect(screen.getAllByRole("option").map((o) => o.textContent)).toEqual(["/weather [city] Forecast"]);
    fireEvent.keyDown(box, { key: "Enter" });
    expect(box.value).toBe("/weather ");
    fireEvent.change(box, { target: { value: "/weather Paris", selectionStart: 14 } });
    fireEvent.keyDown(box, { key: "Enter" });
    expect(onCommand).toHaveBeenCalledWith("/weather Paris");
    expect(onSend).not.toHaveBeenCalled();
  });
});
