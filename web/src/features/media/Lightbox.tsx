/** A full-size image over the page: Esc or the close button leaves, arrow keys go through the message's images. */
import { useEffect, useRef } from "react";

export interface LightboxImage {
  id: string;
  url: string | undefined;
  alt: string;
}

export function Lightbox({ images, index, onIndex, onClose }: { images: LightboxImage[]; index: number; onIndex(i: number): void; onClose(): void }) {
  const close = useRef<HTMLButtonElement>(null);
  const image = images[index];
  useEffect(() => {
    close.current?.focus();
  }, []);
  if (!image) return null;
  const step = (d: number) => onIndex((index + d + images.length) % images.length);
  return (
    <div
      role="dialog"
      aria-modal="true"
      aria-label={image.alt}
      tabIndex={-1}
      className="fixed inset-0 z-50 flex items-center justify-center bg-black/85 p-4"
      onClick={(e) => {
        if (e.target === e.currentTarget) onClose();
      }}
      onKeyDown={(e) => {
        if (e.key === "Escape") onClose();
        else if (e.key === "ArrowRight" && images.length > 1) step(1);
        else if (e.key === "ArrowLeft" && images.length > 1) step(-1);
        else return;
        e.preventDefault();
      }}
    >
      {image.url ? (
        <img src={image.url} alt={image.alt} className="max-h-full max-w-full object-contain" />
      ) : (
        <p className="text-white">Loading…</p>
      )}
      <button ref={close} type="button" aria-label="Close" onClick={onClose} className="absolute top-3 right-3 rounded bg-white/10 px-3 py-1 text-white hover:bg-white/20">
        ✕
      </button>
      {images.length > 1 && (
        <p className="absolute bottom-3 text-sm text-white/80">
          {index + 1} / {images.length}
        </p>
      )}
    </div>
  );
}
