/** Settings: the people I blocked, each with Unblock. */
import { formatFull } from "../../lib/format";
import { Avatar, BotBadge, Button, ErrorText, Spinner } from "../../lib/ui";
import { accountErrorMessage } from "../accounts/errors";
import { useBlocked, useUnblock } from "./queries";

export function BlockedPeople() {
  const blocked = useBlocked();
  const unblock = useUnblock();
  return (
    <section className="border-b border-zinc-200 py-6 last:border-0 dark:border-zinc-700" aria-labelledby="s-blocked">
      <h2 id="s-blocked" className="mb-3 text-base font-semibold">
        Blocked people
      </h2>
      {blocked.isPending && <Spinner />}
      {blocked.data?.length === 0 && <p className="text-sm text-zinc-600 dark:text-zinc-300">You have not blocked anyone.</p>}
      <ul className="flex flex-col gap-2" data-testid="blocked-people">
        {blocked.data?.map((b) => (
          <li key={b.id} className="flex items-center gap-3">
            <Avatar name={b.display_name} id={b.id} size="sm" />
            <span className="min-w-0 flex-1">
              <span className="block truncate text-sm font-medium">
                {b.display_name} {b.is_bot && <BotBadge />}
              </span>
              <span className="block truncate text-xs text-zinc-500 dark:text-zinc-400">
                @{b.handle} · blocked {formatFull(b.blocked_at)}
              </span>
            </span>
            <Button variant="secondary" onClick={() => unblock.mutate(b.id)} disabled={unblock.isPending} aria-label={`Unblock ${b.display_name}`}>
              Unblock
            </Button>
          </li>
        ))}
      </ul>
      {unblock.isError && <ErrorText>{accountErrorMessage(unblock.error)}</ErrorText>}
    </section>
  );
}
