/** The unread count in the tab title ("(3) Tipline") and as a badge on the favicon. */
import { useEffect } from "react";

const BASE_TITLE = "Tipline";
const FAVICON = '<rect width="64" height="64" rx="14" fill="#4f46e5"/><path d="M16 18h32v8H36v24h-8V26H16z" fill="#fff"/>';

export function titleFor(unread: number): string {
  return unread > 0 ? `(${unread > 99 ? "99+" : unread}) ${BASE_TITLE}` : BASE_TITLE;
}

/** The favicon with a red badge carrying the count, as an SVG data URL (no canvas needed). */
export function badgedFavicon(unread: number): string {
  const label = unread > 99 ? "99+" : String(unread);
  const size = label.length > 2 ? 20 : label.length > 1 ? 24 : 28;
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">${FAVICON}` +
    `<circle cx="46" cy="18" r="18" fill="#dc2626" stroke="#fff" stroke-width="3"/>` +
    `<text x="46" y="18" dy="0.35em" text-anchor="middle" font-family="sans-serif" font-weight="700" font-size="${size}" fill="#fff">${label}</text></svg>`;
  return `data:image/svg+xml,${encodeURIComponent(svg)}`;
}

function iconLink(): HTMLLinkElement | null {
  return document.querySelector<HTMLLinkElement>('link[rel="icon"]');
}

/** Keep the title and favicon in step with the total unread count of the conversation list. */
export function useUnreadIndicators(unread: number): void {
  useEffect(() => {
    document.title = titleFor(unread);
    const link = iconLink();
    if (link) {
      if (!link.dataset.original) link.dataset.original = link.getAttribute("href") ?? "/favicon.svg";
      link.href = unread > 0 ? badgedFavicon(unread) : link.dataset.original;
    }
  }, [unread]);
  useEffect(
    () => () => {
      document.title = BASE_TITLE;
      const link = iconLink();
      if (link?.dataset.original) link.href = link.dataset.original;
    },
    [],
  );
}
