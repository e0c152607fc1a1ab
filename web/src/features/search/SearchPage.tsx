/** Search my messages: results with highlights, each opening its conversation at the message. */
import { useDeferredValue, useEffect, useState } from "react";
import { Link, useLocation, useSearch } from "wouter";
import { formatFull, formatTime } from "../../lib/format";
import { Button, ErrorText, Spinner, TextField } from "../../lib/ui";
import { useMe } from "../accounts/queries";
import { conversationTitle, useConversations } from "../conversations/queries";
import { errorMessage } from "../../lib/errors";
import { Highlight } from "./Highlight";
import { hitHref, useMessageSearch, type SearchHit } from "./queries";

export function SearchPage() {
  const initial = new URLSearchParams(useSearch()).get("q") ?? "";
  const [q, setQ] = useState(initial);
  const [, navigate] = useLocation();
  const query = useDeferredValue(q.trim());
  const results = useMessageSearch(query);
  const conversations = useConversations().data ?? [];
  const titleOf = (id: number) => {
    const c = conversations.find((x) => x.id === id);
    return c ? conversationTitle(c) : "Conversation";
  };
  const myId = useMe()?.id;
  const senderOf = (h: SearchHit) => {
    if (h.sender_id !== null && h.sender_id === myId) return "You";
    return h.sender?.display_name ?? "Deleted account";
  };
  // Keep the query in the address, so Back returns to these results.
  useEffect(() => {
    navigate(query ? `/find?q=${encodeURIComponent(query)}` : "/find", { replace: true });
  }, [query, navigate]);
  const hits = results.data?.pages.flatMap((p) => p.hits) ?? [];
  return (
    <div className="mx-auto w-full max-w-2xl overflow-y-auto p-4 sm:p-6">
      <h1 className="mb-4 text-xl font-semibold">Search messages</h1>
      <TextField
        label="Search"
        type="search"
        value={q}
        autoFocus
        onChange={(e) => setQ(e.target.value)}
        placeholder={'Words, "a phrase", -without, this OR that'}
      />
      <div className="mt-4" aria-live="polite">
        {!query ? null : results.isPending ? (
          <Spinner />
        ) : results.isError ? (
          <ErrorText>{errorMessage(results.error)}</ErrorText>
        ) : hits.length === 0 ? (
          <p className="text-sm text-zinc-500">No messages match “{query}”.</p>
        ) : (
          <ul className="flex flex-col divide-y divide-zinc-200 dark:divide-zinc-700" data-testid="search-results">
            {hits.map((h) => (
              <li key={h.id}>
                <Link href={hitHref(h)} className="block rounded-md px-2 py-3 hover:bg-zinc-50 dark:hover:bg-zinc-800" data-testid="search-hit">
                  {/* Who wrote it, like a message; then where, and when. */}
                  <p className="flex min-w-0 items-baseline gap-2 text-xs text-zinc-500 dark:text-zinc-400">
                    <span className="min-w-0 shrink truncate text-sm font-semibold text-zinc-900 dark:text-zinc-50" data-testid="search-hit-sender">
                      {senderOf(h)}
                    </span>
                    <span className="min-w-0 shrink-[2] truncate" data-testid="search-hit-conversation">
                      in {titleOf(h.conversation_id)}
                    </span>
                    <time className="shrink-0" dateTime={h.created_at} title={formatFull(h.created_at)}>
                      {formatTime(h.created_at)}
                    </time>
                  </p>
                  <p className="mt-0.5 text-sm text-zinc-800 dark:text-zinc-100">
                    <Highlight pieces={h.highlight} />
                  </p>
                </Link>
              </li>
            ))}
          </ul>
        )}
        {results.hasNextPage && (
          <div className="mt-3 flex justify-center">
            <Button variant="secondary" onClick={() => void results.fetchNextPage()} disabled={results.isFetchingNextPage}>
              More results
            </Button>
          </div>
        )}
      </div>
    </div>
  );
}
