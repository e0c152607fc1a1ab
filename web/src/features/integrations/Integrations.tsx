/** Settings → API tokens and Bots (docs/subsystems/integrations.md). */
import { useState, type FormEvent } from "react";
import { formatFull } from "../../lib/format";
import { BotBadge, Button, ConfirmDialog, ErrorText, Spinner, TextField } from "../../lib/ui";
import { messageOf } from "../conversations/MembersPanel";
import {
  SCOPES,
  useBots,
  useCreateBot,
  useCreateToken,
  useDeleteBot,
  useRevokeToken,
  useTokens,
  type ApiToken,
  type NewToken,
  type Scope,
} from "./queries";

/** The secret of a token just made: shown once, with a copy button. */
function ShownOnce({ created, onDone }: { created: NewToken; onDone(): void }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created.token);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };
  return (
    <div role="status" className="flex flex-col gap-2 rounded-md border border-emerald-300 bg-emerald-50 p-3 text-sm dark:border-emerald-700 dark:bg-emerald-950">
      <p>
        Copy the token <strong>{created.name}</strong> now: it is not shown again.
      </p>
      <code data-testid="new-token" className="break-all rounded bg-white px-2 py-1 font-mono text-xs dark:bg-zinc-900">
        {created.token}
      </code>
      <div className="flex gap-2">
        <Button variant="secondary" onClick={() => void copy()}>
          {copied ? "Copied" : "Copy"}
        </Button>
        <Button variant="ghost" onClick={onDone}>
          Done
        </Button>
      </div>
    </div>
  );
}

function TokenForm({ botId }: { botId: number | null }) {
  const create = useCreateToken(botId);
  const [name, setName] = useState("");
  const [days, setDays] = useState(90);
  const [scopes, setScopes] = useState<Scope[]>(["messages:read"]);
  const [created, setCreated] = useState<NewToken | null>(null);
  const toggle = (s: Scope) => setScopes((cur) => (cur.includes(s) ? cur.filter((x) => x !== s) : [...cur, s]));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate(
      { name, scopes, expires_in_days: days },
      {
        onSuccess: (t) => {
          setCreated(t);
          setName("");
        },
      },
    );
  };
  if (created) return <ShownOnce created={created} onDone={() => setCreated(null)} />;
  return (
    <form onSubmit={submit} className="flex flex-col gap-3" aria-label={botId === null ? "New API token" : "New bot token"}>
      <TextField label="Token name" value={name} onChange={(e) => setName(e.target.value)} maxLength={64} required />
      <fieldset className="flex flex-col gap-1 text-sm">
        <legend className="mb-1 font-medium text-zinc-700 dark:text-zinc-200">Scopes</legend>
        {SCOPES.map(({ scope, label }) => (
          <label key={scope} className="flex items-center gap-2">
            <input type="checkbox" checked={scopes.includes(scope)} onChange={() => toggle(scope)} />
            <span className="font-mono text-xs">{scope}</span>
            <span className="text-zinc-500 dark:text-zinc-400">{label}</span>
          </label>
        ))}
      </fieldset>
      <TextField
        label="Expires after (days)"
        type="number"
        min={1}
        max={366}
        value={days}
        onChange={(e) => setDays(Number(e.target.value))}
        required
      />
      {create.isError && <ErrorText>{messageOf(create.error)}</ErrorText>}
      <div>
        <Button type="submit" disabled={create.isPending || scopes.length === 0}>
          Create token
        </Button>
      </div>
    </form>
  );
}

function TokenList({ botId }: { botId: number | null }) {
  const tokens = useTokens(botId);
  const revoke = useRevokeToken(botId);
  const [confirm, setConfirm] = useState<ApiToken | null>(null);
  if (tokens.isPending) return <Spinner />;
  if (tokens.isError) return <ErrorText>{messageOf(tokens.error)}</ErrorText>;
  if (tokens.data.length === 0) return <p className="text-sm text-zinc-500 dark:text-zinc-400">No tokens.</p>;
  return (
    <>
      <ul className="flex flex-col gap-2" data-testid={botId === null ? "api-tokens" : `bot-tokens-${botId}`}>
        {tokens.data.map((t) => (
          <li key={t.id} className="flex items-center gap-3 rounded-md border border-zinc-200 p-3 dark:border-zinc-700">
            <div className="min-w-0 flex-1 text-sm">
              <p className="truncate font-medium">{t.name}</p>
              <p className="truncate font-mono text-xs">{t.scopes.join(" ")}</p>
              <p className="truncate text-xs text-zinc-500 dark:text-zinc-400">
                created {formatFull(t.created_at)} · {t.last_used_at ? `last used ${formatFull(t.last_used_at)}` : "never used"} · expires{" "}
                {formatFull(t.expires_at)}
              </p>
            </div>
            <Button variant="secondary" onClick={() => setConfirm(t)} aria-label={`Revoke ${t.name}`}>
              Revoke
            </Button>
          </li>
        ))}
      </ul>
      {confirm && (
        <ConfirmDialog
          title={`Revoke “${confirm.name}”?`}
          confirmLabel="Revoke"
          danger
          busy={revoke.isPending}
          error={revoke.isError ? messageOf(revoke.error) : null}
          onCancel={() => setConfirm(null)}
          onConfirm={() => revoke.mutate(confirm.id, { onSuccess: () => setConfirm(null) })}
        >
          Anything using it stops working at once, and its open connections close.
        </ConfirmDialog>
      )}
    </>
  );
}

/** My personal access tokens: for scripts and tools acting as me, within the scopes I give them. */
export function ApiTokens() {
  return (
    <div className="flex flex-col gap-4">
      <p className="text-sm text-zinc-600 dark:text-zinc-300">
        A token lets a script or tool use Tipline as you, over HTTP (<code>Authorization: Bearer …</code>) and the WebSocket, limited to
        the scopes you choose. Signing out of all devices, or resetting your password, revokes them too.
      </p>
      <TokenList botId={null} />
      <TokenForm botId={null} />
    </div>
  );
}

function BotForm() {
  const create = useCreateBot();
  const [handle, setHandle] = useState("");
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate(
      { handle: handle.replace(/^@/, ""), display_name: name, description },
      {
        onSuccess: () => {
          setHandle("");
          setName("");
          setDescription("");
        },
      },
    );
  };
  return (
    <form onSubmit={submit} className="flex flex-col gap-3" aria-label="New bot">
      <TextField label="Bot handle" value={handle} onChange={(e) => setHandle(e.target.value)} pattern="@?[A-Za-z0-9_]{3,32}" required />
      <TextField label="Bot display name" value={name} onChange={(e) => setName(e.target.value)} maxLength={64} required />
      <TextField label="Description" value={description} onChange={(e) => setDescription(e.target.value)} maxLength={500} />
      {create.isError && <ErrorText>{messageOf(create.error)}</ErrorText>}
      <div>
        <Button type="submit" disabled={create.isPending}>
          Create bot
        </Button>
      </div>
    </form>
  );
}

/** Bot accounts I own: each acts only through its tokens; add it to a conversation like a person. */
export function Bots() {
  const bots = useBots();
  const remove = useDeleteBot();
  const [open, setOpen] = useState<number | null>(null);
  const [confirm, setConfirm] = useState<number | null>(null);
  return (
    <div className="flex flex-col gap-4">
      {bots.isPending ? (
        <Spinner />
      ) : bots.isError ? (
        <ErrorText>{messageOf(bots.error)}</ErrorText>
      ) : bots.data.length === 0 ? (
        <p className="text-sm text-zinc-500 dark:text-zinc-400">No bots.</p>
      ) : (
        <ul className="flex flex-col gap-2" data-testid="bots">
          {bots.data.map((b) => (
            <li key={b.user.id} className="flex flex-col gap-3 rounded-md border border-zinc-200 p-3 dark:border-zinc-700">
              <div className="flex items-center gap-3">
                <div className="min-w-0 flex-1 text-sm">
                  <p className="flex items-center gap-1 truncate font-medium">
                    {b.user.display_name} <BotBadge />
                  </p>
                  <p className="truncate text-xs text-zinc-500 dark:text-zinc-400">
                    @{b.user.handle}
                    {b.description && ` · ${b.description}`}
                  </p>
                </div>
                <Button variant="secondary" onClick={() => setOpen(open === b.user.id ? null : b.user.id)} aria-expanded={open === b.user.id}>
                  Tokens
                </Button>
                <Button variant="danger" onClick={() => setConfirm(b.user.id)} aria-label={`Delete ${b.user.display_name}`}>
                  Delete
                </Button>
              </div>
              {open === b.user.id && (
                <div className="flex flex-col gap-3 border-t border-zinc-200 pt-3 dark:border-zinc-700">
                  <TokenList botId={b.user.id} />
                  <TokenForm botId={b.user.id} />
                </div>
              )}
            </li>
          ))}
        </ul>
      )}
      {confirm !== null && (
        <ConfirmDialog
          title="Delete this bot?"
          confirmLabel="Delete bot"
          danger
          busy={remove.isPending}
          error={remove.isError ? messageOf(remove.error) : null}
          onCancel={() => setConfirm(null)}
          onConfirm={() => remove.mutate(confirm, { onSuccess: () => setConfirm(null) })}
        >
          Its tokens stop working at once. Its messages stay, under its name.
        </ConfirmDialog>
      )}
      <BotForm />
    </div>
  );
}
