/**
 * "Sign in with Ethereum" on the sign-in page: the wallet signs an EIP-4361 message and the
 * server opens a session (docs/subsystems/wallets.md). The wallet code loads on click.
 */
import { useMutation } from "@tanstack/react-query";
import { ApiError } from "../../api/client";
import { useServices } from "../../app/services";
import { errorMessage } from "../../lib/errors";
import { createStore, useStore } from "../../lib/store";
import { Button, ErrorText } from "../../lib/ui";

export const NO_WALLET = "No Ethereum wallet was found in this browser. Install one (such as MetaMask) or sign in with your email.";

/** Set when a wallet sign-in made a new account: the app says so once, in case an existing one was meant. */
export const newWalletAccountStore = createStore<string | null>(null);

/** Each way a wallet sign-in can fail, in words. */
export function walletSignInError(err: unknown): string {
  if (err instanceof Error && err.name === "WalletUnavailable") return err.message;
  const code = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  if (code === 4001) return "You declined the request in the wallet; you are not signed in.";
  if (err instanceof ApiError && err.code === "wallet_not_linked") {
    return "This wallet is not linked to an account here, and this server does not make new accounts from a wallet. Sign in with your email, then link the wallet in Settings → Wallets.";
  }
  if (err instanceof ApiError && err.code === "account_inactive") return "The account of this wallet is deactivated.";
  return errorMessage(err);
}

export function WalletSignIn() {
  const { api, session } = useServices();
  const signIn = useMutation({
    mutationFn: async () => {
      const { injectedProvider, signInWithWallet, WalletUnavailable } = await import("./connect");
      const provider = injectedProvider();
      if (!provider) throw new WalletUnavailable(NO_WALLET);
      return signInWithWallet(api, provider);
    },
    onSuccess: (pair) => {
      newWalletAccountStore.set(pair.account_created ? pair.user.handle : null);
      session.set(pair);
    },
  });
  return (
    <div className="mt-4 flex flex-col gap-2">
      {/* Not "Sign in with…" on the button: the page's own "Sign in" button stays the only one of that name. */}
      <Button variant="secondary" onClick={() => signIn.mutate()} disabled={signIn.isPending} data-testid="siwe-signin" aria-describedby="siwe-hint">
        {signIn.isPending ? "Waiting for the wallet…" : "◈ Use an Ethereum wallet"}
      </Button>
      <p id="siwe-hint" className="text-xs text-zinc-500 dark:text-zinc-400">
        Sign-In with Ethereum: your wallet signs a message; no password, and no transaction.
      </p>
      {signIn.isError && <ErrorText>{walletSignInError(signIn.error)}</ErrorText>}
    </div>
  );
}

/** Shown once after a wallet sign-in made a new account. */
export function NewWalletAccountNotice() {
  const handle = useStore(newWalletAccountStore);
  if (!handle) return null;
  return (
    <div role="status" className="flex items-start gap-3 border-b border-amber-200 bg-amber-50 px-4 py-2 text-sm text-amber-900 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-100" data-testid="new-wallet-account">
      <p className="flex-1">
        This wallet was not linked to an account, so a new one was made for it (@{handle}). Meant your existing account? Sign out,
        sign in with your email, and link this wallet in Settings → Wallets.
      </p>
      <button type="button" className="shrink-0 underline" onClick={() => newWalletAccountStore.set(null)}>
        Dismiss
      </button>
    </div>
  );
}
