/**
 * My tips, sent and received (`GET /tips/mine`), with a CSV download (`GET /tips/mine.csv`).
 * The CSV is fetched with the Authorization header like every other call and saved from a blob:
 * the access token never goes into a URL (docs/security.md).
 */
import { useMutation, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "wouter";
import { call, type ApiClient, type Schemas } from "../../api/client";
import { useServices } from "../../app/services";
import { errorMessage } from "../../lib/errors";
import { formatFull } from "../../lib/format";
import { Button, cx, ErrorText, Spinner } from "../../lib/ui";
import { conversationTitle, useConversations } from "../conversations/queries";
import { useUser } from "../people/queries";
import { useTipConfig } from "./config";

type Tip = Schemas["IntentOut"];
type Direction = "sent" | "received";
// The newest hundred of each kind (the API's page size); the CSV holds every tip.
const SHOWN = 100;

const STATE_TEXT: Record<string, string> = {
  created: "not sent",
  pending: "pending",
  confirmed: "confirmed",
  failed: "failed",
  expired: "expired",
};

/** Save the CSV export: an authenticated fetch, then a blob the browser downloads. */
export async function downloadTipsCsv(api: ApiClient, save: (blob: Blob, name: string) => void = saveBlob): Promise<void> {
  const blob = await call(api.GET("/tips/mine.csv", { parseAs: "blob" }));
  save(blob as Blob, "tipline-tips.csv");
}

function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  // Revoked on the next turn: some browsers start the download only after click() returns.
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

function useMyTips(direction: Direction) {
  const { api } = useServices();
  return useQuery({
    queryKey: ["tips", "mine", direction],
    queryFn: () => call(api.GET("/tips/mine", { params: { query: { direction, limit: SHOWN } } })),
    staleTime: 10_000,
  });
}

export function TipHistory() {
  const { api } = useServices();
  const [direction, setDirection] = useState<Direction>("sent");
  const tips = useMyTips(direction);
  const csv = useMutation({ mutationFn: () => downloadTipsCsv(api) });
  const list = tips.data?.tips ?? [];
  return (
    <div className="min-h-0 flex-1 overflow-y-auto">
      <div className="mx-auto w-full max-w-2xl p-4 sm:p-6">
        <div className="mb-4 flex flex-wrap items-center gap-3">
          <h1 className="flex-1 text-xl font-semibold">My tips</h1>
          <Button variant="secondary" onClick={() => csv.mutate()} disabled={csv.isPending} data-testid="tips-csv">
            {csv.isPending ? "Preparing…" : "Download CSV"}
          </Button>
        </div>
        {csv.isError && <ErrorText>{errorMessage(csv.error)}</ErrorText>}
        <div role="tablist" aria-label="Tips" className="mb-4 flex gap-1">
          {(["sent", "received"] as const).map((d) => (
            <button
              key={d}
              type="button"
              role="tab"
              aria-selected={direction === d}
              onClick={() => setDirection(d)}
              className={cx(
                "rounded-md px-3 py-1.5 text-sm font-medium",
                direction === d ? "bg-indigo-600 text-white" : "hover:bg-zinc-100 dark:hover:bg-zinc-800",
              )}
            >
              {d === "sent" ? "Sent" : "Received"}
            </button>
          ))}
        </div>
        {tips.isPending ? (
          <Spinner />
        ) : tips.isError ? (
          <ErrorText>{errorMessage(tips.error)}</ErrorText>
        ) : list.length === 0 ? (
          <p className="text-sm text-zinc-600 dark:text-zinc-400" data-testid="tips-empty">
            {direction === "sent" ? "You have not sent a tip yet." : "You have not received a tip yet."}
          </p>
        ) : (
          <ul className="flex flex-col gap-2" data-testid="tip-history">
            {list.map((t) => (
              <TipRow key={t.intent_id} tip={t} direction={direction} />
            ))}
          </ul>
        )}
        {list.length >= SHOWN && (
          <p className="mt-3 text-xs text-zinc-600 dark:text-zinc-400">The newest {SHOWN} are shown; the CSV has every tip.</p>
        )}
      </div>
    </div>
  );
}

function TipRow({ tip: t, direction }: { tip: Tip; direction: Direction }) {
  const otherId = direction === "sent" ? t.recipient_id : t.tipper_id;
  const other = useUser(otherId);
  const conversations = useConversations();
  const explorer = useTipConfig().data?.explorer_url ?? null;
  const conv = conversations.data?.find((c) => c.id === t.conversation_id);
  const name = otherId === null ? "a deleted account" : (other.data?.display_name ?? "…");
  return (
    <li className="rounded-md border border-zinc-200 p-3 text-sm dark:border-zinc-700" data-testid="tip-row" data-state={t.state}>
      <div className="flex flex-wrap items-baseline gap-x-2">
        <span className="font-semibold">
          {t.amount_display} {t.symbol}
        </span>
        <span>
          {direction === "sent" ? "to" : "from"} {name}
        </span>
        <span className={cx("rounded px-1.5 py-0.5 text-xs", stateClass(t.state))} data-testid="tip-state">
          {STATE_TEXT[t.state] ?? t.state}
          {t.state === "failed" && t.reason ? ` (${t.reason})` : ""}
        </span>
      </div>
      <div className="mt-1 flex flex-wrap gap-x-3 text-xs text-zinc-600 dark:text-zinc-400">
        <time dateTime={t.created_at}>{formatFull(t.created_at)}</time>
        <Link href={`/c/${t.conversation_id}`} className="underline">
          {conv ? conversationTitle(conv) : `Conversation ${t.conversation_id}`}
        </Link>
        {t.tx_hash && <TxLink hash={t.tx_hash} explorer={explorer} />}
      </div>
    </li>
  );
}

/** The transaction, linked to the configured block explorer (CHAIN_EXPLORER_URL), else its hash. */
export function TxLink({ hash, explorer }: { hash: string; explorer: string | null }) {
  const short = `${hash.slice(0, 10)}…${hash.slice(-6)}`;
  if (!explorer) {
    return (
      <span className="font-mono" title={hash} data-testid="tip-tx">
        tx {short}
      </span>
    );
  }
  return (
    <a href={`${explorer}/tx/${hash}`} target="_blank" rel="noreferrer noopener" className="font-mono underline" title={hash} data-testid="tip-tx">
      tx {short}
    </a>
  );
}

function stateClass(state: string): string {
  if (state === "confirmed") return "bg-emerald-100 text-emerald-800 dark:bg-emerald-900/50 dark:text-emerald-200";
  if (state === "pending") return "bg-amber-100 text-amber-800 dark:bg-amber-900/50 dark:text-amber-200";
  if (state === "failed") return "bg-red-100 text-red-800 dark:bg-red-900/50 dark:text-red-200";
  return "bg-zinc-100 text-zinc-700 dark:bg-zinc-800 dark:text-zinc-300";
}
