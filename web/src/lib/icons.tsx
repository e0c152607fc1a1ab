/** A few line icons (inline SVG: no icon font, nothing for the CSP to allow). */
import type { SVGProps } from "react";

function Icon({ d, ...props }: SVGProps<SVGSVGElement> & { d: string }) {
  return (
    <svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round" aria-hidden="true" {...props}>
      <path d={d} />
    </svg>
  );
}

export const ReplyIcon = () => <Icon d="M9 14 4 9l5-5M4 9h10.5a5.5 5.5 0 0 1 0 11H11" />;
export const SmileIcon = () => <Icon d="M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18ZM8 14s1.5 2 4 2 4-2 4-2M9 9h.01M15 9h.01" />;
export const EditIcon = () => <Icon d="M12 20h9M16.5 3.5a2.12 2.12 0 0 1 3 3L7 19l-4 1 1-4Z" />;
export const TrashIcon = () => <Icon d="M3 6h18M8 6V4h8v2M19 6l-1 14H6L5 6M10 11v6M14 11v6" />;
export const MoreIcon = () => <Icon d="M5 12h.01M12 12h.01M19 12h.01" strokeWidth="3" />;
export const LockIcon = () => <Icon d="M7 11V8a5 5 0 0 1 10 0v3M5 11h14v10H5z" width="16" height="16" />;
export const UsersIcon = () => (
  <Icon d="M16 21v-2a4 4 0 0 0-4-4H6a4 4 0 0 0-4 4v2M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8ZM22 21v-2a4 4 0 0 0-3-3.87M16 3.13a4 4 0 0 1 0 7.75" width="16" height="16" />
);
export const PaperclipIcon = () => (
  <Icon d="m21.44 11.05-9.19 9.19a6 6 0 0 1-8.49-8.49l8.57-8.57A4 4 0 1 1 18 8.84l-8.59 8.57a2 2 0 0 1-2.83-2.83l8.49-8.48" />
);
export const FileIcon = () => <Icon d="M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8zM14 2v6h6" width="16" height="16" />;
export const HashIcon = () => <Icon d="M4 9h16M4 15h16M10 3 8 21M16 3l-2 18" width="16" height="16" />;

/** The symbol of a conversation kind (direct messages show the peer's presence instead). */
export function KindIcon({ kind }: { kind: "direct" | "group" | "public" | "private" }) {
  if (kind === "public") return <HashIcon />;
  if (kind === "private") return <LockIcon />;
  if (kind === "group") return <UsersIcon />;
  return null;
}
