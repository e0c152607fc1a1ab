/** Settings › Push and email notifications: this browser's Web Push, my devices, email digests. */
import { useEffect, useState } from "react";
import { formatFull } from "../../lib/format";
import { Button, ErrorText, Spinner } from "../../lib/ui";
import { messageOf } from "../conversations/MembersPanel";
import { currentSubscription, deviceLabel, pushSupported, subscribePush } from "./push";
import {
  useAddPushDevice,
  useNotificationSettings,
  usePushDevices,
  useRemovePushDevice,
  useSetEmail,
  type PushSubscriptionBody,
} from "./queries";

export function NotificationSettings() {
  const settings = useNotificationSettings();
  return (
    <section className="border-b border-zinc-200 py-6 last:border-0 dark:border-zinc-700" aria-labelledby="s-away">
      <h2 id="s-away" className="mb-3 text-base font-semibold">
        When you are away
      </h2>
      {settings.isPending ? (
        <Spinner />
      ) : settings.isError ? (
        <ErrorText>{messageOf(settings.error)}</ErrorText>
      ) : (
        <div className="flex flex-col gap-5">
          <PushDevices publicKey={settings.data.push_available ? settings.data.vapid_public_key : null} />
          <EmailDigest enabled={settings.data.email_enabled} delayS={settings.data.email_delay_s} />
          <p className="text-xs text-zinc-500 dark:text-zinc-400">
            Each conversation’s bell menu chooses all messages, mentions only, or mute; it applies here too.
          </p>
        </div>
      )}
    </section>
  );
}

function PushDevices({ publicKey }: { publicKey: string | null | undefined }) {
  const devices = usePushDevices();
  const add = useAddPushDevice();
  const remove = useRemovePushDevice();
  const [endpoint, setEndpoint] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    void currentSubscription().then((s) => setEndpoint(s?.endpoint ?? null));
  }, []);

  if (!publicKey) {
    return <p className="text-sm text-zinc-600 dark:text-zinc-400">This server does not send push notifications.</p>;
  }
  const enable = async () => {
    setBusy(true);
    setError(null);
    try {
      const sub = await subscribePush(publicKey);
      const body = { endpoint: sub.endpoint ?? "", keys: { p256dh: sub.keys?.p256dh ?? "", auth: sub.keys?.auth ?? "" }, label: deviceLabel() };
      await add.mutateAsync(body as PushSubscriptionBody);
      setEndpoint(body.endpoint);
    } catch (e) {
      setError(e instanceof Error ? messageOf(e) : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div>
      <h3 className="mb-1 text-sm font-medium">Push notifications</h3>
      <p className="mb-2 text-sm text-zinc-600 dark:text-zinc-400">
        Direct messages and mentions reach this device even when no Tipline tab is open.
      </p>
      {!pushSupported() ? (
        <p className="text-sm text-zinc-600 dark:text-zinc-400">This browser does not support push notifications.</p>
      ) : (
        <Button onClick={() => void enable()} disabled={busy} data-testid="enable-push">
          {endpoint ? "Renew push on this device" : "Turn on push for this device"}
        </Button>
      )}
      {error && <ErrorText>{error}</ErrorText>}
      {devices.isPending ? (
        <Spinner />
      ) : devices.isError ? (
        <ErrorText>{messageOf(devices.error)}</ErrorText>
      ) : devices.data.length === 0 ? (
        <p className="mt-2 text-sm text-zinc-500 dark:text-zinc-400">No device gets push notifications yet.</p>
      ) : (
        <ul className="mt-3 flex flex-col gap-2" data-testid="push-devices">
          {devices.data.map((d) => (
            <li key={d.id} className="flex items-center gap-3 rounded-md border border-zinc-200 p-3 dark:border-zinc-700">
              <div className="min-w-0 flex-1 text-sm">
                <p className="truncate font-medium">{d.label || d.endpoint_origin}</p>
                <p className="truncate text-xs text-zinc-500 dark:text-zinc-400">
                  {d.endpoint_origin} · added {formatFull(d.created_at)}
                  {d.last_push_at ? ` · last push ${formatFull(d.last_push_at)}` : ""}
                </p>
              </div>
              <Button variant="secondary" onClick={() => remove.mutate(d.id)} disabled={remove.isPending} aria-label={`Remove ${d.label || "device"}`}>
                Remove
              </Button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function EmailDigest({ enabled, delayS }: { enabled: boolean; delayS: number }) {
  const set = useSetEmail();
  const minutes = Math.max(1, Math.round(delayS / 60));
  return (
    <div>
      <h3 className="mb-1 text-sm font-medium">Email</h3>
      <label className="flex items-start gap-2 text-sm">
        <input
          type="checkbox"
          className="mt-1"
          checked={enabled}
          disabled={set.isPending}
          onChange={(e) => set.mutate(e.target.checked)}
          data-testid="email-notifications"
        />
        <span>
          Mail me direct messages and mentions I have not read after {minutes} minute{minutes === 1 ? "" : "s"}, in one
          mail.
        </span>
      </label>
      {set.isError && <ErrorText>{messageOf(set.error)}</ErrorText>}
    </div>
  );
}
