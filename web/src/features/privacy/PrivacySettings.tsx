/** "Your data" in Settings: download everything Tipline keeps about me, or delete my account. */
import { useState } from "react";
import { useServices } from "../../app/services";
import { formatFull } from "../../lib/format";
import { Button, ErrorText, TextField } from "../../lib/ui";
import { useMe } from "../accounts/queries";
import { accountErrorMessage } from "../accounts/errors";
import { fetchExport, isBuilding, saveBlob, useDeleteAccount, useExports, useRequestExport, type DataExport } from "./queries";

function size(bytes: number | null | undefined): string {
  if (!bytes) return "";
  if (bytes < 1024 * 1024) return `${Math.max(1, Math.round(bytes / 1024))} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

export function PrivacySettings() {
  return (
    <section className="border-b border-zinc-200 py-6 last:border-0 dark:border-zinc-700" aria-labelledby="s-your-data">
      <h2 id="s-your-data" className="mb-3 text-base font-semibold">
        Your data
      </h2>
      <ExportPanel />
      <DeletePanel />
    </section>
  );
}

function ExportPanel() {
  const me = useMe();
  const exports = useExports();
  const request = useRequestExport();
  // The latest export of my own data (an admin's exports of other people are listed in the admin console).
  const latest = (exports.data ?? []).find((e) => e.user_id === me?.id);
  return (
    <div className="flex flex-col gap-3">
      <p className="text-sm text-zinc-600 dark:text-zinc-300">
        Download a zip of everything Tipline keeps about you: your profile, sessions, conversations, messages with their
        attachments, reactions, tips, wallets and token names.
      </p>
      {latest && <ExportStatus item={latest} />}
      {request.isError && <ErrorText>{accountErrorMessage(request.error)}</ErrorText>}
      <div>
        <Button variant="secondary" onClick={() => request.mutate()} disabled={request.isPending || isBuilding(latest)}>
          {latest ? "Request a new export" : "Request an export"}
        </Button>
      </div>
    </div>
  );
}

function ExportStatus({ item }: { item: DataExport }) {
  const { api } = useServices();
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const download = async () => {
    setError(null);
    setBusy(true);
    try {
      saveBlob(await fetchExport(api, item.id), `tipline-export-${item.created_at.slice(0, 10)}.zip`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  if (isBuilding(item)) {
    return (
      <div className="flex flex-col gap-1" data-testid="export-status">
        <span className="text-sm">Preparing your export… {item.progress}%</span>
        <div
          role="progressbar"
          aria-label="Export progress"
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={item.progress}
          className="h-2 w-full overflow-hidden rounded bg-zinc-200 dark:bg-zinc-700"
        >
          <div className="h-full bg-indigo-600 transition-all" style={{ width: `${item.progress}%` }} />
        </div>
      </div>
    );
  }
  if (item.state === "ready") {
    return (
      <div className="flex flex-wrap items-center gap-3" data-testid="export-status">
        <span className="text-sm">
          Your export is ready ({size(item.size)}){item.expires_at ? `, until ${formatFull(item.expires_at)}` : ""}.
        </span>
        <Button onClick={() => void download()} disabled={busy}>
          Download your data
        </Button>
        {error ? <ErrorText>{accountErrorMessage(error)}</ErrorText> : null}
      </div>
    );
  }
  return (
    <p className="text-sm text-zinc-600 dark:text-zinc-300" data-testid="export-status">
      {item.state === "failed" ? "Your last export failed. Request a new one." : "Your last export has expired."}
    </p>
  );
}

function DeletePanel() {
  const me = useMe();
  const remove = useDeleteAccount();
  const [open, setOpen] = useState(false);
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [handle, setHandle] = useState("");
  if (!open) {
    return (
      <div className="mt-6">
        <Button variant="danger" onClick={() => setOpen(true)}>
          Delete account…
        </Button>
      </div>
    );
  }
  const body = password ? { password } : code ? { code: code.trim() } : { handle: handle.replace(/^@/, "") };
  return (
    <form
      className="mt-6 flex flex-col gap-3 rounded-md border border-red-300 p-3 dark:border-red-800"
      aria-label="Delete account"
      onSubmit={(e) => {
        e.preventDefault();
        remove.mutate(body);
      }}
    >
      <p className="text-sm">
        This deletes your account for good: you are signed out everywhere, your profile, wallets, passkeys and
        attachments are erased, and your messages are removed or shown as from a deleted user, as this server decides.
        Tips stay on the chain, no longer linked to you. Download your data first if you want a copy.
      </p>
      <TextField label="Your password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />
      <TextField label="or a code from your authenticator app" value={code} onChange={(e) => setCode(e.target.value)} autoComplete="one-time-code" />
      <TextField
        label="No password? Type your handle"
        value={handle}
        onChange={(e) => setHandle(e.target.value)}
        hint={me ? `@${me.handle}` : undefined}
      />
      {remove.isError && <ErrorText>{accountErrorMessage(remove.error)}</ErrorText>}
      <div className="flex gap-2">
        <Button type="submit" variant="danger" disabled={remove.isPending || (!password && !code && !handle)}>
          Delete my account
        </Button>
        <Button variant="secondary" onClick={() => setOpen(false)}>
          Cancel
        </Button>
      </div>
    </form>
  );
}
