/** Small presentational building blocks shared by the features. */
import type { ButtonHTMLAttributes, InputHTMLAttributes, KeyboardEvent, ReactNode, Ref } from "react";
import { useEffect, useId, useRef } from "react";
import type { PresenceStatus } from "../realtime";
import { useAvatarUrl } from "../features/people/avatars";

export function cx(...parts: (string | false | null | undefined)[]): string {
  return parts.filter(Boolean).join(" ");
}

type Variant = "primary" | "secondary" | "danger" | "ghost";
const variants: Record<Variant, string> = {
  primary: "bg-indigo-600 text-white hover:bg-indigo-700 disabled:bg-indigo-400",
  secondary:
    "border border-zinc-300 bg-white text-zinc-800 hover:bg-zinc-50 dark:border-zinc-600 dark:bg-zinc-800 dark:text-zinc-100 dark:hover:bg-zinc-700",
  danger: "bg-red-600 text-white hover:bg-red-700 disabled:bg-red-400",
  ghost: "text-zinc-700 hover:bg-zinc-100 dark:text-zinc-200 dark:hover:bg-zinc-800",
};

export function Button({
  variant = "primary",
  className,
  ...props
}: ButtonHTMLAttributes<HTMLButtonElement> & { variant?: Variant; ref?: Ref<HTMLButtonElement> }) {
  return (
    <button
      type="button"
      {...props}
      className={cx(
        "inline-flex min-h-9 items-center justify-center gap-1 rounded-md px-3 py-1.5 text-sm font-medium disabled:cursor-not-allowed",
        variants[variant],
        className,
      )}
    />
  );
}

export function TextField({
  label,
  hint,
  error,
  className,
  ...props
}: InputHTMLAttributes<HTMLInputElement> & { label: string; hint?: ReactNode; error?: string | null }) {
  const id = useId();
  return (
    <div className={cx("flex min-w-0 flex-col gap-1", className)}>
      <label htmlFor={id} className="text-sm font-medium text-zinc-700 dark:text-zinc-200">
        {label}
      </label>
      <input
        id={id}
        {...props}
        aria-invalid={error ? true : undefined}
        aria-describedby={hint || error ? `${id}-hint` : undefined}
        className="w-full min-w-0 rounded-md border border-zinc-300 bg-white px-3 py-2 text-base text-zinc-900 placeholder:text-zinc-400 dark:border-zinc-600 dark:bg-zinc-900 dark:text-zinc-100"
      />
      {(hint || error) && (
        <p id={`${id}-hint`} className={cx("text-xs", error ? "text-red-600 dark:text-red-400" : "text-zinc-500 dark:text-zinc-400")}>
          {error ?? hint}
        </p>
      )}
    </div>
  );
}

export function ErrorText({ children }: { children: ReactNode }) {
  if (!children) return null;
  return (
    <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700 dark:bg-red-950 dark:text-red-300">
      {children}
    </p>
  );
}

export function Spinner({ label = "Loading" }: { label?: string }) {
  return (
    <span role="status" className="inline-flex items-center gap-2 text-sm text-zinc-500 dark:text-zinc-400">
      <span className="size-4 animate-spin rounded-full border-2 border-zinc-300 border-t-indigo-600" aria-hidden="true" />
      {label}
    </span>
  );
}

/** Marks a bot account next to its name, wherever a person appears (the API's `is_bot`). */
export function BotBadge({ className }: { className?: string }) {
  return (
    <span
      title="This account is a bot"
      className={cx(
        "inline-flex shrink-0 items-center rounded bg-zinc-200 px-1 py-px text-[10px] font-semibold tracking-wide text-zinc-700 dark:bg-zinc-700 dark:text-zinc-200",
        className,
      )}
    >
      BOT
    </span>
  );
}

const palette = ["bg-indigo-500", "bg-emerald-600", "bg-amber-600", "bg-rose-500", "bg-sky-600", "bg-violet-600", "bg-teal-600"];

export function Avatar({ name, id, size = "md" }: { name: string; id: number; size?: "sm" | "md" }) {
  // The person's uploaded picture when they have one (features/people/avatars.ts), else initials.
  const url = useAvatarUrl(id);
  if (url) {
    return (
      <img
        src={url}
        alt=""
        aria-hidden="true"
        data-testid="avatar-image"
        className={cx("shrink-0 rounded-full object-cover", size === "sm" ? "size-7" : "size-9")}
      />
    );
  }
  const letters = name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => [...w][0]?.toUpperCase() ?? "")
    .join("");
  return (
    <span
      aria-hidden="true"
      className={cx(
        "inline-flex shrink-0 items-center justify-center rounded-full font-semibold text-white",
        palette[Math.abs(id) % palette.length],
        size === "sm" ? "size-7 text-xs" : "size-9 text-sm",
      )}
    >
      {letters || "?"}
    </span>
  );
}

const dot: Record<PresenceStatus, string> = {
  online: "bg-emerald-500",
  away: "bg-amber-400",
  offline: "bg-zinc-400 dark:bg-zinc-500",
};

export function PresenceDot({ status, className }: { status: PresenceStatus | undefined; className?: string }) {
  const s = status ?? "offline";
  return (
    <span
      role="img"
      aria-label={s}
      title={s}
      className={cx("inline-block size-2.5 shrink-0 rounded-full ring-2 ring-white dark:ring-zinc-900", dot[s], className)}
    />
  );
}

/**
 * "Are you sure?" as the app's own modal (never window.confirm): the question, what follows from
 * it, and two buttons. Focus starts on Cancel (the safe choice), Tab stays inside, Escape or a
 * click outside cancels, and focus returns to where it was when the dialog closes.
 */
export function ConfirmDialog({
  title,
  children,
  confirmLabel,
  cancelLabel = "Cancel",
  danger = false,
  busy = false,
  error,
  onConfirm,
  onCancel,
}: {
  title: string;
  children?: ReactNode;
  confirmLabel: string;
  cancelLabel?: string;
  danger?: boolean;
  busy?: boolean;
  error?: string | null;
  onConfirm(): void;
  onCancel(): void;
}) {
  const titleId = useId();
  const bodyId = useId();
  const box = useRef<HTMLDivElement>(null);
  const cancel = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const before = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    cancel.current?.focus();
    return () => before?.focus();
  }, []);
  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (e.key === "Escape") {
      // Handled here: panels behind the dialog close on Escape too, and must not.
      e.preventDefault();
      e.stopPropagation();
      onCancel();
    } else if (e.key === "Tab" && box.current) {
      const focusable = [...box.current.querySelectorAll<HTMLElement>("button:not([disabled])")];
      const first = focusable[0];
      const last = focusable[focusable.length - 1];
      if (!first || !last) return;
      if (e.shiftKey && document.activeElement === first) {
        e.preventDefault();
        last.focus();
      } else if (!e.shiftKey && document.activeElement === last) {
        e.preventDefault();
        first.focus();
      }
    }
  };
  return (
    <div className="fixed inset-0 z-50 flex items-center justify-center bg-black/40 p-4" onClick={onCancel} data-testid="confirm-backdrop">
      <div
        ref={box}
        role="alertdialog"
        aria-modal="true"
        aria-labelledby={titleId}
        aria-describedby={children ? bodyId : undefined}
        onClick={(e) => e.stopPropagation()}
        onKeyDown={onKeyDown}
        className="w-full max-w-sm rounded-lg bg-white p-4 text-zinc-900 shadow-xl dark:bg-zinc-900 dark:text-zinc-100"
      >
        <h2 id={titleId} className="text-base font-semibold break-words">
          {title}
        </h2>
        {children && (
          <div id={bodyId} className="mt-2 text-sm text-zinc-600 dark:text-zinc-300">
            {children}
          </div>
        )}
        {error && (
          <div className="mt-3">
            <ErrorText>{error}</ErrorText>
          </div>
        )}
        <div className="mt-4 flex justify-end gap-2">
          <Button ref={cancel} variant="secondary" onClick={onCancel}>
            {cancelLabel}
          </Button>
          <Button variant={danger ? "danger" : "primary"} onClick={onConfirm} disabled={busy}>
            {confirmLabel}
          </Button>
        </div>
      </div>
    </div>
  );
}
