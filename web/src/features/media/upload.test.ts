import { describe, expect, it, vi } from "vitest";
import { ApiError, createApi } from "../../api/client";
import { uploadAttachment, uploadForm, type Attachment, type FormTransport } from "./upload";

const attachment: Attachment = {
  id: "5b0b3b9e-0000-4000-8000-000000000001",
  conversation_id: 7,
  message_id: null,
  filename: "cat.png",
  content_type: "image/png",
  kind: "image",
  size: 4,
  width: 2,
  height: 1,
  thumb_width: 2,
  thumb_height: 1,
  has_thumbnail: true,
};

function fakeServer(complete: () => Response) {
  const seen: { method: string; path: string; body: unknown }[] = [];
  const fetchImpl = async (req: Request) => {
    const path = new URL(req.url).pathname;
    const body = req.method === "POST" ? await req.text().then((t) => (t ? JSON.parse(t) : null)) : null;
    seen.push({ method: req.method, path, body });
    if (path === "/media/uploads") {
      return Response.json(
        { upload_id: attachment.id, expires_at: "2026-12-01T00:00:00Z", max_size: 4, post: { url: "http://store/bucket", fields: { key: "att/7/x", "Content-Type": "image/png", policy: "p", signature: "s" } } },
        { status: 201 },
      );
    }
    if (path === `/media/uploads/${attachment.id}/complete`) return complete();
    return new Response(null, { status: 404 });
  };
  return { api: createApi(fetchImpl, "http://tipline.test"), seen };
}

describe("uploadAttachment", () => {
  it("asks for a presigned POST, sends the form with progress, then completes", async () => {
    const { api, seen } = fakeServer(() => Response.json(attachment));
    const forms: FormData[] = [];
    const transport: FormTransport = {
      post: async (url, form, onProgress) => {
        expect(url).toBe("http://store/bucket");
        forms.push(form);
        onProgress(2, 4);
        onProgress(4, 4);
      },
    };
    const progress = vi.fn();
    const file = new File([new Uint8Array([1, 2, 3, 4])], "cat.png", { type: "image/png" });
    const result = await uploadAttachment(api, transport, file, 7, progress);
    expect(result).toEqual(attachment);
    expect(seen[0]).toEqual({
      method: "POST",
      path: "/media/uploads",
      body: { purpose: "attachment", conversation_id: 7, filename: "cat.png", size: 4, content_type: "image/png" },
    });
    expect(seen[1]!.path).toBe(`/media/uploads/${attachment.id}/complete`);
    expect(progress.mock.calls.map((c) => c[0])).toEqual([0, 0.5, 1, 1]);
    // The policy's fields first and the file last, as S3 requires.
    expect([...forms[0]!.keys()]).toEqual(["key", "Content-Type", "policy", "signature", "file"]);
    expect((forms[0]!.get("file") as File).name).toBe("cat.png");
  });

  it("reports the server's reason when the file is refused", async () => {
    const { api } = fakeServer(() => Response.json({ detail: "the file is declared as image/png but its bytes are text/html", code: "type_mismatch" }, { status: 422 }));
    const transport: FormTransport = { post: async () => undefined };
    const file = new File(["<html>"], "fake.png", { type: "image/png" });
    const err = await uploadAttachment(api, transport, file, 7, () => undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe("type_mismatch");
    expect((err as ApiError).message).toContain("text/html");
  });

  it("builds the form in policy order", () => {
    const form = uploadForm({ b: "2", a: "1" }, new Blob(["x"]), "x.txt");
    expect([...form.keys()]).toEqual(["b", "a", "file"]);
  });
});
