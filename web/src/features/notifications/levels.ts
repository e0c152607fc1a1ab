/** Which messages notify me, by my level in the conversation (docs/subsystems/notifications.md). */
export type Level = "all" | "mentions" | "mute";

// @here and @channel, as the server reads them (notifications/schemas.py MENTION_ALL_RE).
const MENTION_ALL = /(?<![\w@])@(here|channel)(?!\w)/i;

export function mentionsAll(body: string): boolean {
  return body.includes("@") && MENTION_ALL.test(body);
}

/**
 * The in-browser rule, the same as push and email apply on the server: muted never; "mentions"
 * only for a mention of me, @here or @channel; "all" for every direct message and every mention
 * (a group's other messages show as unread, without a notification).
 */
export function wantsNotification(kind: string, level: Level, mentionedMe: boolean, body: string): boolean {
  if (level === "mute") return false;
  const explicit = mentionedMe || mentionsAll(body);
  if (level === "mentions") return explicit;
  return kind === "direct" || explicit;
}

export const LEVEL_LABELS: { level: Level; label: string; hint: string }[] = [
  { level: "all", label: "All messages", hint: "Direct messages and every mention" },
  { level: "mentions", label: "Mentions only", hint: "Only @you, @here and @channel" },
  { level: "mute", label: "Mute", hint: "No notifications at all" },
];
