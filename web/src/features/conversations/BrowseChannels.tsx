/** Public channels anyone can join. */
import { useDeferredValue, useState } from "react";
import { Link, useLocation } from "wouter";
import { Button, ErrorText, Spinner, TextField } from "../../lib/ui";
import { errorMessage } from "../../lib/errors";
import { useConversations, useJoin, usePublicChannels } from "./queries";

export function BrowseChannels() {
  const [q, setQ] = useState("");
  const query = useDeferredValue(q.trim());
  const channels = usePublicChannels(query);
  const join = useJoin();
  // The directory does not say which channels I am in; my own list does.
  const mine = new Set((useConversations().data ?? []).map((c) => c.id));
  const [, navigate] = useLocation();
  return (
    <div className="mx-auto w-full max-w-2xl overflow-y-auto p-4 sm:p-6">
      <h1 className="mb-4 text-xl font-semibold">Public channels</h1>
      <TextField label="Search" type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="Name or topic" />
      {join.isError && <div className="mt-3"><ErrorText>{errorMessage(join.error)}</ErrorText></div>}
      <div className="mt-4">
        {channels.isPending ? (
          <Spinner />
        ) : channels.isError ? (
          <ErrorText>{errorMessage(channels.error)}</ErrorText>
        ) : channels.data.length === 0 ? (
          <p className="text-sm text-zinc-500">No public channels{query ? ` match “${query}”` : " yet"}.</p>
        ) : (
          <ul className="flex flex-col divide-y divide-zinc-200 dark:divide-zinc-700" data-testid="public-channels">
            {channels.data.map((c) => (
              <li key={c.id} className="flex items-center gap-3 py-3">
                <div className="min-w-0 flex-1">
                  <p className="truncate font-medium"># {c.name}</p>
                  <p className="truncate text-sm text-zinc-500 dark:text-zinc-400">
                    {c.topic || "No topic"} · {c.member_count} {c.member_count === 1 ? "member" : "members"}
                  </p>
                </div>
                {mine.has(c.id) ? (
                  <Link href={`/c/${c.id}`} className="text-sm font-medium text-indigo-700 underline dark:text-indigo-300">
                    Open
                  </Link>
                ) : (
                  <Button onClick={() => join.mutate(c.id, { onSuccess: (conv) => navigate(`/c/${conv.id}`) })} disabled={join.isPending}>
                    Join
                  </Button>
                )}
              </li>
            ))}
          </ul>
        )}
      </div>
    </div>
  );
}
