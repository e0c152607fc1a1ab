/**
 * Admin console → Settings: sign-up mode and allowed email domains, invite links, message
 * retention per conversation kind, upload limits and custom emoji (docs/subsystems/admin.md,
 * Server settings). Every change is checked and audited on the server.
 */
import { useState, type FormEvent } from "react";
import { formatFull } from "../../../lib/format";
import { Button, ConfirmDialog, ErrorText, Spinner, TextField } from "../../../lib/ui";
import { messageOf } from "../../conversations/MembersPanel";
import {
  useAdminEmoji,
  useCreateInvite,
  useDeleteEmoji,
  useInvites,
  useRevokeInvite,
  useServerSettings,
  useUpdateSettings,
  useUploadEmoji,
  type NewInvite,
  type ServerSettingsValue,
} from "./queries";

const KINDS = [
  ["direct", "Direct messages"],
  ["group", "Groups"],
  ["public", "Public channels"],
  ["private", "Private channels"],
] as const;
type Kind = (typeof KINDS)[number][0];
const MB = 1024 * 1024;

function Section({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <section aria-label={title} className="flex flex-col gap-3 rounded-md border border-zinc-200 p-4 dark:border-zinc-700">
      <h3 className="text-sm font-semibold">{title}</h3>
      {children}
    </section>
  );
}

function Saved({ show }: { show: boolean }) {
  return show ? (
    <span role="status" className="text-sm text-emerald-700 dark:text-emerald-300">
      Saved
    </span>
  ) : null;
}

function SignUpSettings({ value }: { value: ServerSettingsValue }) {
  const update = useUpdateSettings();
  const [mode, setMode] = useState(value.signup_mode);
  const [domains, setDomains] = useState(value.allowed_email_domains.join(", "));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const list = domains
      .split(/[\s,]+/)
      .map((d) => d.trim())
      .filter(Boolean);
    update.mutate({ signup_mode: mode, allowed_email_domains: list });
  };
  return (
    <Section title="Sign-up">
      <form onSubmit={submit} className="flex flex-col gap-3" aria-label="Sign-up settings">
        <fieldset className="flex flex-col gap-1 text-sm">
          <legend className="mb-1 font-medium text-zinc-700 dark:text-zinc-200">Who may sign up</legend>
          {(
            [
              ["open", "Anyone"],
              ["invite_only", "Only people with an invite link"],
              ["closed", "Nobody (admins create accounts)"],
            ] as const
          ).map(([m, label]) => (
            <label key={m} className="flex items-center gap-2">
              <input type="radio" name="signup_mode" value={m} checked={mode === m} onChange={() => setMode(m)} />
              {label}
            </label>
          ))}
        </fieldset>
        <TextField
          label="Allowed email domains"
          hint="Comma-separated, e.g. example.com. Empty: any address."
          value={domains}
          onChange={(e) => setDomains(e.target.value)}
        />
        {update.isError && <ErrorText>{messageOf(update.error)}</ErrorText>}
        <div className="flex items-center gap-3">
          <Button type="submit" disabled={update.isPending}>
            Save sign-up settings
          </Button>
          <Saved show={update.isSuccess} />
        </div>
      </form>
    </Section>
  );
}

function InviteShown({ invite, onDone }: { invite: NewInvite; onDone(): void }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(invite.link);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };
  return (
    <div role="status" className="flex flex-col gap-2 rounded-md border border-emerald-300 bg-emerald-50 p-3 text-sm dark:border-emerald-700 dark:bg-emerald-950">
      <p>Copy the invite link now: it is not shown again.</p>
      <code data-testid="invite-link" className="break-all rounded bg-white px-2 py-1 font-mono text-xs dark:bg-zinc-900">
        {invite.link}
      </code>
      <div className="flex gap-2">
        <Button variant="secondary" onClick={() => void copy()}>
          {copied ? "Copied" : "Copy link"}
        </Button>
        <Button variant="ghost" onClick={onDone}>
          Done
        </Button>
      </div>
    </div>
  );
}

function Invites() {
  const invites = useInvites();
  const create = useCreateInvite();
  const revoke = useRevokeInvite();
  const [uses, setUses] = useState("1");
  const [hours, setHours] = useState("168");
  const [note, setNote] = useState("");
  const [created, setCreated] = useState<NewInvite | null>(null);
  const [confirm, setConfirm] = useState<string | null>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate(
      { max_uses: uses ? Number(uses) : null, expires_in_hours: hours ? Number(hours) : null, note },
      {
        onSuccess: (i) => {
          setCreated(i);
          setNote("");
        },
      },
    );
  };
  return (
    <Section title="Invite links">
      {created ? (
        <InviteShown invite={created} onDone={() => setCreated(null)} />
      ) : (
        <form onSubmit={submit} className="flex flex-wrap items-end gap-3" aria-label="New invite">
          <TextField label="Uses" hint="Empty: unlimited" type="number" min={1} value={uses} onChange={(e) => setUses(e.target.value)} />
          <TextField label="Expires after (hours)" hint="Empty: never" type="number" min={1} value={hours} onChange={(e) => setHours(e.target.value)} />
          <TextField label="Note" value={note} maxLength={200} onChange={(e) => setNote(e.target.value)} />
          <Button type="submit" disabled={create.isPending}>
            Create invite
          </Button>
        </form>
      )}
      {create.isError && <ErrorText>{messageOf(create.error)}</ErrorText>}
      {invites.isPending ? (
        <Spinner />
      ) : invites.isError ? (
        <ErrorText>{messageOf(invites.error)}</ErrorText>
      ) : invites.data.length === 0 ? (
        <p className="text-sm text-zinc-500 dark:text-zinc-400">No invites.</p>
      ) : (
        <ul className="flex flex-col gap-2" data-testid="invites">
          {invites.data.map((i) => (
            <li key={i.id} className="flex items-center gap-3 text-sm">
              <div className="min-w-0 flex-1">
                <p className="truncate">
                  <span className="font-mono">{i.hint}…</span> {i.note && `· ${i.note}`}
                </p>
                <p className="truncate text-xs text-zinc-500 dark:text-zinc-400">
                  {i.uses}
                  {i.max_uses !== null ? ` of ${i.max_uses}` : ""} used · {i.expires_at ? `expires ${formatFull(i.expires_at)}` : "never expires"} ·{" "}
                  {i.revoked ? "revoked" : i.usable ? "usable" : "no longer usable"}
                </p>
              </div>
              {!i.revoked && (
                <Button variant="secondary" onClick={() => setConfirm(i.id)} aria-label={`Revoke invite ${i.hint}`}>
                  Revoke
                </Button>
              )}
            </li>
          ))}
        </ul>
      )}
      {confirm && (
        <ConfirmDialog
          title="Revoke this invite?"
          confirmLabel="Revoke"
          danger
          busy={revoke.isPending}
          error={revoke.isError ? messageOf(revoke.error) : null}
          onCancel={() => setConfirm(null)}
          onConfirm={() => revoke.mutate(confirm, { onSuccess: () => setConfirm(null) })}
        >
          Its link stops working at once. Accounts made with it stay.
        </ConfirmDialog>
      )}
    </Section>
  );
}

function RetentionSettings({ value }: { value: ServerSettingsValue }) {
  const update = useUpdateSettings();
  const [days, setDays] = useState<Record<Kind, string>>(() => {
    const r = value.retention;
    const s = (n: number | null | undefined) => (n ? String(n) : "");
    return { direct: s(r.direct), group: s(r.group), public: s(r.public), private: s(r.private) };
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const n = (k: Kind) => (days[k] ? Number(days[k]) : null);
    update.mutate({ retention: { direct: n("direct"), group: n("group"), public: n("public"), private: n("private") } });
  };
  return (
    <Section title="Message retention">
      <form onSubmit={submit} className="flex flex-col gap-3" aria-label="Message retention">
        <p className="text-sm text-zinc-600 dark:text-zinc-300">
          Messages older than this many days are deleted, with their attachments. Empty: kept forever.
        </p>
        <div className="grid grid-cols-2 gap-3 sm:grid-cols-4">
          {KINDS.map(([k, label]) => (
            <TextField
              key={k}
              label={`${label} (days)`}
              type="number"
              min={1}
              value={days[k]}
              onChange={(e) => setDays((d) => ({ ...d, [k]: e.target.value }))}
            />
          ))}
        </div>
        {update.isError && <ErrorText>{messageOf(update.error)}</ErrorText>}
        <div className="flex items-center gap-3">
          <Button type="submit" disabled={update.isPending}>
            Save retention
          </Button>
          <Saved show={update.isSuccess} />
        </div>
      </form>
    </Section>
  );
}

function UploadSettings({ value }: { value: ServerSettingsValue }) {
  const update = useUpdateSettings();
  const [maxMb, setMaxMb] = useState(value.uploads.max_bytes ? String(value.uploads.max_bytes / MB) : "");
  const [types, setTypes] = useState((value.uploads.allowed_types ?? []).join(", "));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const allowed = types
      .split(/[\s,]+/)
      .map((t) => t.trim())
      .filter(Boolean);
    update.mutate({ uploads: { max_bytes: maxMb ? Math.round(Number(maxMb) * MB) : null, allowed_types: allowed } });
  };
  const current = update.data ?? value;
  return (
    <Section title="Uploads">
      <form onSubmit={submit} className="flex flex-col gap-3" aria-label="Upload limits">
        <TextField
          label="Largest attachment (MB)"
          hint={`Empty: the server's own limit. Now accepted: up to ${(current.effective_upload_max_bytes / MB).toFixed(1)} MB.`}
          type="number"
          min={0.001}
          step="any"
          value={maxMb}
          onChange={(e) => setMaxMb(e.target.value)}
        />
        <TextField
          label="Allowed types"
          hint="Comma-separated media types, e.g. image/*, application/pdf. Empty: any."
          value={types}
          onChange={(e) => setTypes(e.target.value)}
        />
        {update.isError && <ErrorText>{messageOf(update.error)}</ErrorText>}
        <div className="flex items-center gap-3">
          <Button type="submit" disabled={update.isPending}>
            Save upload limits
          </Button>
          <Saved show={update.isSuccess} />
        </div>
      </form>
    </Section>
  );
}

function CustomEmojiSettings() {
  const emoji = useAdminEmoji();
  const upload = useUploadEmoji();
  const remove = useDeleteEmoji();
  const [name, setName] = useState("");
  const [file, setFile] = useState<File | null>(null);
  const [formKey, setFormKey] = useState(0);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!file) return;
    upload.mutate(
      { name: name.replace(/^:|:$/g, ""), file },
      {
        onSuccess: () => {
          setName("");
          setFile(null);
          setFormKey((k) => k + 1);
        },
      },
    );
  };
  return (
    <Section title="Custom emoji">
      <form key={formKey} onSubmit={submit} className="flex flex-wrap items-end gap-3" aria-label="New custom emoji">
        <TextField label="Emoji name" hint="Written :name: in messages" value={name} onChange={(e) => setName(e.target.value)} pattern=":?[a-z0-9_+\-]{2,32}:?" required />
        <label className="flex flex-col gap-1 text-sm">
          <span className="font-medium text-zinc-700 dark:text-zinc-200">Image (PNG, GIF or WebP)</span>
          <input type="file" accept="image/png,image/gif,image/webp" aria-label="Emoji image" onChange={(e) => setFile(e.target.files?.[0] ?? null)} required />
        </label>
        <Button type="submit" disabled={upload.isPending || !file}>
          Upload emoji
        </Button>
      </form>
      {upload.isError && <ErrorText>{messageOf(upload.error)}</ErrorText>}
      {remove.isError && <ErrorText>{messageOf(remove.error)}</ErrorText>}
      {emoji.isPending ? (
        <Spinner />
      ) : emoji.isError ? (
        <ErrorText>{messageOf(emoji.error)}</ErrorText>
      ) : emoji.data.length === 0 ? (
        <p className="text-sm text-zinc-500 dark:text-zinc-400">No custom emoji.</p>
      ) : (
        <ul className="flex flex-col gap-2" data-testid="custom-emoji-list">
          {emoji.data.map((e) => (
            <li key={e.id} className="flex items-center gap-3 text-sm">
              <img src={e.url} alt={`:${e.name}:`} className="size-8 object-contain" />
              <span className="min-w-0 flex-1 truncate font-mono">:{e.name}:</span>
              <Button variant="secondary" onClick={() => remove.mutate(e.name)} aria-label={`Delete :${e.name}:`} disabled={remove.isPending}>
                Delete
              </Button>
            </li>
          ))}
        </ul>
      )}
    </Section>
  );
}

/** The Settings tab of the admin console. */
export function ServerSettings() {
  const settings = useServerSettings();
  if (settings.isPending) return <Spinner />;
  if (settings.isError) return <ErrorText>{messageOf(settings.error)}</ErrorText>;
  return (
    <div className="flex flex-col gap-4" data-testid="server-settings">
      <SignUpSettings value={settings.data} />
      <Invites />
      <RetentionSettings value={settings.data} />
      <UploadSettings value={settings.data} />
      <CustomEmojiSettings />
    </div>
  );
}
