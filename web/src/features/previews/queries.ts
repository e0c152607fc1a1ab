/** Link previews over HTTP: a preview's stored image (a short-lived signed URL) and removal. */
import { call, type ApiClient, type Message, type Schemas } from "../../api/client";

export type Preview = Schemas["PreviewOut"];
export type PreviewImage = Schemas["DownloadOut"];

export function previewImageUrl(api: ApiClient, previewId: number): Promise<PreviewImage> {
  return call(api.GET("/previews/{preview_id}/image", { params: { path: { preview_id: previewId } } }));
}

/** Remove a preview from my message; members (me included) see preview.removed. */
export function removePreview(api: ApiClient, previewId: number): Promise<Message> {
  return call(api.DELETE("/previews/{preview_id}", { params: { path: { preview_id: previewId } } }));
}

/** Only http(s) links are ever made clickable (the server only previews those). */
export function safeHref(url: string): string | undefined {
  return /^https?:\/\//i.test(url) ? url : undefined;
}

/** The host a preview came from, shown when the page names no site. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
