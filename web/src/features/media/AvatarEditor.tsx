/**
 * Pick a picture, choose the square to keep (zoom and position), save: the server crops and
 * resizes it (PUT /me/avatar) and answers its public URL. See docs/subsystems/media.md.
 */
import { useEffect, useState } from "react";
import { ApiError, call, type ApiClient } from "../../api/client";
import { Button, ErrorText } from "../../lib/ui";
import { fileType, uploadForm, type FormTransport } from "./upload";
import { useSetAvatarUrl } from "../people/avatars";

export const AVATAR_TYPES = "image/png,image/jpeg,image/gif,image/webp";
const PREVIEW_PX = 160;

export interface Crop {
  x: number;
  y: number;
  size: number;
}

export interface Picked {
  file: File;
  url: string;
  width: number;
  height: number;
}

/** The largest centred square: where editing starts. */
export function centredCrop(width: number, height: number): Crop {
  const size = Math.min(width, height);
  return { x: Math.floor((width - size) / 2), y: Math.floor((height - size) / 2), size };
}

/** Keep a square of ``size`` around the same centre, inside the image. */
export function zoomCrop(c: Crop, size: number, width: number, height: number): Crop {
  const s = Math.max(1, Math.min(size, width, height));
  const cx = c.x + c.size / 2;
  const cy = c.y + c.size / 2;
  return {
    x: Math.round(Math.min(Math.max(0, cx - s / 2), width - s)),
    y: Math.round(Math.min(Math.max(0, cy - s / 2), height - s)),
    size: Math.round(s),
  };
}

/** Reads a picked image's size in the browser (the server checks the real bytes again). */
export function measureImage(file: File): Promise<Picked> {
  const url = URL.createObjectURL(file);
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve({ file, url, width: img.naturalWidth, height: img.naturalHeight });
    img.onerror = () => reject(new Error("not an image"));
    img.src = url;
  });
}

export async function saveAvatar(api: ApiClient, transport: FormTransport, file: File, crop: Crop): Promise<string> {
  const upload = await call(
    api.POST("/media/uploads", { body: { purpose: "avatar", filename: file.name || "avatar", size: file.size, content_type: fileType(file) } }),
  );
  await transport.post(upload.post.url, uploadForm(upload.post.fields, file, file.name || "avatar"), () => undefined);
  const done = await call(api.PUT("/me/avatar", { body: { upload_id: upload.upload_id, crop } }));
  if (!done.url) throw new ApiError(500, "no_avatar", "The picture could not be saved.");
  return done.url;
}

export function AvatarEditor({
  api,
  transport,
  userId,
  measure = measureImage,
}: {
  api: ApiClient;
  transport: FormTransport;
  userId: number;
  measure?: (file: File) => Promise<Picked>;
}) {
  const [current, setCurrent] = useState<string | null>(null);
  const [picked, setPicked] = useState<Picked | null>(null);
  const [crop, setCrop] = useState<Crop | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const setAvatarUrl = useSetAvatarUrl();

  useEffect(() => {
    let live = true;
    call(api.GET("/users/{user_id}/avatar", { params: { path: { user_id: userId } } })).then(
      (a) => live && setCurrent(a.url ?? null),
      () => undefined, // shown as "no picture"; saving one still works
    );
    return () => {
      live = false;
    };
  }, [api, userId]);

  const pick = async (file: File | undefined) => {
    setError(null);
    if (!file) return;
    try {
      const p = await measure(file);
      setPicked(p);
      setCrop(centredCrop(p.width, p.height));
    } catch {
      setError("That file is not a picture Tipline can use (PNG, JPEG, GIF or WebP).");
    }
  };

  const save = async () => {
    if (!picked || !crop) return;
    setBusy(true);
    setError(null);
    try {
      const saved = await saveAvatar(api, transport, picked.file, crop);
      setCurrent(saved);
      setAvatarUrl(userId, saved);
      setPicked(null);
      setCrop(null);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "The picture could not be saved.");
    } finally {
      setBusy(false);
    }
  };

  const scale = picked && crop ? PREVIEW_PX / crop.size : 1;
  // The zoom slider runs from the whole picture (left) to a tenth of it (right).
  const minSide = picked ? Math.max(16, Math.round(Math.min(picked.width, picked.height) / 10)) : 0;
  const maxSide = picked ? Math.min(picked.width, picked.height) : 0;
  return (
    <div className="flex flex-col gap-3">
      <div className="flex items-center gap-4">
        {picked && crop ? (
          <div
            role="img"
            aria-label="New picture preview"
            data-testid="avatar-preview"
            className="shrink-0 rounded-full border border-zinc-300 dark:border-zinc-600"
            style={{
              width: PREVIEW_PX,
              height: PREVIEW_PX,
              backgroundImage: `url("${picked.url}")`,
              backgroundRepeat: "no-repeat",
              backgroundSize: `${picked.width * scale}px ${picked.height * scale}px`,
              backgroundPosition: `${-crop.x * scale}px ${-crop.y * scale}px`,
            }}
          />
        ) : current ? (
          <img src={current} alt="Your picture" width={96} height={96} className="rounded-full" />
        ) : (
          <p className="text-sm text-zinc-500">No picture yet.</p>
        )}
        <label className="cursor-pointer text-sm font-medium text-indigo-600 hover:underline dark:text-indigo-400">
          Choose a picture…
          <input type="file" accept={AVATAR_TYPES} className="sr-only" aria-label="Choose a picture" onChange={(e) => void pick(e.target.files?.[0])} />
        </label>
      </div>
      {picked && crop && (
        <div className="flex flex-col gap-2 text-sm">
          <label className="flex items-center gap-2">
            <span className="w-16">Zoom</span>
            <input
              type="range"
              aria-label="Zoom"
              min={minSide}
              max={maxSide}
              value={minSide + maxSide - crop.size}
              onChange={(e) => setCrop(zoomCrop(crop, minSide + maxSide - Number(e.target.value), picked.width, picked.height))}
              className="flex-1"
            />
          </label>
          <label className="flex items-center gap-2">
            <span className="w-16">Left</span>
            <input type="range" aria-label="Horizontal position" min={0} max={picked.width - crop.size} value={crop.x} disabled={picked.width === crop.size} onChange={(e) => setCrop({ ...crop, x: Number(e.target.value) })} className="flex-1" />
          </label>
          <label className="flex items-center gap-2">
            <span className="w-16">Top</span>
            <input type="range" aria-label="Vertical position" min={0} max={picked.height - crop.size} value={crop.y} disabled={picked.height === crop.size} onChange={(e) => setCrop({ ...crop, y: Number(e.target.value) })} className="flex-1" />
          </label>
          <div className="flex gap-2">
            <Button onClick={() => void save()} disabled={busy}>
              {busy ? "Saving…" : "Save picture"}
            </Button>
            <Button variant="secondary" onClick={() => setPicked(null)} disabled={busy}>
              Cancel
            </Button>
          </div>
        </div>
      )}
      {error && <ErrorText>{error}</ErrorText>}
    </div>
  );
}
