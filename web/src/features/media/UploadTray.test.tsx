import { act, fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { DropZone } from "./DropZone";
import type { Attachment } from "./upload";
import { UploadTray } from "./UploadTray";
import { useUploads, type Uploader } from "./useUploads";

interface Control {
  progress(fraction: number): void;
  finish(a: Partial<Attachment>): void;
  fail(err: Error): void;
}

function harness() {
  const running: Control[] = [];
  const uploader: Uploader = (file, onProgress) =>
    new Promise<Attachment>((resolve, reject) => {
      running.push({
        progress: onProgress,
        finish: (a) => resolve({ id: `id-${file.name}`, filename: file.name, kind: "file", size: file.size, content_type: file.type, conversation_id: 1, message_id: null, has_thumbnail: false, ...a } as Attachment),
        fail: reject,
      });
    });
  let ready: string[] = [];
  function Host() {
    const uploads = useUploads(uploader, 2);
    ready = uploads.readyIds;
    return (
      <DropZone onFiles={uploads.add}>
        <UploadTray items={uploads.items} onRemove={uploads.remove} />
        <textarea aria-label="Message" />
      </DropZone>
    );
  }
  render(<Host />);
  return { running, ready: () => ready };
}

const file = (name: string, type = "text/plain") => new File(["hello"], name, { type });

describe("drag-and-drop and paste uploads", () => {
  it("uploads dropped files with a progress bar each, and shows the overlay while dragging", async () => {
    const { running, ready } = harness();
    const zone = screen.getByTestId("drop-zone");
    const dataTransfer = { types: ["Files"], files: [file("a.txt"), file("b.txt")] };
    fireEvent.dragEnter(zone, { dataTransfer });
    expect(screen.getByRole("status").textContent).toContain("Drop files");
    fireEvent.drop(zone, { dataTransfer });
    expect(screen.queryByRole("status")).toBeNull();
    expect(screen.getAllByTestId("upload-item")).toHaveLength(2);
    act(() => running[0]!.progress(0.42));
    const bar = screen.getByLabelText("Uploading a.txt") as HTMLProgressElement;
    expect(bar.value).toBe(42);
    await act(async () => running[0]!.finish({}));
    expect(ready()).toEqual(["id-a.txt"]);
    await act(async () => running[1]!.fail(new Error("boom")));
    expect(screen.getByRole("alert").textContent).toBe("The upload failed.");
    expect(ready()).toEqual(["id-a.txt"]);
  });

  it("takes files pasted into the message box, leaves text pastes alone, and keeps to the limit", () => {
    const { running } = harness();
    const box = screen.getByLabelText("Message");
    fireEvent.paste(box, { clipboardData: { files: [], types: ["text/plain"] } });
    expect(screen.queryAllByTestId("upload-item")).toHaveLength(0);
    fireEvent.paste(box, { clipboardData: { files: [file("shot.png", "image/png")] } });
    expect(screen.getAllByTestId("upload-item")).toHaveLength(1);
    fireEvent.paste(box, { clipboardData: { files: [file("2.png"), file("3.png")] } });
    expect(running).toHaveLength(2);
    expect(screen.getByRole("alert").textContent).toBe("At most 2 files per message.");
    fireEvent.click(screen.getByLabelText("Remove shot.png"));
    expect(screen.queryByLabelText("Uploading shot.png")).toBeNull();
  });
});
