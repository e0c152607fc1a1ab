/** Small presentational building blocks shared by the features. */
import type { ButtonHTMLAttributes, InputHTMLAttributes, ReactNode } from "react";
import { useId } from "react";
import type { PresenceStatus } from "../realtime";

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
}: ButtonHTMLAttributes<HTMLButtonElement> & { variant?: Variant }) {
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

const palette = ["bg-indigo-500", "bg-emerald-600", "bg-amber-600", "bg-rose-500", "bg-sky-600", "bg-violet-600", "bg-teal-600"];

export function Avatar({ name, id, size = "md" }: { name: string; id: number; size?: "sm" | "md" }) {
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
