/** Start a direct message (by @handle), a group, or a public or private channel. */
import { useState, type FormEvent } from "react";
import { useLocation } from "wouter";
import { ApiError } from "../../api/client";
import { Button, cx, ErrorText, TextField } from "../../lib/ui";
import { errorMessage } from "../../lib/errors";
import { useCreateConversation, useLookupHandle, useOpenDirect } from "./queries";

type Tab = "direct" | "group" | "channel";

export function NewConversation() {
  const [tab, setTab] = useState<Tab>("direct");
  const tabs: { id: Tab; label: string }[] = [
    { id: "direct", label: "Direct message" },
    { id: "group", label: "Group" },
    { id: "channel", label: "Channel" },
  ];
  return (
    <div className="mx-auto w-full max-w-lg overflow-y-auto p-4 sm:p-6">
      <h1 className="mb-4 text-xl font-semibold">New conversation</h1>
      <div role="tablist" aria-label="Kind of conversation" className="mb-4 flex gap-1 rounded-lg bg-zinc-100 p-1 dark:bg-zinc-800">
        {tabs.map((t) => (
          <button
            key={t.id}
            role="tab"
            type="button"
            id={`tab-${t.id}`}
            aria-selected={tab === t.id}
            aria-controls={`panel-${t.id}`}
            onClick={() => setTab(t.id)}
            className={cx(
              "flex-1 rounded-md px-3 py-1.5 text-sm font-medium",
              tab === t.id ? "bg-white shadow-sm dark:bg-zinc-900" : "text-zinc-600 dark:text-zinc-300",
            )}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === "direct" ? <DirectForm /> : tab === "group" ? <GroupForm /> : <ChannelForm />}
      </div>
    </div>
  );
}

function handleError(err: unknown, handle: string): string {
  if (err instanceof ApiError && err.code === "user_not_found") return `No one has the handle @${handle.replace(/^@/, "")}.`;
  if (err instanceof ApiError && err.status === 422) return `“${handle}” is not a valid handle.`;
  return errorMessage(err);
}

function DirectForm() {
  const [handle, setHandle] = useState("");
  const [error, setError] = useState<string | null>(null);
  const lookup = useLookupHandle();
  const open = useOpenDirect();
  const [, navigate] = useLocation();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const user = await lookup(handle);
      const conv = await open.mutateAsync(user.id);
      navigate(`/c/${conv.id}`);
    } catch (err) {
      setError(handleError(err, handle));
    }
  };
  return (
    <form onSubmit={submit} className="flex flex-col gap-3">
      <TextField label="Their handle" placeholder="@handle" value={handle} onChange={(e) => setHandle(e.target.value)} autoFocus autoComplete="off" required />
      <ErrorText>{error}</ErrorText>
      <Button type="submit" disabled={!handle.trim() || open.isPending}>
        Open conversation
      </Button>
    </form>
  );
}

function GroupForm() {
  const [name, setName] = useState("");
  const [handles, setHandles] = useState("");
  const [error, setError] = useState<string | null>(null);
  const lookup = useLookupHandle();
  const create = useCreateConversation();
  const [, navigate] = useLocation();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    const wanted = handles.split(/[\s,]+/).map((h) => h.trim()).filter(Boolean);
    const ids: number[] = [];
    for (const h of wanted) {
      try {
        ids.push((await lookup(h)).id);
      } catch (err) {
        setError(handleError(err, h));
        return;
      }
    }
    try {
      const conv = await create.mutateAsync({ kind: "group", name, member_ids: ids });
      navigate(`/c/${conv.id}`);
    } catch (err) {
      setError(errorMessage(err));
    }
  };
  return (
    <form onSubmit={submit} className="flex flex-col gap-3">
      <TextField label="Group name" value={name} onChange={(e) => setName(e.target.value)} maxLength={80} required autoFocus />
      <TextField label="Members" hint="Handles separated by spaces or commas, e.g. @ana @bo" value={handles} onChange={(e) => setHandles(e.target.value)} autoComplete="off" />
      <ErrorText>{error}</ErrorText>
      <Button type="submit" disabled={!name.trim() || create.isPending}>
        Create group
      </Button>
    </form>
  );
}

function ChannelForm() {
  const [name, setName] = useState("");
  const [topic, setTopic] = useState("");
  const [kind, setKind] = useState<"public" | "private">("public");
  const create = useCreateConversation();
  const [, navigate] = useLocation();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate({ kind, name, topic }, { onSuccess: (conv) => navigate(`/c/${conv.id}`) });
  };
  return (
    <form onSubmit={submit} className="flex flex-col gap-3">
      <TextField label="Channel name" value={name} onChange={(e) => setName(e.target.value)} maxLength={80} required autoFocus />
      <TextField label="Topic" value={topic} onChange={(e) => setTopic(e.target.value)} maxLength={250} />
      <fieldset className="flex flex-col gap-2">
        <legend className="mb-1 text-sm font-medium">Who can join</legend>
        <label className="flex items-center gap-2 text-sm">
          <input type="radio" name="kind" checked={kind === "public"} onChange={() => setKind("public")} />
          Public: anyone can find and join it
        </label>
        <label className="flex items-center gap-2 text-sm">
          <input type="radio" name="kind" checked={kind === "private"} onChange={() => setKind("private")} />
          Private: members are invited
        </label>
      </fieldset>
      {create.isError && <ErrorText>{errorMessage(create.error)}</ErrorText>}
      <Button type="submit" disabled={!name.trim() || create.isPending}>
        Create channel
      </Button>
    </form>
  );
}
