/** Profile (display name, handle), appearance, notifications, API tokens, bots, sessions, sign out. */
import { useEffect, useState, type FormEvent } from "react";
import { useOptionalRealtime } from "../../app/realtime";
import { setTheme, themeStore, type Theme } from "../../app/theme";
import { formatFull } from "../../lib/format";
import { useStore } from "../../lib/store";
import { Button, cx, ErrorText, Spinner, TextField } from "../../lib/ui";
import { messageOf } from "../conversations/MembersPanel";
import {
  disableNotifications,
  enableNotifications,
  notificationPermission,
  notificationsStore,
  notificationsSupported,
} from "../messages/notifications";
import { Wallets } from "../wallets/Wallets";
import { Link } from "wouter";
import { StatusEditor, TimeZoneSetting } from "../people/StatusEditor";
import { NotificationSettings } from "../notifications/NotificationSettings";
import { ApiTokens, Bots } from "../integrations/Integrations";
import { SlashCommands, Webhooks } from "../integrations/Webhooks";
import { useServices } from "../../app/services";
import { AvatarEditor } from "../media/AvatarEditor";
import { xhrTransport } from "../media/upload";
import { accountErrorMessage } from "./errors";
import { PasskeySettings, TwoFactorSettings } from "./TwoFactor";
import { PrivacySettings } from "../privacy/PrivacySettings";
import { BlockedPeople } from "../people/BlockedPeople";
import { ReceiptSetting } from "../timeline/ReceiptSetting";
import { useMe, useRequestEmailChange, useRevokeSession, useSessions, useSignOut, useUpdateProfile } from "./queries";

function Section({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <section className="border-b border-zinc-200 py-6 last:border-0 dark:border-zinc-700" aria-labelledby={`s-${title}`}>
      <h2 id={`s-${title}`} className="mb-3 text-base font-semibold">
        {title}
      </h2>
      {children}
    </section>
  );
}

function Picture() {
  const me = useMe();
  const { api } = useServices();
  if (!me) return null;
  return (
    <Section title="Picture">
      <AvatarEditor api={api} transport={xhrTransport} userId={me.id} />
    </Section>
  );
}

export function Settings() {
  return (
    <div className="min-h-0 flex-1 overflow-y-auto">
      <div className="mx-auto w-full max-w-xl p-4 sm:p-6">
        <h1 className="text-xl font-semibold">Profile and settings</h1>
        <ProfileForm />
        <Section title="Status and time zone">
          <div className="flex flex-col gap-6">
            <StatusEditor />
            <TimeZoneSetting />
          </div>
        </Section>
        <EmailForm />
        <Picture />
        <Appearance />
        <Notifications />
        <NotificationSettings />
        <ReceiptSetting />
        <Section title="Wallets">
          <Wallets />
        </Section>
        <Section title="Tips">
          <Link href="/my-tips" className="text-sm font-medium text-indigo-700 underline dark:text-indigo-300" data-testid="tips-link">
            My tips: sent and received, and the CSV download
          </Link>
        </Section>
        <Section title="Two-factor authentication">
          <TwoFactorSettings />
        </Section>
        <Section title="Passkeys">
          <PasskeySettings />
        </Section>
        <Section title="API tokens">
          <ApiTokens />
        </Section>
        <Section title="Bots">
          <Bots />
        </Section>
        <Section title="Webhooks">
          <Webhooks />
        </Section>
        <Section title="Slash commands">
          <SlashCommands />
        </Section>
        <BlockedPeople />
        <PrivacySettings />
        <Sessions />
        <SignOutButtons />
      </div>
    </div>
  );
}

function ProfileForm() {
  const me = useMe();
  const update = useUpdateProfile();
  const [name, setName] = useState(me?.display_name ?? "");
  const [handle, setHandle] = useState(me?.handle ?? "");
  const [saved, setSaved] = useState(false);
  const displayName = me?.display_name;
  const myHandle = me?.handle;
  useEffect(() => {
    if (displayName !== undefined) setName(displayName);
    if (myHandle !== undefined) setHandle(myHandle);
  }, [displayName, myHandle]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setSaved(false);
    const patch: { display_name?: string; handle?: string } = {};
    if (name !== me?.display_name) patch.display_name = name;
    if (handle.replace(/^@/, "") !== me?.handle) patch.handle = handle.replace(/^@/, "");
    update.mutate(patch, { onSuccess: () => setSaved(true) });
  };
  return (
    <Section title="Profile">
      <form onSubmit={submit} className="flex flex-col gap-3">
        <TextField label="Display name" value={name} onChange={(e) => setName(e.target.value)} maxLength={64} required />
        <TextField label="Handle" value={handle} onChange={(e) => setHandle(e.target.value)} pattern="@?[A-Za-z0-9_]{3,32}" required hint={me?.email ? `Signed in as ${me.email}` : undefined} />
        {update.isError && <ErrorText>{update.error.message}</ErrorText>}
        <div className="flex items-center gap-3">
          <Button type="submit" disabled={update.isPending}>
            Save profile
          </Button>
          {saved && <span role="status" className="text-sm text-emerald-700 dark:text-emerald-400">Saved.</span>}
        </div>
      </form>
    </Section>
  );
}

/** Change my email address: confirmed by a link mailed to the new one, with my password as proof. */
function EmailForm() {
  const me = useMe();
  const change = useRequestEmailChange();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [sentTo, setSentTo] = useState<string | null>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    change.mutate(
      { new_email: email, password },
      {
        onSuccess: () => {
          setSentTo(email);
          setEmail("");
          setPassword("");
        },
      },
    );
  };
  return (
    <Section title="Email address">
      <p className="mb-3 text-sm">
        {me?.email ? (
          <>
            Your account’s address is <strong data-testid="current-email">{me.email}</strong>.
          </>
        ) : (
          "Your account has no email address yet."
        )}
      </p>
      <form onSubmit={submit} className="flex flex-col gap-3">
        <TextField label="New email address" type="email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} required />
        <TextField
          label="Current password"
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          required
          hint="To be sure it is you: an open session alone cannot move your account."
        />
        {change.isError && <ErrorText>{accountErrorMessage(change.error)}</ErrorText>}
        <div>
          <Button type="submit" disabled={change.isPending}>
            {change.isPending ? "Sending…" : "Change email"}
          </Button>
        </div>
        {sentTo && (
          <p role="status" data-testid="email-change-sent" className="text-sm text-emerald-700 dark:text-emerald-400">
            We mailed a link to {sentTo}. Your address changes when you open it; until then you keep signing in with the
            current one, which we also told about this.
          </p>
        )}
      </form>
    </Section>
  );
}

function Appearance() {
  const theme = useStore(themeStore);
  const options: { id: Theme; label: string }[] = [
    { id: "system", label: "System" },
    { id: "light", label: "Light" },
    { id: "dark", label: "Dark" },
  ];
  return (
    <Section title="Appearance">
      <div role="radiogroup" aria-label="Theme" className="flex gap-2">
        {options.map((o) => (
          <button
            key={o.id}
            type="button"
            role="radio"
            aria-checked={theme === o.id}
            onClick={() => setTheme(o.id)}
            className={cx(
              "rounded-md border px-4 py-2 text-sm",
              theme === o.id ? "border-indigo-600 bg-indigo-50 font-semibold text-indigo-800 dark:bg-indigo-500/20 dark:text-indigo-100" : "border-zinc-300 dark:border-zinc-600",
            )}
          >
            {o.label}
          </button>
        ))}
      </div>
    </Section>
  );
}

function Notifications() {
  const on = useStore(notificationsStore);
  const [permission, setPermission] = useState(notificationPermission());
  if (!notificationsSupported()) {
    return (
      <Section title="Notifications">
        <p className="text-sm text-zinc-600 dark:text-zinc-400">This browser does not support notifications.</p>
      </Section>
    );
  }
  return (
    <Section title="Notifications">
      <p className="mb-3 text-sm text-zinc-600 dark:text-zinc-400">
        Get a notification for direct messages and @mentions while Tipline is in a background tab.
      </p>
      {permission === "denied" ? (
        <p className="text-sm text-amber-800 dark:text-amber-300">
          Notifications are blocked for this site. Allow them in your browser’s site settings, then come back here.
        </p>
      ) : on ? (
        <Button variant="secondary" onClick={disableNotifications}>
          Turn notifications off
        </Button>
      ) : (
        <Button onClick={() => void enableNotifications().then(() => setPermission(notificationPermission()))}>
          Turn notifications on
        </Button>
      )}
    </Section>
  );
}

function Sessions() {
  const sessions = useSessions();
  const revoke = useRevokeSession();
  return (
    <Section title="Where you are signed in">
      {sessions.isPending ? (
        <Spinner />
      ) : sessions.isError ? (
        <ErrorText>{messageOf(sessions.error)}</ErrorText>
      ) : (
        <ul className="flex flex-col gap-2" data-testid="sessions">
          {sessions.data.map((s) => (
            <li key={s.id} className="flex items-center gap-3 rounded-md border border-zinc-200 p-3 dark:border-zinc-700">
              <div className="min-w-0 flex-1 text-sm">
                <p className="truncate font-medium">
                  {describeAgent(s.user_agent)} {s.current && <span className="ml-1 rounded bg-emerald-100 px-1.5 py-0.5 text-xs text-emerald-800 dark:bg-emerald-900 dark:text-emerald-200">this device</span>}
                </p>
                <p className="truncate text-xs text-zinc-500 dark:text-zinc-400">
                  {s.ip || "unknown address"} · last active {formatFull(s.last_used_at)}
                </p>
              </div>
              {!s.current && (
                <Button variant="secondary" onClick={() => revoke.mutate(s.id)} disabled={revoke.isPending} aria-label={`Sign out ${describeAgent(s.user_agent)}`}>
                  Sign out
                </Button>
              )}
            </li>
          ))}
        </ul>
      )}
      {revoke.isError && <ErrorText>{messageOf(revoke.error)}</ErrorText>}
    </Section>
  );
}

function describeAgent(ua: string): string {
  if (!ua) return "Unknown device";
  const browser = /Firefox\//.test(ua) ? "Firefox" : /Edg\//.test(ua) ? "Edge" : /Chrome\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "Browser";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Mac OS X/.test(ua) ? "macOS" : /Windows/.test(ua) ? "Windows" : /Linux/.test(ua) ? "Linux" : "";
  return os ? `${browser} on ${os}` : browser;
}

function SignOutButtons() {
  const signOut = useSignOut();
  const realtime = useOptionalRealtime();
  const go = (all: boolean) => {
    // Stop the socket first: the server closes it on sign-out, which must not read as "expired".
    realtime?.client.stop();
    signOut.mutate(all);
  };
  return (
    <Section title="Sign out">
      <div className="flex flex-wrap gap-2">
        <Button variant="secondary" onClick={() => go(false)} disabled={signOut.isPending} data-testid="sign-out">
          Sign out
        </Button>
        <Button variant="danger" onClick={() => go(true)} disabled={signOut.isPending}>
          Sign out of all devices
        </Button>
      </div>
    </Section>
  );
}
