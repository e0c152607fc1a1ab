/**
 * System lines: membership and conversation changes shown in the timeline between messages, at
 * their seq. They come with history pages (`system_lines`) and as live or replayed events
 * (docs/subsystems/conversations.md, System lines).
 */
import type { ConversationEvent } from "../../realtime";

export interface SystemLine {
  seq: number;
  event: string;
  data: Record<string, unknown>;
}

export const SYSTEM_EVENTS: ReadonlySet<string> = new Set([
  "member.joined",
  "member.left",
  "member.removed",
  "conversation.updated",
  "conversation.archived",
  "conversation.unarchived",
  "message.pinned",
]);

/** The line an event makes, or null for events that are not system lines. */
export function lineFromEvent(ev: ConversationEvent): SystemLine | null {
  if (ev.seq === null || !SYSTEM_EVENTS.has(ev.event)) return null;
  return { seq: ev.seq, event: ev.event, data: ev.data as unknown as Record<string, unknown> };
}

/** Union of two line lists by seq (idempotent; a page and live events may overlap). */
export function mergeLines(held: readonly SystemLine[] | undefined, incoming: readonly SystemLine[] | undefined): SystemLine[] {
  if (!incoming || incoming.length === 0) return held ? [...held] : [];
  const map = new Map<number, SystemLine>();
  for (const l of held ?? []) map.set(l.seq, l);
  for (const l of incoming) map.set(l.seq, l);
  return [...map.values()].sort((a, b) => a.seq - b.seq);
}

/** Lines with lo < seq < hi (either bound may be null: open). `lines` is ascending. */
export function linesBetween(lines: readonly SystemLine[] | undefined, lo: number | null, hi: number | null): SystemLine[] {
  if (!lines || lines.length === 0) return [];
  return lines.filter((l) => (lo === null || l.seq > lo) && (hi === null || l.seq < hi));
}

interface Named {
  id?: unknown;
  display_name?: unknown;
}

function num(v: unknown): number | null {
  return typeof v === "number" ? v : null;
}

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

/** The sentence a line shows, e.g. "Ann added Bob" or "Ann renamed the conversation to “Launch”". */
export function describeLine(line: SystemLine, nameOf: (id: number | null) => string): string {
  const d = line.data;
  const user = (d.user ?? null) as Named | null;
  const userId = num(d.user_id) ?? num(user?.id);
  const userName = typeof user?.display_name === "string" ? user.display_name : nameOf(userId);
  const by = num(d.by);
  const byName = nameOf(by);
  switch (line.event) {
    case "member.joined":
      return by === null || by === userId ? `${userName} joined` : `${byName} added ${userName}`;
    case "member.left":
      return `${userName} left`;
    case "member.removed":
      return `${byName} removed ${userName}`;
    case "message.pinned":
      return `${byName} pinned a message`;
    case "conversation.archived":
      return `${byName} archived the conversation`;
    case "conversation.unarchived":
      return `${byName} unarchived the conversation`;
    case "conversation.updated": {
      const changed = Array.isArray(d.changed) ? (d.changed as unknown[]) : [];
      const parts: string[] = [];
      if (changed.includes("name")) parts.push(`renamed the conversation to “${str(d.name)}”`);
      if (changed.includes("topic")) parts.push(str(d.topic) ? `changed the topic to “${str(d.topic)}”` : "cleared the topic");
      if (changed.includes("kind")) parts.push(`made the channel ${str(d.kind) === "public" ? "public" : "private"}`);
      if (parts.length === 0) return `${byName} updated the conversation`;
      return `${byName} ${parts.join(" and ")}`;
    }
    default:
      return "";
  }
}
