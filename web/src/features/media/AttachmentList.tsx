/**
 * A message's attachments: image previews (thumbnail, then the full image in a lightbox),
 * audio and video players, and other files as downloads. Every URL is a short-lived signed
 * one, asked for when shown (the server checks membership each time) and re-asked before it expires.
 */
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { FileIcon } from "../../lib/icons";
import { Lightbox } from "./Lightbox";
import { formatSize, type Attachment, type Download } from "./upload";

export type UrlFetcher = (id: string, thumbnail: boolean) => Promise<Download>;

function useSignedUrl(fetcher: UrlFetcher, id: string, thumbnail: boolean, enabled = true): string | undefined {
  const q = useQuery({
    queryKey: ["media-url", id, thumbnail],
    queryFn: () => fetcher(id, thumbnail),
    enabled,
    // Signed URLs live minutes; fetch a new one well before this one stops working.
    staleTime: 60_000,
    gcTime: 120_000,
  });
  return q.data?.url;
}

function ImagePreview({ a, fetcher, onOpen }: { a: Attachment; fetcher: UrlFetcher; onOpen(): void }) {
  const url = useSignedUrl(fetcher, a.id, a.has_thumbnail);
  return (
    <button type="button" onClick={onOpen} aria-label={`Open image ${a.filename}`} className="block overflow-hidden rounded-md border border-zinc-200 dark:border-zinc-700">
      {url ? (
        <img src={url} alt={a.filename} width={a.thumb_width ?? undefined} height={a.thumb_height ?? undefined} className="max-h-60 max-w-full object-cover" />
      ) : (
        <span className="block h-24 w-32 animate-pulse bg-zinc-200 dark:bg-zinc-800" />
      )}
    </button>
  );
}

function Player({ a, fetcher }: { a: Attachment; fetcher: UrlFetcher }) {
  const url = useSignedUrl(fetcher, a.id, false);
  const label = `${a.kind === "audio" ? "Audio" : "Video"}: ${a.filename}`;
  return (
    <figure className="max-w-md">
      {a.kind === "audio" ? (
        <audio controls preload="metadata" src={url} aria-label={label} className="w-72 max-w-full" />
      ) : (
        <video controls preload="metadata" src={url} aria-label={label} className="max-h-72 max-w-full rounded-md" />
      )}
      <figcaption className="text-xs text-zinc-500">
        {a.filename} · {formatSize(a.size)}
      </figcaption>
    </figure>
  );
}

function FileLink({ a, fetcher }: { a: Attachment; fetcher: UrlFetcher }) {
  const [error, setError] = useState<string | null>(null);
  return (
    <div>
      <button
        type="button"
        onClick={async () => {
          setError(null);
          try {
            const { url } = await fetcher(a.id, false);
            // The server sends it as a download (Content-Disposition: attachment): the page stays.
            window.location.assign(url);
          } catch {
            setError("This file cannot be downloaded now.");
          }
        }}
        className="flex items-center gap-2 rounded-md border border-zinc-200 px-3 py-2 text-sm hover:bg-zinc-50 dark:border-zinc-700 dark:hover:bg-zinc-800"
      >
        <FileIcon />
        <span className="font-medium">{a.filename}</span>
        <span className="text-zinc-500">{formatSize(a.size)}</span>
      </button>
      {error && (
        <p role="alert" className="text-xs text-red-600">
          {error}
        </p>
      )}
    </div>
  );
}

function LightboxFor({ images, index, onIndex, onClose, fetcher }: { images: Attachment[]; index: number; onIndex(i: number): void; onClose(): void; fetcher: UrlFetcher }) {
  const current = images[index];
  const url = useSignedUrl(fetcher, current?.id ?? "", false, current !== undefined);
  return (
    <Lightbox
      images={images.map((a, i) => ({ id: a.id, url: i === index ? url : undefined, alt: a.filename }))}
      index={index}
      onIndex={onIndex}
      onClose={onClose}
    />
  );
}

export function AttachmentList({ attachments, fetcher }: { attachments: Attachment[]; fetcher: UrlFetcher }) {
  const [open, setOpen] = useState<number | null>(null);
  if (attachments.length === 0) return null;
  const images = attachments.filter((a) => a.kind === "image");
  return (
    <div className="mt-1 flex flex-wrap gap-2" data-testid="attachments">
      {attachments.map((a) => {
        if (a.kind === "image") return <ImagePreview key={a.id} a={a} fetcher={fetcher} onOpen={() => setOpen(images.indexOf(a))} />;
        if (a.kind === "audio" || a.kind === "video") return <Player key={a.id} a={a} fetcher={fetcher} />;
        return <FileLink key={a.id} a={a} fetcher={fetcher} />;
      })}
      {open !== null && <LightboxFor images={images} index={open} onIndex={setOpen} onClose={() => setOpen(null)} fetcher={fetcher} />}
    </div>
  );
}
