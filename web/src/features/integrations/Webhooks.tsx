/** Settings → Webhooks and Slash commands; the composer's command runner (docs/subsystems/integrations.md). */
import { useState, type FormEvent } from "react";
import { Button, ErrorText, TextField } from "../../lib/ui";
import { useMe } from "../accounts/queries";
import { messageOf } from "../conversations/MembersPanel";
import { useConversations } from "../conversations/queries";
import {
  parseCommand,
  useCommandActions,
  useHookActions,
  useIncomingHooks,
  useOutgoingHooks,
  useRunCommand,
  useSlashCommands,
  type CommandResult,
  type NewIncomingHook,
} from "./webhooks";

function IncomingHooks({ conversationId }: { conversationId: number }) {
  const hooks = useIncomingHooks(conversationId);
  const act = useHookActions(conversationId);
  const [name, setName] = useState("");
  const [shown, setShown] = useState<NewIncomingHook | null>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    act.createIncoming.mutate({ name, allow_overrides: false }, { onSuccess: (h) => (setShown(h), setName("")) });
  };
  return (
    <div className="flex flex-col gap-2">
      <h4 className="text-sm font-medium">Incoming webhooks</h4>
      {shown && (
        <div role="status" className="flex flex-col gap-1 rounded-md border border-emerald-300 bg-emerald-50 p-2 text-xs dark:border-emerald-700 dark:bg-emerald-950">
          <span>Copy the URL of {shown.name} now: it is not shown again.</span>
          <code data-testid="new-hook-url" className="break-all font-mono">{shown.url}</code>
          <Button variant="ghost" onClick={() => setShown(null)}>Done</Button>
        </div>
      )}
      <ul data-testid="incoming-hooks" className="flex flex-col gap-1 text-sm">
        {(hooks.data ?? []).map((h) => (
          <li key={h.id} className="flex items-center gap-2">
            <span className="flex-1">{h.name}</span>
            <Button variant="secondary" aria-label={`Rotate ${h.name}`} onClick={() => act.rotateIncoming.mutate(h.id, { onSuccess: setShown })}>Rotate</Button>
            <Button variant="ghost" aria-label={`Delete ${h.name}`} onClick={() => act.deleteIncoming.mutate(h.id)}>Delete</Button>
          </li>
        ))}
      </ul>
      <form aria-label="New incoming webhook" onSubmit={submit} className="flex items-end gap-2">
        <TextField label="Webhook name" value={name} onChange={(e) => setName(e.target.value)} maxLength={64} required />
        <Button type="submit">Create webhook</Button>
      </form>
      {act.createIncoming.error && <ErrorText>{messageOf(act.createIncoming.error)}</ErrorText>}
    </div>
  );
}

function OutgoingHooks({ conversationId }: { conversationId: number }) {
  const hooks = useOutgoingHooks(conversationId);
  const act = useHookActions(conversationId);
  const [name, setName] = useState("");
  const [url, setUrl] = useState("");
  const [words, setWords] = useState("");
  const [secret, setSecret] = useState<string | null>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const trigger_words = words.split(/[\s,]+/).filter(Boolean);
    act.createOutgoing.mutate({ name, url, trigger_words }, { onSuccess: (h) => (setSecret(h.secret), setName(""), setUrl("")) });
  };
  return (
    <div className="flex flex-col gap-2">
      <h4 className="text-sm font-medium">Outgoing webhooks</h4>
      {secret && (
        <p role="status" className="text-xs">
          Signing secret (shown once): <code data-testid="new-hook-secret" className="break-all font-mono">{secret}</code>
        </p>
      )}
      <ul data-testid="outgoing-hooks" className="flex flex-col gap-1 text-sm">
        {(hooks.data ?? []).map((h) => (
          <li key={h.id} className="flex flex-col">
            <span className="flex items-center gap-2">
              <span className="flex-1">{h.name} → {h.url}</span>
              <Button variant="ghost" aria-label={`Delete ${h.name}`} onClick={() => act.deleteOutgoing.mutate(h.id)}>Delete</Button>
            </span>
            {h.failure_count > 0 && (
              <span className="text-xs text-red-600 dark:text-red-400">
                {h.failure_count} failed {h.last_status ? `(HTTP ${h.last_status})` : ""}: {h.last_error}
              </span>
            )}
          </li>
        ))}
      </ul>
      <form aria-label="New outgoing webhook" onSubmit={submit} className="flex flex-col gap-2">
        <TextField label="Outgoing name" value={name} onChange={(e) => setName(e.target.value)} maxLength={64} required />
        <TextField label="URL" value={url} onChange={(e) => setUrl(e.target.value)} required />
        <TextField label="Trigger words (empty: every message)" value={words} onChange={(e) => setWords(e.target.value)} />
        <Button type="submit">Create outgoing webhook</Button>
      </form>
      {act.createOutgoing.error && <ErrorText>{messageOf(act.createOutgoing.error)}</ErrorText>}
    </div>
  );
}

/** Settings → Webhooks: for a conversation the user manages. */
export function Webhooks() {
  const conversations = useConversations();
  const managed = (conversations.data ?? []).filter((c) => c.kind !== "direct" && (c.role === "owner" || c.role === "admin"));
  const [picked, setPicked] = useState<number | null>(null);
  const id = picked ?? managed[0]?.id ?? null;
  if (!managed.length) return <p className="text-sm text-zinc-500">No conversation you manage.</p>;
  return (
    <div className="flex flex-col gap-4">
      <label className="flex flex-col gap-1 text-sm">
        Conversation
        <select value={id ?? ""} onChange={(e) => setPicked(Number(e.target.value))} className="rounded border px-2 py-1 dark:bg-zinc-900">
          {managed.map((c) => (
            <option key={c.id} value={c.id}>{c.name}</option>
          ))}
        </select>
      </label>
      {id !== null && <IncomingHooks conversationId={id} />}
      {id !== null && <OutgoingHooks conversationId={id} />}
    </div>
  );
}

/** Settings → Slash commands (administrators register; everyone sees the list). */
export function SlashCommands() {
  const isAdmin = Boolean(useMe()?.is_admin);
  const commands = useSlashCommands();
  const act = useCommandActions();
  const [name, setName] = useState("");
  const [url, setUrl] = useState("");
  const [description, setDescription] = useState("");
  const [secret, setSecret] = useState<string | null>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    act.create.mutate({ name, url, description, usage_hint: "" }, { onSuccess: (c) => (setSecret(c.secret), setName(""), setUrl("")) });
  };
  return (
    <div className="flex flex-col gap-2">
      <ul data-testid="slash-commands" className="flex flex-col gap-1 text-sm">
        {(commands.data ?? []).map((c) => (
          <li key={c.id} className="flex flex-col">
            <span className="flex items-center gap-2">
              <span className="flex-1 font-mono">/{c.name} {c.usage_hint}</span>
              <span className="text-zinc-500">{c.description}</span>
              {isAdmin && <Button variant="ghost" aria-label={`Delete /${c.name}`} onClick={() => act.remove.mutate(c.id)}>Delete</Button>}
            </span>
            {isAdmin && (c.failure_count ?? 0) > 0 && <span className="text-xs text-red-600 dark:text-red-400">{c.last_error}</span>}
          </li>
        ))}
      </ul>
      {secret && <p role="status" className="text-xs">Signing secret (shown once): <code className="break-all font-mono">{secret}</code></p>}
      {isAdmin && (
        <form aria-label="New slash command" onSubmit={submit} className="flex flex-col gap-2">
          <TextField label="Command name" value={name} onChange={(e) => setName(e.target.value)} maxLength={33} required />
          <TextField label="Command URL" value={url} onChange={(e) => setUrl(e.target.value)} required />
          <TextField label="Description" value={description} onChange={(e) => setDescription(e.target.value)} maxLength={200} />
          <Button type="submit">Register command</Button>
          {act.create.error && <ErrorText>{messageOf(act.create.error)}</ErrorText>}
        </form>
      )}
    </div>
  );
}

/** The composer's `/command args`: runs a registered command, keeps its answer to show locally. */
export function useComposerCommands(conversationId: number) {
  const commands = useSlashCommands();
  const run = useRunCommand(conversationId);
  const [answer, setAnswer] = useState<{ text: string; error: boolean } | null>(null);
  const tryRun = (body: string): boolean => {
    const parsed = parseCommand(body);
    // A `/word` not among the registered commands is a message; before the list has loaded, it is
    // run (an unknown one answers "there is no command" locally, and nothing is posted).
    if (!parsed || (commands.data && !commands.data.some((c) => c.name === parsed[0]))) return false;
    run.mutate(
      { command: parsed[0], text: parsed[1] },
      {
        onSuccess: (r: CommandResult) => setAnswer(r.response_type === "ephemeral" ? { text: r.text, error: false } : null),
        onError: (e) => setAnswer({ text: messageOf(e), error: true }),
      },
    );
    return true;
  };
  return { tryRun, answer, dismiss: () => setAnswer(null), list: commands.data };
}

/** An ephemeral answer: only the caller sees it, until dismissed. */
export function CommandAnswer({ answer, onDismiss }: { answer: { text: string; error: boolean } | null; onDismiss(): void }) {
  if (!answer) return null;
  return (
    <div data-testid="command-answer" role="status" className="mx-3 mb-1 flex items-start gap-2 rounded-md border border-zinc-300 bg-zinc-50 px-2 py-1 text-sm dark:border-zinc-700 dark:bg-zinc-800">
      <span className={answer.error ? "flex-1 text-red-600 dark:text-red-400" : "flex-1"}>
        <span className="mr-1 text-xs text-zinc-500">Only you can see this:</span>
        {answer.text}
      </span>
      <Button variant="ghost" onClick={onDismiss}>Dismiss</Button>
    </div>
  );
}
