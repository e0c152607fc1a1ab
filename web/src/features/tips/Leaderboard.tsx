/** A conversation's tip leaderboard (`GET /conversations/{id}/tips/leaderboard`): confirmed tips
 * only, per token, who received and who gave the most. Shown in the members panel. */
import { useQuery } from "@tanstack/react-query";
import { call, type Schemas } from "../../api/client";
import { useServices } from "../../app/services";
import { errorMessage } from "../../lib/errors";
import { ErrorText, Spinner } from "../../lib/ui";
import { useUser } from "../people/queries";

type Row = Schemas["LeaderRow"];

export function useLeaderboard(conversationId: number) {
  const { api } = useServices();
  return useQuery({
    queryKey: ["tips", "leaderboard", conversationId],
    queryFn: () =>
      call(api.GET("/conversations/{conversation_id}/tips/leaderboard", { params: { path: { conversation_id: conversationId } } })),
    staleTime: 30_000,
  });
}

export function Leaderboard({ conversationId }: { conversationId: number }) {
  const board = useLeaderboard(conversationId);
  return (
    <section aria-labelledby={`lb-${conversationId}`} className="mt-6 border-t border-zinc-200 pt-4 dark:border-zinc-700" data-testid="leaderboard">
      <h3 id={`lb-${conversationId}`} className="mb-2 text-sm font-semibold">
        Tips here
      </h3>
      {board.isPending ? (
        <Spinner />
      ) : board.isError ? (
        <ErrorText>{errorMessage(board.error)}</ErrorText>
      ) : board.data.received.length === 0 && board.data.sent.length === 0 ? (
        <p className="text-sm text-zinc-600 dark:text-zinc-400">No confirmed tips in this conversation yet.</p>
      ) : (
        <div className="flex flex-col gap-3">
          <Ranking title="Most received" rows={board.data.received} testId="leaderboard-received" />
          <Ranking title="Most given" rows={board.data.sent} testId="leaderboard-sent" />
        </div>
      )}
    </section>
  );
}

function Ranking({ title, rows, testId }: { title: string; rows: Row[]; testId: string }) {
  if (rows.length === 0) return null;
  return (
    <div>
      <h4 className="mb-1 text-xs font-medium tracking-wide text-zinc-500 uppercase dark:text-zinc-400">{title}</h4>
      <ol className="flex flex-col gap-1" data-testid={testId}>
        {rows.map((r, i) => (
          <LeaderLine key={`${r.user_id}-${r.symbol}`} row={r} rank={i + 1} />
        ))}
      </ol>
    </div>
  );
}

function LeaderLine({ row, rank }: { row: Row; rank: number }) {
  const user = useUser(row.user_id);
  return (
    <li className="flex items-baseline gap-2 text-sm" data-testid="leader">
      <span className="w-5 shrink-0 text-right text-zinc-500">{rank}.</span>
      <span className="min-w-0 flex-1 truncate">{user.data?.display_name ?? "…"}</span>
      <span className="shrink-0 font-medium">
        {row.total_display} {row.symbol}
      </span>
      <span className="shrink-0 text-xs text-zinc-500">
        ({row.count} {row.count === 1 ? "tip" : "tips"})
      </span>
    </li>
  );
}
