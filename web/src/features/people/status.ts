/** A person's status and local time, as the profile card and Settings show them. */
import type { Schemas } from "../../api/client";

export type Status = Schemas["ProfileStatusOut"];

/** The browser's IANA time zone (what a new account's time zone is set to), or null if it has none. */
export function browserTimeZone(): string | null {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
  } catch {
    return null;
  }
}

/** Every IANA zone the browser knows, for the Settings picker (the server checks the choice). */
export function knownTimeZones(): string[] {
  const intl = Intl as typeof Intl & { supportedValuesOf?: (key: string) => string[] };
  try {
    return intl.supportedValuesOf?.("timeZone") ?? [];
  } catch {
    return [];
  }
}

/** "14:05" in that zone, and how far it is from the viewer's ("8 h ahead"), or null for an unknown zone. */
export function localTime(timeZone: string, now: Date = new Date(), viewerZone?: string): { time: string; offset: string } | null {
  try {
    const time = new Intl.DateTimeFormat(undefined, { timeZone, hour: "2-digit", minute: "2-digit" }).format(now);
    const diff = offsetMinutes(timeZone, now) - offsetMinutes(viewerZone ?? browserTimeZone() ?? "UTC", now);
    return { time, offset: describeOffset(diff) };
  } catch {
    return null;
  }
}

function offsetMinutes(timeZone: string, at: Date): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
  }).formatToParts(at);
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const asUtc = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"));
  return Math.round((asUtc - Math.floor(at.getTime() / 60_000) * 60_000) / 60_000);
}

function describeOffset(minutes: number): string {
  if (minutes === 0) return "same time as you";
  const abs = Math.abs(minutes);
  const h = Math.floor(abs / 60);
  const m = abs % 60;
  const amount = m ? `${h} h ${m} min` : `${h} h`;
  return `${amount} ${minutes > 0 ? "ahead" : "behind"}`;
}

/** "until 18:30", "until Tue 09:00", or "" for a status with no expiry. */
export function statusUntil(status: Status, now: Date = new Date()): string {
  if (!status.expires_at) return "";
  const at = new Date(status.expires_at);
  const sameDay = at.toDateString() === now.toDateString();
  const fmt = new Intl.DateTimeFormat(undefined, sameDay ? { hour: "2-digit", minute: "2-digit" } : { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  return `until ${fmt.format(at)}`;
}

/** Whether a status is still showing (the server never answers an expired one; a card left open may outlive it). */
export function statusShowing(status: Status | null | undefined, now: Date = new Date()): status is Status {
  return !!status && (!status.expires_at || Date.parse(status.expires_at) > now.getTime());
}

export const CLEAR_AFTER = [
  { label: "Don't clear", minutes: null },
  { label: "30 minutes", minutes: 30 },
  { label: "1 hour", minutes: 60 },
  { label: "4 hours", minutes: 240 },
  { label: "Today", minutes: "today" },
  { label: "This week", minutes: "week" },
] as const;

export type ClearAfter = (typeof CLEAR_AFTER)[number]["minutes"];

/** When a status chosen now with ``choice`` should end (the server wants it in the future, within a year). */
export function expiryFor(choice: ClearAfter, now: Date = new Date()): string | null {
  if (choice === null) return null;
  if (typeof choice === "number") return new Date(now.getTime() + choice * 60_000).toISOString();
  const end = new Date(now);
  if (choice === "week") end.setDate(end.getDate() + ((7 - end.getDay()) % 7));
  end.setHours(23, 59, 0, 0);
  if (end.getTime() <= now.getTime()) end.setTime(now.getTime() + 60_000);
  return end.toISOString();
}
