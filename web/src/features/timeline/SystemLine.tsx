/** One system line: a compact, centered sentence in the timeline ("Ann added Bob"). */
import { describeLine, type SystemLine as Line } from "./systemLines";

export function SystemLine({ line, nameOf }: { line: Line; nameOf(id: number | null): string }) {
  const text = describeLine(line, nameOf);
  if (!text) return null;
  return (
    <li data-testid="system-line" data-seq={line.seq} data-event={line.event} className="my-1 flex justify-center px-4">
      <span className="max-w-full truncate rounded-full bg-zinc-100 px-3 py-0.5 text-center text-xs text-zinc-600 dark:bg-zinc-800 dark:text-zinc-300">
        {text}
      </span>
    </li>
  );
}
