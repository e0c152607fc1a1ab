import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { AttachmentList, type UrlFetcher } from "./AttachmentList";
import type { Attachment } from "./upload";

const base = { conversation_id: 1, message_id: 9, width: null, height: null, thumb_width: null, thumb_height: null, has_thumbnail: false };
const image = (id: string, name: string): Attachment => ({ ...base, id, filename: name, content_type: "image/png", kind: "image", size: 2048, width: 800, height: 600, thumb_width: 320, thumb_height: 240, has_thumbnail: true });
const audio: Attachment = { ...base, id: "au", filename: "voice.ogg", content_type: "audio/ogg", kind: "audio", size: 5000 };
const video: Attachment = { ...base, id: "vi", filename: "clip.mp4", content_type: "video/mp4", kind: "video", size: 3_000_000 };
const page: Attachment = { ...base, id: "pg", filename: "page.html", content_type: "text/html", kind: "file", size: 90 };

function show(attachments: Attachment[]) {
  const fetcher = vi.fn<UrlFetcher>(async (id, thumbnail) => ({ url: `https://files.test/${id}${thumbnail ? "?thumb" : ""}`, expires_at: "", content_type: "", inline: true }));
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={qc}>
      <AttachmentList attachments={attachments} fetcher={fetcher} />
    </QueryClientProvider>,
  );
  return fetcher;
}

describe("AttachmentList", () => {
  it("previews images by their thumbnail and opens the full image in a lightbox", async () => {
    const fetcher = show([image("i1", "one.png"), image("i2", "two.png")]);
    const thumb = (await screen.findByAltText("one.png")) as HTMLImageElement;
    expect(thumb.src).toBe("https://files.test/i1?thumb");
    expect(fetcher).toHaveBeenCalledWith("i1", true);
    fireEvent.click(screen.getByLabelText("Open image one.png"));
    const dialog = screen.getByRole("dialog");
    await waitFor(() => expect((dialog.querySelector("img") as HTMLImageElement).src).toBe("https://files.test/i1"));
    expect(dialog.textContent).toContain("1 / 2");
    fireEvent.keyDown(dialog, { key: "ArrowRight" });
    await waitFor(() => expect((screen.getByRole("dialog").querySelector("img") as HTMLImageElement).src).toBe("https://files.test/i2"));
    fireEvent.keyDown(screen.getByRole("dialog"), { key: "Escape" });
    expect(screen.queryByRole("dialog")).toBeNull();
  });

  it("plays audio and video with the browser's controls", async () => {
    show([audio, video]);
    const player = screen.getByLabelText("Audio: voice.ogg") as HTMLAudioElement;
    expect(player.tagName).toBe("AUDIO");
    expect(player.controls).toBe(true);
    await waitFor(() => expect(player.src).toBe("https://files.test/au"));
    const film = screen.getByLabelText("Video: clip.mp4") as HTMLVideoElement;
    expect(film.tagName).toBe("VIDEO");
    await waitFor(() => expect(film.src).toBe("https://files.test/vi"));
    expect(screen.getByText(/2\.9 MB/)).toBeTruthy();
  });

  it("offers other files as downloads, fetching a fresh link only when asked", async () => {
    const assign = vi.fn();
    const original = window.location;
    Object.defineProperty(window, "location", { configurable: true, value: { ...original, assign } });
    try {
      const fetcher = show([page]);
      expect(fetcher).not.toHaveBeenCalled();
      expect(screen.queryByRole("img")).toBeNull();
      fireEvent.click(screen.getByRole("button", { name: /page\.html/ }));
      await waitFor(() => expect(assign).toHaveBeenCalledWith("https://files.test/pg"));
    } finally {
      Object.defineProperty(window, "location", { configurable: true, value: original });
    }
  });
});
