/** The files attached to the message being written: a progress bar each, and a way to take one off. */
import { formatSize } from "./upload";
import type { PendingUpload } from "./useUploads";

export function UploadTray({ items, onRemove }: { items: PendingUpload[]; onRemove(key: number): void }) {
  if (items.length === 0) return null;
  return (
    <ul aria-label="Attachments" className="mb-2 flex flex-wrap gap-2">
      {items.map((it) => (
        <li
          key={it.key}
          data-testid="upload-item"
          className="flex w-56 flex-col gap-1 rounded-md border border-zinc-200 px-2 py-1 text-xs dark:border-zinc-700"
        >
          <div className="flex items-center gap-2">
            <span className="truncate font-medium text-zinc-800 dark:text-zinc-100" title={it.file.name}>
              {it.file.name || "pasted file"}
            </span>
            <span className="ml-auto shrink-0 text-zinc-500">{formatSize(it.file.size)}</span>
            <button
              type="button"
              aria-label={`Remove ${it.file.name || "pasted file"}`}
              onClick={() => onRemove(it.key)}
              className="rounded px-1 hover:bg-zinc-200 dark:hover:bg-zinc-700"
            >
              ✕
            </button>
          </div>
          {it.status === "error" ? (
            <p role="alert" className="text-red-600">
              {it.error}
            </p>
          ) : (
            <progress
              className="h-1.5 w-full accent-indigo-600"
              max={100}
              value={Math.round(it.progress * 100)}
              aria-label={`Uploading ${it.file.name || "pasted file"}`}
              aria-valuetext={it.status === "done" ? "uploaded" : `${Math.round(it.progress * 100)}%`}
            />
          )}
        </li>
      ))}
    </ul>
  );
}
