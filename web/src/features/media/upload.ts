/**
 * Uploading a file as an attachment: ask Tipline for a presigned POST, send the file straight to
 * storage (S3, or Tipline's local store: the same form either way) with progress, then have
 * Tipline check it. See docs/subsystems/media.md.
 */
import { ApiError, call, type ApiClient, type Schemas } from "../../api/client";

export type Attachment = Schemas["AttachmentOut"];
export type Download = Schemas["DownloadOut"];

/** Sends a form and reports upload progress; `fetch` cannot report it, XMLHttpRequest can. */
export interface FormTransport {
  post(url: string, form: FormData, onProgress: (loaded: number, total: number) => void, signal?: AbortSignal): Promise<void>;
}

export const xhrTransport: FormTransport = {
  post(url, form, onProgress, signal) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) onProgress(e.loaded, e.total);
      };
      xhr.onload = () =>
        xhr.status >= 200 && xhr.status < 300
          ? resolve()
          : reject(new ApiError(xhr.status, "upload_refused", `The storage refused the file (${xhr.status}).`));
      xhr.onerror = () => reject(new ApiError(0, "network", "The upload could not reach the storage."));
      xhr.onabort = () => reject(new ApiError(0, "aborted", "The upload was cancelled."));
      signal?.addEventListener("abort", () => xhr.abort());
      xhr.send(form);
    });
  },
};

/** The form a presigned POST expects: every policy field first, the file last (S3 requires it). */
export function uploadForm(fields: Record<string, string>, file: Blob, filename: string): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append("file", file, filename);
  return form;
}

export function fileType(file: File): string {
  return file.type || "application/octet-stream";
}

/** Upload one file for a conversation; `onProgress` gets 0…1. Resolves to the checked attachment. */
export async function uploadAttachment(
  api: ApiClient,
  transport: FormTransport,
  file: File,
  conversationId: number,
  onProgress: (fraction: number) => void,
  signal?: AbortSignal,
): Promise<Attachment> {
  const name = file.name || "pasted-file";
  const upload = await call(
    api.POST("/media/uploads", {
      body: { purpose: "attachment", conversation_id: conversationId, filename: name, size: file.size, content_type: fileType(file) },
    }),
  );
  onProgress(0);
  await transport.post(upload.post.url, uploadForm(upload.post.fields, file, name), (loaded, total) => onProgress(total ? loaded / total : 0), signal);
  onProgress(1);
  return call(api.POST("/media/uploads/{upload_id}/complete", { params: { path: { upload_id: upload.upload_id } } }));
}

/** A short-lived signed URL for an attachment (or its thumbnail). */
export function downloadUrl(api: ApiClient, id: string, thumbnail = false): Promise<Download> {
  return call(api.GET("/media/attachments/{upload_id}/url", { params: { path: { upload_id: id }, query: { thumbnail } } }));
}

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}
