/** A person's card: opened by clicking their name wherever it is shown (a popover; a sheet on phones). */
import { useCallback, useEffect, useRef, useState, type CSSProperties } from "react";
import { createPortal } from "react-dom";
import { useLocation } from "wouter";
import { useMe } from "../accounts/queries";
import { useOpenDirect } from "../conversations/queries";
import { Avatar, BotBadge, Button, cx, ErrorText, Spinner } from "../../lib/ui";
import { accountErrorMessage } from "../accounts/errors";
import { useAvatarUrl } from "./avatars";
import { useUser } from "./queries";

const CARD_W = 288;

/** Where the card goes beside its name: below it, or above when the screen has no room below. */
function placeBeside(anchor: HTMLElement | null): CSSProperties | undefined {
  if (!anchor || window.innerWidth < 640) return undefined; // a sheet along the bottom on phones
  const r = anchor.getBoundingClientRect();
  const left = Math.max(8, Math.min(r.left, window.innerWidth - CARD_W - 8));
  if (window.innerHeight - r.bottom > 240) return { position: "fixed", top: r.bottom + 4, left };
  return { position: "fixed", bottom: window.innerHeight - r.top + 4, left };
}

export function ProfileCard({ userId, onClose, anchor = null }: { userId: number; onClose(): void; anchor?: HTMLElement | null }) {
  const user = useUser(userId);
  const me = useMe();
  const url = useAvatarUrl(userId);
  const open = useOpenDirect();
  const [, navigate] = useLocation();
  const card = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") onClose();
    };
    const onDown = (e: MouseEvent) => {
      const target = e.target as Node;
      if (card.current && !card.current.contains(target) && !anchor?.contains(target)) onClose();
    };
    document.addEventListener("keydown", onKey);
    document.addEventListener("mousedown", onDown);
    card.current?.focus();
    return () => {
      document.removeEventListener("keydown", onKey);
      document.removeEventListener("mousedown", onDown);
    };
  }, [onClose, anchor]);
  const u = user.data;
  // In a portal: the message list scrolls and would cut a card drawn inside it.
  return createPortal(
    <div
      ref={card}
      role="dialog"
      aria-label={u ? `Profile of ${u.display_name}` : "Profile"}
      tabIndex={-1}
      style={placeBeside(anchor)}
      data-testid="profile-card"
      className={cx(
        "z-40 w-72 rounded-lg border border-zinc-200 bg-white p-4 text-zinc-900 shadow-lg outline-none dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-100",
        // A sheet along the bottom on phones; beside the name (placeBeside) from sm up.
        "max-sm:fixed max-sm:inset-x-2 max-sm:bottom-2 max-sm:w-auto",
      )}
    >
      {user.isPending && <Spinner />}
      {user.isError && <ErrorText>{accountErrorMessage(user.error)}</ErrorText>}
      {u && (
        <div className="flex flex-col gap-3">
          <div className="flex items-center gap-3">
            {url ? (
              <img src={url} alt="" className="size-16 rounded-full object-cover" data-testid="profile-card-avatar" />
            ) : (
              <span className="scale-150 p-3">
                <Avatar name={u.display_name} id={u.id} />
              </span>
            )}
            <div className="min-w-0">
              <p className="truncate text-base font-semibold">
                {u.display_name} {u.is_bot && <BotBadge />}
              </p>
              <p className="truncate text-sm text-zinc-500 dark:text-zinc-400">@{u.handle}</p>
            </div>
          </div>
          {me && me.id !== u.id && (
            <div className="flex gap-2">
              <Button
                onClick={() =>
                  open.mutate(u.id, {
                    onSuccess: (conv) => {
                      onClose();
                      navigate(`/c/${conv.id}`);
                    },
                  })
                }
                disabled={open.isPending}
              >
                Message
              </Button>
            </div>
          )}
          {open.isError && <ErrorText>{accountErrorMessage(open.error)}</ErrorText>}
        </div>
      )}
    </div>,
    document.body,
  );
}

/** A person's name that opens their card; a deleted account's name is plain text. */
export function PersonName({ userId, name, className }: { userId: number | null; name: string; className?: string }) {
  const [open, setOpen] = useState(false);
  const button = useRef<HTMLButtonElement>(null);
  const close = useCallback(() => setOpen(false), []);
  if (userId === null) return <span className={className}>{name}</span>;
  return (
    <span className="min-w-0">
      <button ref={button} type="button" className={cx("max-w-full truncate text-left hover:underline", className)} onClick={() => setOpen((v) => !v)} aria-haspopup="dialog" aria-expanded={open} data-testid="person-name">
        {name}
      </button>
      {open && <ProfileCard userId={userId} anchor={button.current} onClose={close} />}
    </span>
  );
}
