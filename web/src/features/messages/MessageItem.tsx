/** One message: header (sender, time), reply context, body, reactions and its actions. */
import { memo, useEffect, useId, useRef, useState, type KeyboardEvent } from "react";
import type { Message } from "../../api/client";
import { errorMessage } from "../../lib/errors";
import { formatFull, formatTime } from "../../lib/format";
import { EditIcon, MoreIcon, ReplyIcon, SmileIcon, TrashIcon } from "../../lib/icons";
import { canonicalEmoji, emojiName } from "../../lib/emoji";
import { EmojiGlyph } from "../../lib/EmojiGlyph";
import { EmojiPicker, useEmojiIndex } from "../../lib/EmojiPicker";
import { Avatar, BotBadge, Button, cx } from "../../lib/ui";
import { MessageAttachments } from "../media/MessageAttachments";
import { LinkPreviews } from "../previews/LinkPreviews";
import { TipLines, TipTotals } from "../tips/TipLines";
import { applyFormat, type Format } from "./Composer";
import { MessageBody } from "./MessageBody";
import { EditedMarker } from "../timeline/EditHistory";
import { ThreadSummary } from "../threads/ThreadSummary";
import { PersonName } from "../people/ProfileCard";

const FORMAT_KEYS: Record<string, Format> = { b: "bold", i: "italic", e: "code" };

export const QUICK_REACTIONS = ["👍", "❤️", "😂", "🎉", "😮", "😢"];

export interface MessageItemProps {
  message: Message;
  senderName: string;
  /** The sender is a bot account: a "BOT" badge beside the name. */
  senderIsBot?: boolean;
  /** Same sender as the previous message, shortly after: no header. */
  compact: boolean;
  mine: boolean;
  myId: number;
  myHandle: string | undefined;
  canDelete: boolean;
  readOnly: boolean;
  reply: { name: string; body: string; deleted: boolean } | null | undefined;
  highlighted: boolean;
  onReply(m: Message): void;
  onJumpTo(id: number): void;
  onEdit(id: number, body: string): Promise<unknown>;
  onDelete(id: number): void;
  onReact(id: number, emoji: string, add: boolean): void;
  /** Report someone else's message to the conversation's admins and the server admins. */
  onReport?(id: number, reason: string): Promise<unknown>;
  /** Block the sender: no DMs or mentions either way, their messages hidden from me. */
  onBlock?(userId: number): void;
  /** Tip the author of someone else's message (opens the tip dialog). */
  onTip?(m: Message): void;
  /** Names for the tip lines under the message. */
  nameOf?(userId: number | null): string;
  /** The message is pinned in its conversation (a marker). */
  pinned?: boolean;
  /** Pin or unpin it (given when I may). */
  onPin?(m: Message, pin: boolean): void;
  /** Open the thread under this message ("Reply in thread", and its reply summary). */
  onOpenThread?(m: Message): void;
}

function MessageItemInner(p: MessageItemProps) {
  const m = p.message;
  const [editing, setEditing] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [picker, setPicker] = useState(false);
  // Phones have no hover: the actions open from a "more" button instead.
  const [actions, setActions] = useState(false);
  const [reporting, setReporting] = useState(false);
  const [confirmBlock, setConfirmBlock] = useState(false);
  const other = !p.mine && m.sender_id !== null;

  return (
    <li
      id={`m-${m.id}`}
      data-seq={m.seq}
      data-testid="message"
      aria-label={`${p.senderName}, ${formatTime(m.created_at)}`}
      className={cx(
        "group relative flex gap-3 px-3 py-0.5 hover:bg-zinc-50 focus-within:bg-zinc-50 sm:px-4 dark:hover:bg-zinc-800/50 dark:focus-within:bg-zinc-800/50",
        !p.compact && "mt-2 pt-1.5",
        p.highlighted && "bg-amber-50 dark:bg-amber-500/10",
      )}
    >
      <div className="w-9 shrink-0">{!p.compact && <Avatar name={p.senderName} id={m.sender_id ?? 0} />}</div>
      <div className="min-w-0 flex-1">
        {!p.compact && (
          <div className="flex items-baseline gap-2">
            <PersonName userId={m.sender_id} name={p.senderName} className="text-sm font-semibold text-zinc-900 dark:text-zinc-50" />
            {p.senderIsBot && <BotBadge className="self-center" />}
            <time dateTime={m.created_at} title={formatFull(m.created_at)} className="shrink-0 text-xs text-zinc-500 dark:text-zinc-400">
              {formatTime(m.created_at)}
            </time>
          </div>
        )}
        {p.reply !== undefined && m.reply_to_id !== null && (
          <button
            type="button"
            onClick={() => m.reply_to_id !== null && p.onJumpTo(m.reply_to_id)}
            className="mb-0.5 flex max-w-full items-center gap-1 truncate border-l-2 border-zinc-300 pl-2 text-left text-xs text-zinc-500 hover:text-zinc-800 dark:border-zinc-600 dark:text-zinc-400 dark:hover:text-zinc-200"
          >
            <span aria-hidden="true">↪</span>
            {p.reply ? (
              <>
                <span className="font-medium">{p.reply.name}</span>
                <span className="truncate">{p.reply.deleted ? "(deleted)" : p.reply.body}</span>
              </>
            ) : (
              <span>Reply to an earlier message</span>
            )}
          </button>
        )}
        {p.pinned && !m.deleted && (
          <p data-testid="pin-marker" className="text-xs font-medium text-amber-700 dark:text-amber-400">
            <span aria-hidden="true">📌</span> Pinned
          </p>
        )}
        {editing ? (
          <EditBox
            initial={m.body}
            onCancel={() => setEditing(false)}
            onSave={async (body) => {
              await p.onEdit(m.id, body);
              setEditing(false);
            }}
          />
        ) : m.hidden ? (
          <p className="text-sm italic text-zinc-400 dark:text-zinc-500" data-testid="message-hidden">
            Message from someone you blocked.
          </p>
        ) : m.deleted ? (
          <p className="text-sm italic text-zinc-400 dark:text-zinc-500">This message was deleted.</p>
        ) : (
          <div className="text-[0.9375rem] leading-relaxed text-zinc-800 dark:text-zinc-100" data-testid="message-body">
            <MessageBody body={m.body} myHandle={p.myHandle} />
            <EditedMarker message={m} />
          </div>
        )}
        {!m.deleted && m.attachments.length > 0 && <MessageAttachments attachments={m.attachments} />}
        {!m.deleted && !m.hidden && m.previews && m.previews.length > 0 && <LinkPreviews previews={m.previews} removable={p.mine && !p.readOnly} />}
        {m.reactions.length > 0 && (
          <div className="mt-1 flex flex-wrap gap-1">
            {m.reactions.map((r) => (
              <ReactionChip
                key={r.emoji}
                emoji={r.emoji}
                count={r.count}
                userIds={r.user_ids}
                myId={p.myId}
                nameOf={p.nameOf}
                disabled={p.readOnly}
                onToggle={(add) => p.onReact(m.id, r.emoji, add)}
              />
            ))}
          </div>
        )}
        {!m.deleted && <TipTotals totals={m.tips} />}
        {p.nameOf && <TipLines conversationId={m.conversation_id} messageId={m.id} nameOf={p.nameOf} myId={p.myId} />}
        {p.onOpenThread && <ThreadSummary message={m} nameOf={p.nameOf} onOpen={p.onOpenThread} />}
        {reporting && p.onReport && (
          <ReportBox
            onCancel={() => setReporting(false)}
            onSend={async (reason) => {
              await p.onReport?.(m.id, reason);
            }}
          />
        )}
        {confirmBlock && p.onBlock && m.sender_id !== null && (
          <div role="alertdialog" aria-label={`Block ${p.senderName}?`} className="mt-1 flex flex-wrap items-center gap-2 text-sm">
            <span className="text-zinc-700 dark:text-zinc-200">
              Block {p.senderName}? No direct messages or mentions between you, and their messages are hidden from you.
            </span>
            <Button
              variant="danger"
              autoFocus
              onClick={() => {
                setConfirmBlock(false);
                if (m.sender_id !== null) p.onBlock?.(m.sender_id);
              }}
            >
              Block
            </Button>
            <Button variant="secondary" onClick={() => setConfirmBlock(false)}>
              Cancel
            </Button>
          </div>
        )}
        {confirmDelete && (
          <div role="alertdialog" aria-label="Delete this message?" className="mt-1 flex flex-wrap items-center gap-2 text-sm">
            <span className="text-zinc-700 dark:text-zinc-200">Delete this message for everyone?</span>
            <Button
              variant="danger"
              autoFocus
              onClick={() => {
                setConfirmDelete(false);
                p.onDelete(m.id);
              }}
            >
              Delete
            </Button>
            <Button variant="secondary" onClick={() => setConfirmDelete(false)}>
              Cancel
            </Button>
          </div>
        )}
      </div>
      {!m.deleted && !m.hidden && !editing && !p.readOnly && (
        <>
          <button
            type="button"
            aria-label="More actions"
            aria-expanded={actions}
            onClick={() => setActions((v) => !v)}
            className="flex size-8 shrink-0 items-center justify-center self-start rounded text-zinc-500 hover:bg-zinc-100 sm:hidden dark:hover:bg-zinc-800"
          >
            <MoreIcon />
          </button>
          <div
            className={cx(
              "absolute -top-3 right-3 z-10 gap-0.5 rounded-md border border-zinc-200 bg-white p-0.5 shadow-sm dark:border-zinc-700 dark:bg-zinc-900",
              "sm:flex sm:opacity-0 sm:group-hover:opacity-100 sm:group-focus-within:opacity-100",
              actions || picker ? "flex max-sm:top-8" : "max-sm:hidden",
            )}
            role="toolbar"
            aria-label="Message actions"
          >
            <ActionButton label="Reply" onClick={() => { setActions(false); p.onReply(m); }}>
              <ReplyIcon />
            </ActionButton>
            {p.onOpenThread && (
              // Named without "reply": the quote-reply button keeps "Reply" to itself.
              <ActionButton label="Answer in thread" onClick={() => { setActions(false); p.onOpenThread?.(m); }}>
                <span aria-hidden="true">🧵</span>
              </ActionButton>
            )}
            <ActionButton label="Add reaction" onClick={() => setPicker((v) => !v)} expanded={picker}>
              <SmileIcon />
            </ActionButton>
            {other && p.onTip && (
              <ActionButton label={`Tip ${p.senderName}`} onClick={() => { setActions(false); p.onTip?.(m); }}>
                <span aria-hidden="true">◈</span>
              </ActionButton>
            )}
            {p.onPin && (
              <ActionButton label={p.pinned ? "Unpin" : "Pin"} onClick={() => { setActions(false); p.onPin?.(m, !p.pinned); }}>
                <span aria-hidden="true">📌</span>
              </ActionButton>
            )}
            {p.mine && (
              <ActionButton label="Edit" onClick={() => { setActions(false); setEditing(true); }}>
                <EditIcon />
              </ActionButton>
            )}
            {p.canDelete && (
              <ActionButton label="Delete" onClick={() => { setActions(false); setConfirmDelete(true); }}>
                <TrashIcon />
              </ActionButton>
            )}
            {other && p.onReport && (
              <ActionButton label="Report" onClick={() => { setActions(false); setReporting(true); }}>
                <span aria-hidden="true">⚑</span>
              </ActionButton>
            )}
            {other && p.onBlock && (
              <ActionButton label={`Block ${p.senderName}`} onClick={() => { setActions(false); setConfirmBlock(true); }}>
                <span aria-hidden="true">⊘</span>
              </ActionButton>
            )}
            {picker && (
              <ReactionPicker
                onPick={(picked) => {
                  setPicker(false);
                  setActions(false);
                  const emoji = canonicalEmoji(picked, [...m.reactions.map((r) => r.emoji), ...QUICK_REACTIONS]);
                  const had = m.reactions.find((r) => r.emoji === emoji)?.user_ids.includes(p.myId) ?? false;
                  p.onReact(m.id, emoji, !had);
                }}
                onClose={() => setPicker(false)}
              />
            )}
          </div>
        </>
      )}
    </li>
  );
}

export const MessageItem = memo(MessageItemInner);

function ActionButton({
  label,
  onClick,
  children,
  expanded,
}: {
  label: string;
  onClick(): void;
  children: React.ReactNode;
  expanded?: boolean;
}) {
  return (
    <button
      type="button"
      title={label}
      aria-label={label}
      aria-expanded={expanded}
      onClick={onClick}
      className="flex size-8 items-center justify-center rounded text-sm text-zinc-600 hover:bg-zinc-100 dark:text-zinc-300 dark:hover:bg-zinc-800"
    >
      {children}
    </button>
  );
}

function ReactionPicker({ onPick, onClose }: { onPick(e: string): void; onClose(): void }) {
  const first = useRef<HTMLButtonElement>(null);
  const [full, setFull] = useState(false);
  useEffect(() => {
    if (!full) first.current?.focus();
  }, [full]);
  if (full) return <EmojiPicker onPick={onPick} onClose={onClose} className="sm:absolute sm:right-0 sm:top-9" />;
  return (
    <div
      role="menu"
      aria-label="Reactions"
      onKeyDown={(e) => {
        if (e.key === "Escape") {
          e.stopPropagation();
          onClose();
        }
      }}
      className="absolute right-0 top-9 z-20 flex gap-0.5 rounded-md border border-zinc-200 bg-white p-1 shadow-md dark:border-zinc-700 dark:bg-zinc-900"
    >
      {QUICK_REACTIONS.map((e, i) => (
        <button
          key={e}
          ref={i === 0 ? first : undefined}
          type="button"
          role="menuitem"
          aria-label={`React with ${e}`}
          onClick={() => onPick(e)}
          className="flex size-8 items-center justify-center rounded text-lg hover:bg-zinc-100 dark:hover:bg-zinc-800"
        >
          {e}
        </button>
      ))}
      <button
        type="button"
        role="menuitem"
        aria-label="More emoji"
        title="More emoji"
        onClick={() => setFull(true)}
        className="flex size-8 items-center justify-center rounded text-lg text-zinc-600 hover:bg-zinc-100 dark:text-zinc-300 dark:hover:bg-zinc-800"
      >
        +
      </button>
    </div>
  );
}

/** "Ana, Bo and you" (at most 10 names, then "and N others"). */
export function reactorNames(userIds: number[], myId: number, nameOf: ((id: number | null) => string) | undefined): string {
  const others = userIds.filter((u) => u !== myId).map((u) => (nameOf ? nameOf(u) : "Someone"));
  const names = userIds.includes(myId) ? [...others, "you"] : others;
  const shown = names.slice(0, 10);
  const rest = names.length - shown.length;
  if (rest > 0) return `${shown.join(", ")} and ${rest} other${rest === 1 ? "" : "s"}`;
  if (shown.length <= 1) return shown.join("");
  return `${shown.slice(0, -1).join(", ")} and ${shown[shown.length - 1]}`;
}

/**
 * One reaction: a toggle, and who reacted on hover, keyboard focus or a long press (touch has
 * no hover; the press that showed the names does not toggle the reaction).
 */
function ReactionChip(p: {
  emoji: string;
  count: number;
  userIds: number[];
  myId: number;
  nameOf?: ((id: number | null) => string) | undefined;
  disabled: boolean;
  onToggle(add: boolean): void;
}) {
  const [shown, setShown] = useState(false);
  const press = useRef<number | null>(null);
  const longPressed = useRef(false);
  // The shortcode in the names line needs the emoji data: loaded when a tooltip is first shown.
  const idx = useEmojiIndex(shown);
  const tipId = useId();
  const mine = p.userIds.includes(p.myId);
  const who = reactorNames(p.userIds, p.myId, p.nameOf);
  const tip = `${who.charAt(0).toUpperCase()}${who.slice(1)} reacted with ${emojiName(idx, p.emoji)}`;
  useEffect(() => () => {
    if (press.current !== null) window.clearTimeout(press.current);
  }, []);
  return (
    <span className="relative" onMouseEnter={() => setShown(true)} onMouseLeave={() => setShown(false)}>
      <button
        type="button"
        aria-pressed={mine}
        aria-label={`${p.emoji} ${p.count}${mine ? ", including you" : ""}`}
        aria-describedby={shown ? tipId : undefined}
        data-testid="reaction"
        disabled={p.disabled}
        onFocus={() => setShown(true)}
        onBlur={() => setShown(false)}
        onTouchStart={() => {
          longPressed.current = false;
          press.current = window.setTimeout(() => {
            longPressed.current = true;
            setShown(true);
          }, 450);
        }}
        onTouchEnd={() => {
          if (press.current !== null) window.clearTimeout(press.current);
          press.current = null;
        }}
        onContextMenu={(e) => {
          // A long press opens the browser's menu on some phones: the names are what was asked for.
          if (longPressed.current) e.preventDefault();
        }}
        onClick={() => {
          if (longPressed.current) {
            longPressed.current = false;
            return;
          }
          p.onToggle(!mine);
        }}
        className={cx(
          "rounded-full border px-2 py-0.5 text-xs",
          mine
            ? "border-indigo-400 bg-indigo-50 text-indigo-800 dark:border-indigo-400 dark:bg-indigo-500/20 dark:text-indigo-100"
            : "border-zinc-200 bg-white text-zinc-700 dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-200",
        )}
      >
        <EmojiGlyph emoji={p.emoji} /> {p.count}
      </button>
      {shown && (
        <span
          id={tipId}
          role="tooltip"
          data-testid="reaction-tooltip"
          className="absolute bottom-full left-0 z-30 mb-1 w-max max-w-64 rounded-md bg-zinc-900 px-2 py-1 text-xs text-white shadow-lg dark:bg-zinc-100 dark:text-zinc-900"
        >
          {tip}
        </span>
      )}
    </span>
  );
}

function EditBox({ initial, onSave, onCancel }: { initial: string; onSave(body: string): Promise<void>; onCancel(): void }) {
  const [body, setBody] = useState(initial);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const save = async () => {
    if (!body.trim() || busy) return;
    if (body === initial) return onCancel();
    setBusy(true);
    try {
      await onSave(body);
    } catch (err) {
      setError(errorMessage(err));
      setBusy(false);
    }
  };
  const onKey = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    const f = (e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey ? FORMAT_KEYS[e.key.toLowerCase()] : undefined;
    if (f) {
      // The composer's shortcuts work while editing too.
      e.preventDefault();
      const el = e.currentTarget;
      const r = applyFormat(body, el.selectionStart, el.selectionEnd, f);
      setBody(r.text);
      requestAnimationFrame(() => el.setSelectionRange(r.start, r.end));
      return;
    }
    if (e.key === "Escape") onCancel();
    else if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      void save();
    }
  };
  return (
    <div className="flex flex-col gap-1">
      <textarea
        aria-label="Edit message"
        autoFocus
        value={body}
        onChange={(e) => setBody(e.target.value)}
        onKeyDown={onKey}
        rows={Math.min(6, body.split("\n").length + 1)}
        className="w-full rounded-md border border-zinc-300 bg-white p-2 text-sm dark:border-zinc-600 dark:bg-zinc-900"
      />
      {error && <p role="alert" className="text-xs text-red-600">{error}</p>}
      <div className="flex gap-2 text-xs text-zinc-500">
        <Button onClick={() => void save()} disabled={busy}>
          Save
        </Button>
        <Button variant="secondary" onClick={onCancel}>
          Cancel
        </Button>
        <span className="self-center">Enter to save · Esc to cancel</span>
      </div>
    </div>
  );
}

function ReportBox({ onSend, onCancel }: { onSend(reason: string): Promise<void>; onCancel(): void }) {
  const [reason, setReason] = useState("");
  const [state, setState] = useState<"editing" | "sending" | "sent">("editing");
  const [error, setError] = useState<string | null>(null);
  if (state === "sent") {
    return (
      <p role="status" className="mt-1 text-sm text-zinc-600 dark:text-zinc-300">
        Reported to the conversation's admins. Thank you.{" "}
        <button type="button" className="underline" onClick={onCancel}>
          Close
        </button>
      </p>
    );
  }
  return (
    <form
      aria-label="Report this message"
      className="mt-1 flex flex-col gap-2"
      onSubmit={(e) => {
        e.preventDefault();
        if (!reason.trim() || state === "sending") return;
        setState("sending");
        setError(null);
        onSend(reason.trim()).then(
          () => setState("sent"),
          (err: unknown) => {
            setState("editing");
            setError(errorMessage(err));
          },
        );
      }}
    >
      <label className="text-sm text-zinc-700 dark:text-zinc-200">
        Why are you reporting this message?
        <textarea
          value={reason}
          maxLength={1000}
          autoFocus
          onChange={(e) => setReason(e.target.value)}
          className="mt-1 block w-full rounded-md border border-zinc-300 bg-white p-2 text-sm dark:border-zinc-600 dark:bg-zinc-900"
        />
      </label>
      {error && <p className="text-sm text-rose-600">{error}</p>}
      <div className="flex gap-2">
        <Button type="submit" variant="danger" disabled={!reason.trim() || state === "sending"}>
          Report
        </Button>
        <Button type="button" variant="secondary" onClick={onCancel}>
          Cancel
        </Button>
      </div>
    </form>
  );
}
