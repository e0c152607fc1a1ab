/** Set my status (emoji, text, when it clears) and my time zone: in Settings and from my own card. */
import { useEffect, useRef, useState, type FormEvent } from "react";
import { EmojiGlyph } from "../../lib/EmojiGlyph";
import { EmojiPicker } from "../../lib/EmojiPicker";
import { errorMessage } from "../../lib/errors";
import { Button, ErrorText, TextField } from "../../lib/ui";
import { useMe, useUpdateProfile } from "../accounts/queries";
import { browserTimeZone, CLEAR_AFTER, expiryFor, knownTimeZones, statusShowing, statusUntil, type ClearAfter } from "./status";

export function StatusEditor({ onDone }: { onDone?(): void }) {
  const me = useMe();
  const update = useUpdateProfile();
  const current = statusShowing(me?.status) ? me?.status : null;
  const [emoji, setEmoji] = useState(current?.emoji ?? "");
  const [text, setText] = useState(current?.text ?? "");
  const [clear, setClear] = useState<number>(0);
  const [picking, setPicking] = useState(false);
  const [saved, setSaved] = useState(false);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setSaved(false);
    const choice: ClearAfter = CLEAR_AFTER[clear]?.minutes ?? null;
    update.mutate(
      { status: { text: text.trim(), emoji: emoji.trim() || null, expires_at: expiryFor(choice) } },
      {
        onSuccess: () => {
          setSaved(true);
          onDone?.();
        },
      },
    );
  };
  const clearStatus = () => {
    setSaved(false);
    update.mutate(
      { status: null },
      {
        onSuccess: () => {
          setEmoji("");
          setText("");
          onDone?.();
        },
      },
    );
  };
  return (
    <form onSubmit={submit} className="flex flex-col gap-3" data-testid="status-editor">
      {current && (
        <p className="text-sm text-zinc-600 dark:text-zinc-400">
          Now: {current.emoji && <EmojiGlyph emoji={current.emoji} />} {current.text} {statusUntil(current)}
        </p>
      )}
      <div className="flex items-end gap-2">
        <div className="relative">
          <Button variant="secondary" className="h-[2.625rem] w-12 text-lg" onClick={() => setPicking((v) => !v)} aria-label={emoji ? `Emoji ${emoji}: pick another` : "Pick an emoji"} data-testid="status-emoji">
            <EmojiGlyph emoji={emoji || "🙂"} />
          </Button>
          {picking && (
            <EmojiPicker
              className="sm:absolute sm:top-11 sm:left-0 z-50"
              onPick={(e) => {
                setEmoji(e);
                setPicking(false);
              }}
              onClose={() => setPicking(false)}
            />
          )}
        </div>
        <TextField label="Status" className="flex-1" value={text} onChange={(e) => setText(e.target.value)} maxLength={100} placeholder="What are you up to?" />
      </div>
      <label className="flex flex-col gap-1 text-sm font-medium text-zinc-700 dark:text-zinc-200">
        Clear after
        <select value={clear} onChange={(e) => setClear(Number(e.target.value))} className="rounded-md border border-zinc-300 bg-white px-3 py-2 text-base dark:border-zinc-600 dark:bg-zinc-900">
          {CLEAR_AFTER.map((c, i) => (
            <option key={c.label} value={i}>
              {c.label}
            </option>
          ))}
        </select>
      </label>
      {update.isError && <ErrorText>{errorMessage(update.error)}</ErrorText>}
      <div className="flex flex-wrap items-center gap-2">
        <Button type="submit" disabled={update.isPending || (!text.trim() && !emoji.trim())}>
          Set status
        </Button>
        {current && (
          <Button variant="secondary" onClick={clearStatus} disabled={update.isPending}>
            Clear status
          </Button>
        )}
        {saved && <span role="status" className="text-sm text-emerald-700 dark:text-emerald-400">Saved.</span>}
      </div>
    </form>
  );
}

export function TimeZoneSetting() {
  const me = useMe();
  const update = useUpdateProfile();
  const [zone, setZone] = useState(me?.timezone ?? "");
  const [saved, setSaved] = useState(false);
  const here = browserTimeZone();
  const save = (value: string | null) => {
    setSaved(false);
    update.mutate({ timezone: value }, { onSuccess: (m) => (setZone(m.timezone ?? ""), setSaved(true)) });
  };
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        save(zone.trim() || null);
      }}
      className="flex flex-col gap-3"
    >
      <TextField
        label="Time zone"
        list="tz-list"
        value={zone}
        onChange={(e) => setZone(e.target.value)}
        placeholder="Europe/Berlin"
        hint="Others see your local time on your profile card. Set from this browser when you first sign in."
        data-testid="timezone"
      />
      <datalist id="tz-list">
        {knownTimeZones().map((z) => (
          <option key={z} value={z} />
        ))}
      </datalist>
      {update.isError && <ErrorText>{errorMessage(update.error)}</ErrorText>}
      <div className="flex flex-wrap items-center gap-2">
        <Button type="submit" disabled={update.isPending}>
          Save time zone
        </Button>
        {here && here !== me?.timezone && (
          <Button variant="secondary" onClick={() => save(here)} disabled={update.isPending}>
            Use this browser's ({here})
          </Button>
        )}
        {saved && <span role="status" className="text-sm text-emerald-700 dark:text-emerald-400">Saved.</span>}
      </div>
    </form>
  );
}

/** A new account's time zone comes from the browser: once the server says none is set, set it. */
export function useTimeZoneFromBrowser(): void {
  const me = useMe();
  const update = useUpdateProfile();
  const tried = useRef(false);
  const { mutate } = update;
  // null, not undefined: a session stored before time zones existed says nothing until GET /me answers.
  const unset = me !== null && me.timezone === null;
  useEffect(() => {
    if (!unset || tried.current) return;
    const zone = browserTimeZone();
    if (!zone) return;
    tried.current = true;
    // A zone the server's tz database lacks is refused (422): the person can pick one in Settings.
    mutate({ timezone: zone });
  }, [unset, mutate]);
}
