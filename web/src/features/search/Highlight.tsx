/** A search snippet: the server's plain-text pieces, matches in <mark>. Text nodes only, so a
 * message that contains markup is shown as the characters it is (docs/subsystems/search.md). */
import type { Schemas } from "../../api/client";

export type Fragment = Schemas["Fragment"];

export function Highlight({ pieces }: { pieces: readonly Fragment[] }) {
  return (
    <>
      {pieces.map((p, i) =>
        p.match ? (
          <mark key={i} className="rounded-sm bg-amber-200 px-0.5 text-zinc-900 dark:bg-amber-500/40 dark:text-zinc-50">
            {p.text}
          </mark>
        ) : (
          <span key={i}>{p.text}</span>
        ),
      )}
    </>
  );
}
