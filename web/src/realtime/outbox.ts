/**
 * The ordered outbox of sends that have no ack yet (DESIGN §2, promise 7).
 *
 * Every send goes through it, online or not: an item stays until its ack (or its own
 * `message.created` event) arrives, and is sent again, in order and with the same
 * `client_msg_id`, after every reconnect. The server answers a repeated id with the original
 * ack, so a send that was committed but whose ack was lost is never stored twice.
 *
 * Items are persisted (localStorage by default) so that what was typed offline survives a
 * reload. Each change re-reads the stored list first, so several tabs of the same account
 * share one outbox without overwriting each other's items.
 */

export type OutboxStatus = "pending" | "failed";

export interface OutboxItem {
  client_msg_id: string;
  conversation_id: number;
  body: string;
  reply_to: number | null;
  /** A reply shown in its thread only (`reply_to` is the root), not in the conversation. */
  thread_only?: boolean;
  attachment_ids?: string[];
  /** When it was written (ISO 8601), for display and ordering. */
  created_at: string;
  status: OutboxStatus;
  attempts: number;
  error?: { code: string; message: string };
}

export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export class MemoryStorage implements KeyValueStorage {
  private map = new Map<string, string>();
  getItem(key: string): string | null {
    return this.map.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.map.set(key, value);
  }
  removeItem(key: string): void {
    this.map.delete(key);
  }
}

function isItem(v: unknown): v is OutboxItem {
  if (typeof v !== "object" || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    typeof o.client_msg_id === "string" &&
    typeof o.conversation_id === "number" &&
    typeof o.body === "string" &&
    (o.status === "pending" || o.status === "failed")
  );
}

export class Outbox {
  private items: OutboxItem[];
  private listeners = new Set<() => void>();

  constructor(
    private readonly storage: KeyValueStorage | null,
    private readonly key: string,
  ) {
    this.items = this.load();
  }

  /** Items in the order they were written. The array is replaced on every change. */
  list(): readonly OutboxItem[] {
    return this.items;
  }

  pending(): OutboxItem[] {
    return this.items.filter((i) => i.status === "pending");
  }

  get(clientMsgId: string): OutboxItem | undefined {
    return this.items.find((i) => i.client_msg_id === clientMsgId);
  }

  add(item: OutboxItem): void {
    this.mutate((items) => (items.some((i) => i.client_msg_id === item.client_msg_id) ? items : [...items, item]));
  }

  /** Drop an item (acked, or discarded by the user). Returns it if it was there. */
  remove(clientMsgId: string): OutboxItem | undefined {
    let removed: OutboxItem | undefined;
    this.mutate((items) => {
      removed = items.find((i) => i.client_msg_id === clientMsgId);
      return removed ? items.filter((i) => i !== removed) : items;
    });
    return removed;
  }

  update(clientMsgId: string, patch: Partial<Omit<OutboxItem, "client_msg_id">>): void {
    this.mutate((items) => items.map((i) => (i.client_msg_id === clientMsgId ? { ...i, ...patch } : i)));
  }

  /** Another tab changed the stored outbox. */
  reload(): void {
    const next = this.load();
    if (JSON.stringify(next) !== JSON.stringify(this.items)) {
      this.items = next;
      this.notify();
    }
  }

  clear(): void {
    this.items = [];
    this.storage?.removeItem(this.key);
    this.notify();
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private mutate(fn: (items: OutboxItem[]) => OutboxItem[]): void {
    const current = this.storage ? this.load() : this.items;
    const next = fn(current);
    if (next === current && current === this.items) return;
    this.items = next;
    this.save();
    this.notify();
  }

  private load(): OutboxItem[] {
    if (!this.storage) return this.items ?? [];
    try {
      const raw = this.storage.getItem(this.key);
      const parsed: unknown = raw ? JSON.parse(raw) : [];
      return Array.isArray(parsed) ? parsed.filter(isItem) : [];
    } catch {
      return [];
    }
  }

  private save(): void {
    if (!this.storage) return;
    try {
      if (this.items.length === 0) this.storage.removeItem(this.key);
      else this.storage.setItem(this.key, JSON.stringify(this.items));
    } catch {
      // Storage full or unavailable: the outbox still works for this tab's lifetime.
    }
  }

  private notify(): void {
    for (const fn of [...this.listeners]) fn();
  }
}
