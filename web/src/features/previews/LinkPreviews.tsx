/**
 * The link previews under a message: a card per link (site, title as a link, description, the
 * image). The image is Tipline's stored copy, fetched through a signed URL the server issues
 * after its membership check: the browser never loads the linked site's own URLs. The sender
 * gets an × to remove a preview. docs/subsystems/previews.md.
 */
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { useServices } from "../../app/services";
import { errorMessage } from "../../lib/errors";
import { hostOf, previewImageUrl, removePreview, safeHref, type Preview } from "./queries";

function PreviewThumb({ preview }: { preview: Preview }) {
  const { api } = useServices();
  const q = useQuery({
    queryKey: ["preview-image", preview.id],
    queryFn: () => previewImageUrl(api, preview.id),
    // Signed URLs live minutes; fetch a new one well before this one stops working.
    staleTime: 60_000,
    gcTime: 120_000,
  });
  const image = preview.image;
  if (!image) return null;
  return q.data ? (
    <img
      src={q.data.url}
      alt=""
      width={image.width}
      height={image.height}
      data-testid="preview-image"
      className="mt-2 max-h-48 max-w-full rounded object-cover sm:mt-0 sm:h-20 sm:w-20 sm:shrink-0"
    />
  ) : (
    <span className="mt-2 block h-20 w-20 shrink-0 animate-pulse rounded bg-zinc-200 sm:mt-0 dark:bg-zinc-800" />
  );
}

function PreviewCard({ preview, removable }: { preview: Preview; removable: boolean }) {
  const { api } = useServices();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const href = safeHref(preview.url);
  const site = preview.site_name ?? hostOf(preview.url);
  const title = preview.title ?? preview.url;
  return (
    <div
      data-testid="link-preview"
      className="relative mt-1.5 flex max-w-lg flex-col gap-3 rounded-md border-l-4 border-zinc-300 bg-zinc-50 py-2 pl-3 pr-8 sm:flex-row dark:border-zinc-600 dark:bg-zinc-800/60"
    >
      <div className="min-w-0 flex-1">
        <p className="truncate text-xs text-zinc-500 dark:text-zinc-400">{site}</p>
        {href ? (
          <a
            href={href}
            target="_blank"
            rel="noopener noreferrer nofollow"
            className="line-clamp-2 text-sm font-semibold text-sky-700 hover:underline dark:text-sky-400"
          >
            {title}
          </a>
        ) : (
          <p className="line-clamp-2 text-sm font-semibold">{title}</p>
        )}
        {preview.description && (
          <p className="mt-0.5 line-clamp-3 text-sm text-zinc-600 dark:text-zinc-300">{preview.description}</p>
        )}
        {error && (
          <p role="alert" className="mt-1 text-xs text-red-600 dark:text-red-400">
            {error}
          </p>
        )}
      </div>
      <PreviewThumb preview={preview} />
      {removable && (
        <button
          type="button"
          disabled={busy}
          aria-label={`Remove preview of ${title}`}
          title="Remove preview"
          onClick={async () => {
            setBusy(true);
            setError(null);
            try {
              await removePreview(api, preview.id);
            } catch (err) {
              setError(errorMessage(err));
              setBusy(false);
            }
          }}
          className="absolute right-1 top-1 flex h-6 w-6 items-center justify-center rounded text-zinc-500 hover:bg-zinc-200 hover:text-zinc-800 dark:hover:bg-zinc-700 dark:hover:text-zinc-100"
        >
          <span aria-hidden="true">×</span>
        </button>
      )}
    </div>
  );
}

export function LinkPreviews({ previews, removable }: { previews: Preview[]; removable: boolean }) {
  if (previews.length === 0) return null;
  return (
    <div data-testid="link-previews">
      {previews.map((p) => (
        <PreviewCard key={p.id} preview={p} removable={removable} />
      ))}
    </div>
  );
}
