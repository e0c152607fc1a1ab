import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { createApi } from "../../api/client";
import { AvatarEditor, centredCrop, zoomCrop, type Picked } from "./AvatarEditor";
import type { FormTransport } from "./upload";

describe("avatar crop maths", () => {
  it("starts centred and zooms around the same centre, staying inside the picture", () => {
    expect(centredCrop(300, 200)).toEqual({ x: 50, y: 0, size: 200 });
    expect(zoomCrop({ x: 50, y: 0, size: 200 }, 100, 300, 200)).toEqual({ x: 100, y: 50, size: 100 });
    expect(zoomCrop({ x: 0, y: 0, size: 50 }, 200, 300, 200)).toEqual({ x: 0, y: 0, size: 200 });
    expect(zoomCrop({ x: 250, y: 150, size: 50 }, 500, 300, 200)).toEqual({ x: 100, y: 0, size: 200 });
  });
});

describe("AvatarEditor", () => {
  it("uploads the picked picture and saves the chosen square", async () => {
    const requests: { method: string; path: string; body: unknown }[] = [];
    let avatar: string | null = null;
    const api = createApi(async (req) => {
      const path = new URL(req.url).pathname;
      const text = await req.text();
      requests.push({ method: req.method, path, body: text ? JSON.parse(text) : null });
      if (path === "/users/1/avatar") {
        return Response.json({ user_id: 1, url: avatar });
      }
      if (path === "/media/uploads") {
        return Response.json({ upload_id: "u-1", expires_at: "", max_size: 5, post: { url: "http://store/up", fields: { policy: "p" } } }, { status: 201 });
      }
      if (path === "/me/avatar") {
        avatar = "http://tipline.test/media/avatars/1/abc.webp";
        return Response.json({ user_id: 1, url: avatar });
      }
      return new Response(null, { status: 404 });
    }, "http://tipline.test");
    const transport: FormTransport = { post: vi.fn(async () => undefined) };
    const file = new File(["12345"], "me.png", { type: "image/png" });
    const measure = async (f: File): Promise<Picked> => ({ file: f, url: "blob:me", width: 300, height: 200 });
    render(<AvatarEditor api={api} transport={transport} userId={1} measure={measure} />);
    await screen.findByText("No picture yet.");

    fireEvent.change(screen.getByLabelText("Choose a picture"), { target: { files: [file] } });
    const preview = await screen.findByTestId("avatar-preview");
    expect(preview.style.backgroundPosition).toBe("-40px 0px"); // x = 50 at 160/200 scale
    fireEvent.change(screen.getByLabelText("Zoom"), { target: { value: "120" } }); // side 20 + 200 - 120 = 100
    fireEvent.change(screen.getByLabelText("Horizontal position"), { target: { value: "0" } });
    fireEvent.click(screen.getByRole("button", { name: "Save picture" }));

    const img = (await screen.findByAltText("Your picture")) as HTMLImageElement;
    expect(img.src).toBe("http://tipline.test/media/avatars/1/abc.webp");
    expect(requests.find((r) => r.path === "/media/uploads")?.body).toEqual({ purpose: "avatar", filename: "me.png", size: 5, content_type: "image/png" });
    expect(transport.post).toHaveBeenCalledTimes(1);
    expect(requests.find((r) => r.path === "/me/avatar")?.body).toEqual({ upload_id: "u-1", crop: { x: 0, y: 50, size: 100 } });
    expect(screen.queryByTestId("avatar-preview")).toBeNull();
  });

  it("says so when the file is not a usable picture", async () => {
    const api = createApi(async () => Response.json({ detail: "none", code: "no_avatar" }, { status: 404 }), "http://tipline.test");
    const measure = vi.fn(async () => {
      throw new Error("not an image");
    });
    render(<AvatarEditor api={api} transport={{ post: vi.fn() }} userId={1} measure={measure} />);
    fireEvent.change(screen.getByLabelText("Choose a picture"), { target: { files: [new File(["x"], "x.txt")] } });
    await waitFor(() => expect(screen.getByText(/not a picture Tipline can use/)).toBeTruthy());
  });
});
