/**
 * "Tip": token and amount, then the server's intent, the wallet's transaction(s), the report.
 * The tip then shows in the conversation as its events arrive (TipLines).
 * The wallet code (viem) loads only when the user presses Send.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useId, useState, type FormEvent } from "react";
import { call, type Schemas } from "../../api/client";
import { useServices } from "../../app/services";
import { Button, ErrorText, Spinner, TextField } from "../../lib/ui";
import { errorMessage, sentenceFor } from "../../lib/errors";
import { useTipConfig } from "./config";
import { recordTip } from "./store";

export interface TipTarget {
  conversationId: number;
  recipientId: number;
  recipientName: string;
  /** Tip this message (its author is the recipient); absent: tip the person. */
  messageId?: number;
}

export { tipConfigKey } from "./config";

type Phase = "idle" | "wallet" | "intent" | "approving" | "sending" | "reporting";
const PHASE_TEXT: Record<Phase, string> = {
  idle: "Send tip",
  wallet: "Waiting for the wallet…",
  intent: "Preparing the tip…",
  approving: "Approve the token in the wallet…",
  sending: "Confirm the tip in the wallet…",
  reporting: "Sending…",
};

/** A message for every way a tip can fail before it is reported. */
export function tipErrorOf(err: unknown): string {
  if (err instanceof Error && err.name === "WalletUnavailable") return err.message;
  const code = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  // EIP-1193: 4001 is the user saying no in the wallet; 4100 an account the wallet will not use.
  if (code === 4001) return "You declined the request in the wallet; nothing was sent.";
  if (code === 4100) return "The wallet did not allow this account; unlock it and try again.";
  if (err instanceof Error && err.name === "ApiError") return errorMessage(err);
  if (err instanceof Error && err.message) return `The wallet refused: ${err.message}`;
  return errorMessage(err);
}

/** Why this tip cannot go through, in words, or null when the server sees no obstacle. */
export function refusalOf(check: Schemas["TipCheckOut"] | undefined, recipientName: string): string | null {
  if (!check || check.can_tip) return null;
  if (check.code === "recipient_no_wallet") return `${recipientName} has not linked a wallet yet, so they cannot receive tips.`;
  return sentenceFor(check.code ?? undefined, check.detail ?? undefined);
}

/** Asked when the dialog opens: can this tip go through (both wallets linked, no block, ...)? */
function useTipCheck(target: TipTarget, enabled: boolean) {
  const { api } = useServices();
  return useQuery({
    queryKey: ["tips", "check", target.conversationId, target.recipientId],
    queryFn: ({ signal }) =>
      call(
        api.GET("/conversations/{conversation_id}/tips/recipients/{user_id}", {
          params: { path: { conversation_id: target.conversationId, user_id: target.recipientId } },
          signal,
        }),
      ),
    enabled,
    // Asked afresh each time the dialog opens: someone may have linked a wallet meanwhile.
    staleTime: 0,
    gcTime: 0,
    // Not answered (an older server, a network hiccup): Send stays possible, and says why it fails.
    retry: false,
  });
}

export function TipDialog({ target, onClose }: { target: TipTarget; onClose(): void }) {
  const { api } = useServices();
  const qc = useQueryClient();
  const titleId = useId();
  const config = useTipConfig();
  const check = useTipCheck(target, config.data?.enabled === true);
  const refusal = refusalOf(check.data, target.recipientName);
  const [token, setToken] = useState<string>("");
  const [amount, setAmount] = useState("");
  const [phase, setPhase] = useState<Phase>("idle");
  const [sent, setSent] = useState<Schemas["IntentOut"] | null>(null);

  useEffect(() => {
    const first = config.data?.tokens[0]?.symbol;
    if (!token && first) setToken(first);
  }, [config.data, token]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") onClose();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);

  const send = useMutation({
    mutationFn: async () => {
      const cfg = config.data;
      if (!cfg) throw new Error("Tipping settings are not loaded yet.");
      setPhase("wallet");
      const w = await import("./wallet");
      const provider = w.injectedProvider();
      if (!provider) throw new w.WalletUnavailable("No Ethereum wallet found in this browser (install MetaMask).");
      const linked = await call(api.GET("/me/wallets"));
      const from = await w.walletAccount(provider, linked.map((x) => x.address));
      await w.ensureChain(provider, cfg.chain_id);
      setPhase("intent");
      const intent = await call(
        api.POST("/tips/intents", {
          body: {
            conversation_id: target.conversationId,
            ...(target.messageId !== undefined ? { message_id: target.messageId } : { recipient_id: target.recipientId }),
            token,
            amount: amount.trim(),
          },
        }),
      );
      const hash = await w.sendIntent(provider, from, intent, setPhase);
      setPhase("reporting");
      return call(
        api.POST("/tips/intents/{intent_id}/tx", { params: { path: { intent_id: intent.intent_id } }, body: { tx_hash: hash } }),
      );
    },
    onSuccess: (reported) => {
      setSent(reported);
      // Shown at once; the conversation's tip.pending event says the same for everyone.
      recordTip(qc, reported);
    },
    onSettled: () => setPhase("idle"),
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!send.isPending && !refusal && token && amount.trim()) send.mutate();
  };

  const cfg = config.data;
  return (
    <div className="fixed inset-0 z-50 flex items-center justify-center bg-black/40 p-4" onClick={onClose}>
      <div
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        onClick={(e) => e.stopPropagation()}
        className="w-full max-w-sm rounded-lg bg-white p-4 shadow-xl dark:bg-zinc-900"
      >
        <h2 id={titleId} className="mb-3 text-base font-semibold">
          Tip {target.recipientName}
        </h2>
        {config.isPending ? (
          <Spinner />
        ) : config.isError ? (
          <ErrorText>{errorMessage(config.error)}</ErrorText>
        ) : !cfg?.enabled ? (
          <p className="text-sm text-zinc-600 dark:text-zinc-300">Tipping is not set up on this server.</p>
        ) : sent ? (
          <div className="flex flex-col gap-3">
            <p role="status" className="text-sm text-zinc-700 dark:text-zinc-200">
              Sent {sent.amount_display} {sent.symbol}. It shows as pending until the chain confirms it
              {cfg.confirmations > 1 ? ` (${cfg.confirmations} blocks)` : ""}.
            </p>
            <Button onClick={onClose} autoFocus>
              Close
            </Button>
          </div>
        ) : (
          <form onSubmit={submit} className="flex flex-col gap-3" aria-label="Tip">
            {refusal && (
              <p role="alert" data-testid="tip-refusal" className="rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-900 dark:bg-amber-950 dark:text-amber-100">
                {refusal}
              </p>
            )}
            <label className="flex flex-col gap-1 text-sm font-medium text-zinc-700 dark:text-zinc-200">
              Token
              <select
                value={token}
                onChange={(e) => setToken(e.target.value)}
                className="rounded-md border border-zinc-300 bg-white px-3 py-2 text-base dark:border-zinc-600 dark:bg-zinc-900"
              >
                {cfg.tokens.map((t) => (
                  <option key={t.symbol} value={t.symbol}>
                    {t.symbol}
                  </option>
                ))}
              </select>
            </label>
            <TextField
              label="Amount"
              inputMode="decimal"
              autoFocus
              value={amount}
              onChange={(e) => setAmount(e.target.value)}
              placeholder={cfg.min_amount}
              hint={`Between ${cfg.min_amount} and ${cfg.max_amount} ${token}. Sent from your wallet; network fees apply.`}
            />
            {send.isError && <ErrorText>{tipErrorOf(send.error)}</ErrorText>}
            <div className="flex justify-end gap-2">
              <Button variant="secondary" onClick={onClose}>
                Cancel
              </Button>
              <Button type="submit" disabled={send.isPending || refusal !== null || !token || !amount.trim()}>
                {PHASE_TEXT[phase]}
              </Button>
            </div>
          </form>
        )}
      </div>
    </div>
  );
}
