/** My linked wallets, and "Connect wallet" to link another (the wallet code loads on click).
 * Rendered inside the Settings page's "Wallets" section. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { call, type Schemas } from "../../api/client";
import { useServices } from "../../app/services";
import { Button, ErrorText, Spinner } from "../../lib/ui";
import { messageOf } from "../conversations/MembersPanel";

type Wallet = Schemas["WalletOut"];

function short(address: string): string {
  return `${address.slice(0, 6)}…${address.slice(-4)}`;
}

function errorOf(err: unknown): string {
  if (err instanceof Error && err.name === "WalletUnavailable") return err.message;
  // EIP-1193: 4001 is the user saying no in the wallet.
  if (typeof err === "object" && err !== null && (err as { code?: unknown }).code === 4001) {
    return "The wallet request was declined.";
  }
  return messageOf(err);
}

export function Wallets() {
  const { api } = useServices();
  const qc = useQueryClient();
  const wallets = useQuery({ queryKey: ["wallets"], queryFn: () => call(api.GET("/me/wallets")) });
  const connect = useMutation({
    mutationFn: async () => {
      const { injectedProvider, linkWallet, WalletUnavailable } = await import("./connect");
      const provider = injectedProvider();
      if (!provider) throw new WalletUnavailable("No Ethereum wallet found in this browser (install MetaMask).");
      return linkWallet(api, provider);
    },
    onSuccess: (wallet) => {
      qc.setQueryData<Wallet[]>(["wallets"], (list) => [...(list ?? []).filter((w) => w.id !== wallet.id), wallet]);
    },
  });
  const unlink = useMutation({
    mutationFn: (id: number) => call(api.DELETE("/me/wallets/{wallet_id}", { params: { path: { wallet_id: id } } })),
    onSuccess: (_data, id) => qc.setQueryData<Wallet[]>(["wallets"], (list) => list?.filter((w) => w.id !== id)),
  });
  return (
    <>
      {wallets.isPending ? (
        <Spinner />
      ) : wallets.isError ? (
        <ErrorText>{messageOf(wallets.error)}</ErrorText>
      ) : (
        <ul className="mb-3 flex flex-col gap-2" data-testid="wallets">
          {wallets.data.map((w) => (
            <li key={w.id} className="flex items-center gap-3 rounded-md border border-zinc-200 p-3 dark:border-zinc-700">
              <span className="min-w-0 flex-1 truncate font-mono text-sm" title={w.address}>
                {short(w.address)}
              </span>
              <Button variant="secondary" onClick={() => unlink.mutate(w.id)} disabled={unlink.isPending} aria-label={`Unlink ${short(w.address)}`}>
                Unlink
              </Button>
            </li>
          ))}
        </ul>
      )}
      <Button onClick={() => connect.mutate()} disabled={connect.isPending}>
        {connect.isPending ? "Waiting for the wallet…" : "Connect wallet"}
      </Button>
      {connect.isError && <ErrorText>{errorOf(connect.error)}</ErrorText>}
      {unlink.isError && <ErrorText>{messageOf(unlink.error)}</ErrorText>}
    </>
  );
}
