/**
 * The scrolling history of one conversation: older pages load when the top comes into view,
 * new messages (and content that grows, such as thumbnails loading) keep the view at the bottom
 * if it was there, and the reading position stays put when older messages are added above it.
 */
import { Fragment, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type ReactNode } from "react";
import type { Message } from "../../api/client";
import { sentenceFor } from "../../lib/errors";
import { dayKey, dayLabel, formatTime } from "../../lib/format";
import { Avatar, Button, cx, Spinner } from "../../lib/ui";
import type { OutboxItem } from "../../realtime";
import { MessageBody } from "./MessageBody";
import { MessageItem } from "./MessageItem";
import { SystemLine } from "../timeline/SystemLine";
import { linesBetween, type SystemLine as Line } from "../timeline/systemLines";

const GROUP_MS = 5 * 60_000;

export interface MessageListProps {
  messages: Message[];
  /** System lines (joined, renamed, ...) shown between the messages at their seq. */
  lines?: readonly Line[];
  /** Shown under the last message (read receipts). */
  footer?: ReactNode;
  /** Pinned messages of the conversation (a marker on each). */
  pinnedIds?: ReadonlySet<number>;
  /** Pin or unpin a message (given when I may). */
  onPin?(m: Message, pin: boolean): void;
  pending: readonly OutboxItem[];
  hasOlder: boolean;
  loadingOlder: boolean;
  onLoadOlder(): void;
  myId: number;
  myHandle: string | undefined;
  nameOf(userId: number | null): string;
  /** Whether an author is a bot account (a badge beside the name). */
  isBot?(userId: number | null): boolean;
  canModerate: boolean;
  readOnly: boolean;
  /** Messages after this seq were unread when the conversation was opened. */
  unreadAfter: number | null;
  online: boolean;
  onReply(m: Message): void;
  onEdit(id: number, body: string): Promise<unknown>;
  onDelete(id: number): void;
  onReact(id: number, emoji: string, add: boolean): void;
  onRetry(clientMsgId: string): void;
  onDiscard(clientMsgId: string): void;
  /** A message to scroll to once loaded (opened from a search result); older pages load until it is. */
  target?: number | null;
  onReport?(id: number, reason: string): Promise<unknown>;
  onBlock?(userId: number): void;
  onTip?(m: Message): void;
  /** Open a message's thread (features/threads). */
  onOpenThread?(m: Message): void;
}

export function MessageList(p: MessageListProps) {
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  // Where the list last put the scroll position itself (to the bottom). Scroll events arrive a
  // frame late: by then a thumbnail may have grown the list, so "far from the bottom" in that
  // event would mistake the list's own scroll for the reader scrolling away.
  const pinnedTop = useRef<number | null>(null);
  const pin = useCallback((el: HTMLElement) => {
    el.scrollTop = el.scrollHeight;
    pinnedTop.current = el.scrollTop;
    atBottom.current = true;
  }, []);
  const anchor = useRef<{ height: number; top: number } | null>(null);
  const initialScrollDone = useRef(false);
  const [highlight, setHighlight] = useState<number | null>(null);

  const byId = useMemo(() => new Map(p.messages.map((m) => [m.id, m])), [p.messages]);
  // Pending copies disappear as soon as the server's copy is in the timeline.
  const confirmedIds = useMemo(() => new Set(p.messages.map((m) => m.client_msg_id)), [p.messages]);
  const pending = p.pending.filter((i) => !confirmedIds.has(i.client_msg_id));

  const loadOlder = useCallback(() => {
    const el = scroller.current;
    if (!el || !p.hasOlder || p.loadingOlder) return;
    anchor.current = { height: el.scrollHeight, top: el.scrollTop };
    p.onLoadOlder();
  }, [p]);

  const first = p.messages[0]?.id;
  const last = p.messages[p.messages.length - 1]?.id;

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    if (anchor.current) {
      // Older messages were added above: keep what the reader was looking at in place.
      el.scrollTop = anchor.current.top + (el.scrollHeight - anchor.current.height);
      anchor.current = null;
      return;
    }
    if (!initialScrollDone.current && p.messages.length > 0) {
      initialScrollDone.current = true;
      const divider = el.querySelector<HTMLElement>("[data-unread-divider]");
      if (divider) {
        el.scrollTop = Math.max(0, divider.offsetTop - 80);
        atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
      } else {
        pin(el);
      }
      return;
    }
    if (atBottom.current) pin(el);
  }, [first, last, pending.length, p.messages.length, pin]);

  // Content that grows after it was laid out (a thumbnail arriving, a failed send showing its
  // Retry/Discard row, the composer growing) keeps a reader who was at the bottom at the bottom,
  // until they scroll away. (Above the bottom, the browser's scroll anchoring keeps the place.)
  const content = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = scroller.current;
    const inner = content.current;
    if (!el || !inner || typeof ResizeObserver === "undefined") return;
    const observer = new ResizeObserver(() => {
      if (atBottom.current && !anchor.current) pin(el);
    });
    observer.observe(inner);
    observer.observe(el);
    return () => observer.disconnect();
  }, [pin]);

  // A first page shorter than the screen: fetch more until it scrolls (or nothing is left).
  useEffect(() => {
    const el = scroller.current;
    if (el && p.hasOlder && !p.loadingOlder && el.scrollHeight <= el.clientHeight) loadOlder();
  }, [p.hasOlder, p.loadingOlder, p.messages.length, loadOlder]);

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    const own = pinnedTop.current !== null && Math.abs(el.scrollTop - pinnedTop.current) < 1;
    if (!own) {
      pinnedTop.current = null;
      atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    }
    if (el.scrollTop < 400) loadOlder();
  };

  const jumpTo = useCallback((id: number) => {
    const node = document.getElementById(`m-${id}`);
    if (node) {
      node.scrollIntoView({ block: "center" });
      setHighlight(id);
      setTimeout(() => setHighlight((h) => (h === id ? null : h)), 1500);
    }
  }, []);

  // Opened at a message (a search result): load older pages until it is here, then show it.
  const reached = useRef<number | null>(null);
  const target = p.target ?? null;
  useEffect(() => {
    if (target === null || reached.current === target) return;
    if (byId.has(target)) {
      reached.current = target;
      initialScrollDone.current = true;
      jumpTo(target);
    } else if (p.hasOlder && !p.loadingOlder) {
      p.onLoadOlder();
    }
  }, [target, byId, p, jumpTo]);

  let prev: Message | null = null;
  return (
    <div
      ref={scroller}
      onScroll={onScroll}
      className="min-h-0 flex-1 overflow-y-auto overscroll-contain pb-2"
      tabIndex={-1}
      id="messages"
      aria-label="Messages"
    >
      {/* Few messages sit at the bottom, next to the composer, as in any chat. */}
      <div ref={content} className="flex min-h-full flex-col justify-end">
      <div className="flex justify-center py-3">
        {p.hasOlder ? (
          p.loadingOlder ? (
            <Spinner label="Loading older messages" />
          ) : (
            <Button variant="ghost" onClick={loadOlder}>
              Load older messages
            </Button>
          )
        ) : (
          p.messages.length > 0 && <p className="text-xs text-zinc-500 dark:text-zinc-400">This is the beginning of the conversation.</p>
        )}
      </div>
      {p.messages.length === 0 && pending.length === 0 && !p.hasOlder && (
        <p className="px-4 py-10 text-center text-sm text-zinc-500 dark:text-zinc-400">No messages yet. Say hello!</p>
      )}
      <ol className="flex flex-col">
        {p.messages.map((m) => {
          const newDay = !prev || dayKey(prev.created_at) !== dayKey(m.created_at);
          // Lines above the first loaded message belong to older pages, unless there are none.
          const linesBefore = prev || !p.hasOlder ? linesBetween(p.lines, prev ? prev.seq : null, m.seq) : [];
          // Only where the boundary itself is loaded: above the first loaded message it would
          // jump the view to the top (and pull in older pages) for nothing.
          const unreadStart =
            p.unreadAfter !== null &&
            m.seq > p.unreadAfter &&
            (prev ? prev.seq <= p.unreadAfter : !p.hasOlder) &&
            m.sender_id !== p.myId;
          const compact =
            !newDay &&
            !unreadStart &&
            linesBefore.length === 0 &&
            prev !== null &&
            prev.sender_id === m.sender_id &&
            !prev.deleted &&
            Date.parse(m.created_at) - Date.parse(prev.created_at) < GROUP_MS &&
            m.reply_to_id === null;
          const target = m.reply_to_id !== null ? byId.get(m.reply_to_id) : undefined;
          prev = m;
          return (
            <Fragment key={m.id}>
              {newDay && <DaySeparator iso={m.created_at} />}
              {linesBefore.map((l) => (
                <SystemLine key={`l${l.seq}`} line={l} nameOf={p.nameOf} />
              ))}
              {unreadStart && (
                <li data-unread-divider className="my-2 flex items-center gap-2 px-4 text-xs font-semibold text-rose-600 dark:text-rose-400">
                  <span className="h-px flex-1 bg-rose-300 dark:bg-rose-700" />
                  New messages
                  <span className="h-px flex-1 bg-rose-300 dark:bg-rose-700" />
                </li>
              )}
              <MessageItem
                message={m}
                senderName={p.nameOf(m.sender_id)}
                senderIsBot={p.isBot?.(m.sender_id) ?? false}
                compact={compact}
                mine={m.sender_id === p.myId}
                myId={p.myId}
                myHandle={p.myHandle}
                canDelete={m.sender_id === p.myId || p.canModerate}
                readOnly={p.readOnly}
                reply={m.reply_to_id === null ? undefined : target ? { name: p.nameOf(target.sender_id), body: target.body, deleted: target.deleted } : null}
                highlighted={highlight === m.id}
                onReply={p.onReply}
                onJumpTo={jumpTo}
                onEdit={p.onEdit}
                onDelete={p.onDelete}
                onReact={p.onReact}
                onReport={p.onReport}
                onBlock={p.onBlock}
                onTip={p.onTip}
                nameOf={p.nameOf}
                onOpenThread={p.onOpenThread}
                pinned={p.pinnedIds?.has(m.id) ?? false}
                onPin={p.onPin}
              />
            </Fragment>
          );
        })}
        {linesBetween(p.lines, p.messages.length > 0 ? p.messages[p.messages.length - 1]!.seq : null, null).map((l) =>
          p.messages.length > 0 || !p.hasOlder ? <SystemLine key={`l${l.seq}`} line={l} nameOf={p.nameOf} /> : null,
        )}
        {pending.map((item) => (
          <PendingItem
            key={item.client_msg_id}
            item={item}
            name={p.nameOf(p.myId)}
            myId={p.myId}
            online={p.online}
            reply={item.reply_to !== null ? byId.get(item.reply_to) : undefined}
            onRetry={p.onRetry}
            onDiscard={p.onDiscard}
          />
        ))}
      </ol>
      {p.footer}
      </div>
    </div>
  );
}

function DaySeparator({ iso }: { iso: string }) {
  return (
    <li role="separator" aria-label={dayLabel(iso)} className="my-3 flex items-center gap-3 px-4">
      <span className="h-px flex-1 bg-zinc-200 dark:bg-zinc-700" />
      <span className="text-xs font-medium text-zinc-500 dark:text-zinc-400">{dayLabel(iso)}</span>
      <span className="h-px flex-1 bg-zinc-200 dark:bg-zinc-700" />
    </li>
  );
}

function PendingItem({
  item,
  name,
  myId,
  online,
  reply,
  onRetry,
  onDiscard,
}: {
  item: OutboxItem;
  name: string;
  myId: number;
  online: boolean;
  reply: Message | undefined;
  onRetry(id: string): void;
  onDiscard(id: string): void;
}) {
  const failed = item.status === "failed";
  return (
    <li
      data-testid="pending-message"
      data-status={failed ? "failed" : online ? "sending" : "queued"}
      className={cx("mt-2 flex gap-3 px-3 py-0.5 sm:px-4", !failed && "opacity-70")}
    >
      <div className="w-9 shrink-0">
        <Avatar name={name} id={myId} />
      </div>
      <div className="min-w-0 flex-1">
        <div className="flex items-baseline gap-2">
          <span className="text-sm font-semibold text-zinc-900 dark:text-zinc-50">{name}</span>
          <span className="text-xs text-zinc-500 dark:text-zinc-400">
            {failed ? "Not sent" : online ? "Sending…" : `Waiting for connection · ${formatTime(item.created_at)}`}
          </span>
        </div>
        {reply && <p className="truncate border-l-2 border-zinc-300 pl-2 text-xs text-zinc-500">↪ {reply.body}</p>}
        <div className="text-[0.9375rem] leading-relaxed text-zinc-800 dark:text-zinc-100">
          <MessageBody body={item.body} />
        </div>
        {failed && (
          <div role="alert" className="mt-1 flex flex-wrap items-center gap-2 text-xs text-red-700 dark:text-red-400">
            <span>{item.error ? sentenceFor(item.error.code, item.error.message) : "The server refused this message."}</span>
            <Button variant="secondary" className="min-h-7 px-2 py-0.5 text-xs" onClick={() => onRetry(item.client_msg_id)}>
              Retry
            </Button>
            <Button variant="ghost" className="min-h-7 px-2 py-0.5 text-xs" onClick={() => onDiscard(item.client_msg_id)}>
              Discard
            </Button>
          </div>
        )}
      </div>
    </li>
  );
}
