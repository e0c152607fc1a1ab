/** A person's card: opened by clicking their name wherever it is shown (a popover; a sheet on phones).
 * Avatar, name, @handle, status (emoji, text, until when), local time, linked wallets, and
 * "Message" and "Tip" for others; "Set status" on my own. */
import { useQuery } from "@tanstack/react-query";
import { useCallback, useEffect, useRef, useState, type CSSProperties } from "react";
import { createPortal } from "react-dom";
import { useLocation } from "wouter";
import { ApiError, call } from "../../api/client";
import { useServices } from "../../app/services";
import { useMe } from "../accounts/queries";
import { useOpenDirect } from "../conversations/queries";
import { EmojiGlyph } from "../../lib/EmojiGlyph";
import { Avatar, BotBadge, Button, cx, ErrorText, Spinner } from "../../lib/ui";
import { accountErrorMessage } from "../accounts/errors";
import { useTippingEnabled } from "../tips/config";
import { TipDialog, type TipTarget } from "../tips/TipDialog";
import { useAvatarUrl } from "./avatars";
import { useUser } from "./queries";
import { localTime, statusShowing, statusUntil } from "./status";
import { StatusEditor } from "./StatusEditor";

const CARD_W = 288;

/** Where the card goes beside its name: below it, or above when the screen has no room below. */
function placeBeside(anchor: HTMLElement | null): CSSProperties | undefined {
  if (!anchor || window.innerWidth < 640) return undefined; // a sheet along the bottom on phones
  const r = anchor.getBoundingClientRect();
  const left = Math.max(8, Math.min(r.left, window.innerWidth - CARD_W - 8));
  if (window.innerHeight - r.bottom > 240) return { position: "fixed", top: r.bottom + 4, left };
  return { position: "fixed", bottom: window.innerHeight - r.top + 4, left };
}

/** A person's linked wallet addresses (`GET /users/{id}/wallets`): answered to people who share a
 * conversation with them; anyone else gets 404, and the card then shows no wallet section. */
export function useUserWallets(userId: number) {
  const { api } = useServices();
  return useQuery({
    queryKey: ["user", userId, "wallets"],
    queryFn: () => call(api.GET("/users/{user_id}/wallets", { params: { path: { user_id: userId } } })),
    staleTime: 60_000,
    retry: false,
  });
}

function short(address: string): string {
  return `${address.slice(0, 6)}…${address.slice(-4)}`;
}

/** The clock on the card, ticking each minute while the card is open. */
function useNow(): Date {
  const [now, setNow] = useState(() => new Date());
  useEffect(() => {
    const t = setInterval(() => setNow(new Date()), 30_000);
    return () => clearInterval(t);
  }, []);
  return now;
}

export function ProfileCard({ userId, onClose, anchor = null }: { userId: number; onClose(): void; anchor?: HTMLElement | null }) {
  const user = useUser(userId);
  const me = useMe();
  const url = useAvatarUrl(userId);
  const open = useOpenDirect();
  const tipping = useTippingEnabled();
  const wallets = useUserWallets(userId);
  const now = useNow();
  const [, navigate] = useLocation();
  const [editing, setEditing] = useState(false);
  const [tip, setTip] = useState<TipTarget | null>(null);
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
  // Tip opens the tip dialog in place of the card (in the direct conversation with the person).
  if (tip) return createPortal(<TipDialog target={tip} onClose={onClose} />, document.body);
  const mine = me !== null && u !== undefined && me.id === u.id;
  const status = statusShowing(u?.status, now) ? u?.status : null;
  const clock = u?.timezone ? localTime(u.timezone, now) : null;
  const known = wallets.data;
  // 404: no conversation in common, so their wallets are not shown; the tip dialog's own check still speaks.
  const hidden = wallets.isError && wallets.error instanceof ApiError && wallets.error.code === "user_not_found";
  const noWallet = known !== undefined && known.length === 0;
  const startTip = () =>
    u &&
    open.mutate(u.id, {
      onSuccess: (conv) => setTip({ conversationId: conv.id, recipientId: u.id, recipientName: u.display_name }),
    });
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
        "max-sm:fixed max-sm:inset-x-2 max-sm:bottom-2 max-sm:max-h-[85dvh] max-sm:w-auto max-sm:overflow-y-auto",
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
          {status && (
            <p className="text-sm break-words" data-testid="profile-status">
              {status.emoji && (
                <span className="mr-1" aria-hidden={status.text ? true : undefined}>
                  <EmojiGlyph emoji={status.emoji} />
                </span>
              )}
              {status.text}
              {status.expires_at && <span className="ml-1 text-xs text-zinc-500 dark:text-zinc-400">{statusUntil(status, now)}</span>}
            </p>
          )}
          {clock && (
            <p className="text-sm text-zinc-600 dark:text-zinc-300" data-testid="profile-local-time" title={u.timezone ?? undefined}>
              <span aria-hidden="true">🕑</span> {clock.time} local time
              <span className="text-xs text-zinc-500 dark:text-zinc-400"> · {clock.offset}</span>
            </p>
          )}
          {!hidden && known && known.length > 0 && (
            <div data-testid="profile-wallets">
              <p className="text-xs font-medium tracking-wide text-zinc-500 uppercase dark:text-zinc-400">Wallets</p>
              <ul className="mt-1 flex flex-col gap-0.5">
                {known.map((w) => (
                  <li key={w.address} className="font-mono text-sm" title={w.address} data-address={w.address}>
                    {short(w.address)}
                  </li>
                ))}
              </ul>
            </div>
          )}
          {mine &&
            (editing ? (
              <StatusEditor onDone={() => setEditing(false)} />
            ) : (
              <div className="flex gap-2">
                <Button variant="secondary" onClick={() => setEditing(true)} data-testid="set-status">
                  {status ? "Change status" : "Set status"}
                </Button>
              </div>
            ))}
          {me && !mine && (
            <div className="flex flex-wrap gap-2">
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
              {tipping && !u.is_bot && (
                <Button variant="secondary" onClick={startTip} disabled={open.isPending || noWallet} aria-describedby={noWallet ? `no-wallet-${u.id}` : undefined} data-testid="profile-tip">
                  ◈ Tip
                </Button>
              )}
            </div>
          )}
          {me && !mine && tipping && !u.is_bot && noWallet && (
            <p id={`no-wallet-${u.id}`} className="text-xs text-zinc-600 dark:text-zinc-400" data-testid="profile-no-wallet">
              {u.display_name} has not linked a wallet yet, so they cannot receive tips.
            </p>
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
