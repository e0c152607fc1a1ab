/**
 * A thread beside its conversation (over it, full screen, below the `lg` width): the root, its
 * replies, and a composer whose replies stay in the thread unless "Also send to conversation"
 * is ticked. Replies are ordinary sends (outbox, ack, resume): only `reply_to` and `thread_only`
 * differ. docs/subsystems/web-client.md, Threads.
 */
import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link } from "wouter";
import type { Conversation, Member, Message } from "../../api/client";
import { useOutbox, useRealtime } from "../../app/realtime";
import { useServices } from "../../app/services";
import { errorMessage } from "../../lib/errors";
import { formatTime } from "../../lib/format";
import { Avatar, Button, ErrorText, Spinner, cx } from "../../lib/ui";
import { useMe } from "../accounts/queries";
import { conversationTitle } from "../conversations/queries";
import { Composer, type ComposerHandle } from "../messages/Composer";
import { MessageBody } from "../messages/MessageBody";
import { MessageItem } from "../messages/MessageItem";
import { useDeleteMessage, useEditMessage, useReact } from "../messages/queries";
import { loadOlderReplies, markThreadRead, useFollow, useThread } from "./queries";

export interface ThreadPanelProps {
  conversation: Conversation;
  rootId: number;
  members: Member[];
  nameOf(userId: number | null): string;
  isBot?(userId: number | null): boolean;
}

export function ThreadPanel({ conversation: c, rootId, members, nameOf, isBot }: ThreadPanelProps) {
  const me = useMe();
  const myId = me?.id ?? 0;
  const { api } = useServices();
  const qc = useQueryClient();
  const { client } = useRealtime();
  const thread = useThread(rootId);
  const follow = useFollow(rootId);
  const outbox = useOutbox();
  const [alsoToConversation, setAlsoToConversation] = useState(false);
  const [olderError, setOlderError] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const composer = useRef<ComposerHandle>(null);
  const edit = useEditMessage();
  const del = useDeleteMessage();
  const react = useReact();
  const data = thread.data;
  const confirmed = useMemo(() => new Set(data?.messages.map((m) => m.client_msg_id) ?? []), [data]);
  const pending = outbox.filter((i) => i.reply_to === rootId && i.conversation_id === c.id && !confirmed.has(i.client_msg_id));
  const canModerate = c.role === "owner" || c.role === "admin";
  const readOnly = c.archived;

  // Everything in the open thread is read while the tab is visible.
  const lastSeq = data?.messages[data.messages.length - 1]?.seq ?? 0;
  useEffect(() => {
    if (!data || lastSeq <= data.lastReadSeq) return;
    const mark = () => {
      if (document.visibilityState === "visible") void markThreadRead(qc, api, rootId, lastSeq).catch(() => undefined);
    };
    mark();
    document.addEventListener("visibilitychange", mark);
    return () => document.removeEventListener("visibilitychange", mark);
  }, [data, lastSeq, qc, api, rootId]);

  // New replies keep the view at the bottom.
  const scroller = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = scroller.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [lastSeq, pending.length]);

  const onSend = useCallback(
    (body: string) => {
      client.send(c.id, body, rootId, [], !alsoToConversation);
    },
    [client, c.id, rootId, alsoToConversation],
  );
  const fail = (err: unknown) => setActionError(errorMessage(err));
  const onEdit = useCallback((mid: number, body: string) => edit.mutateAsync({ id: mid, body }), [edit]);
  const onDelete = useCallback((mid: number) => del.mutate(mid, { onError: fail }), [del]);
  const onReact = useCallback((mid: number, emoji: string, add: boolean) => react.mutate({ id: mid, emoji, add }, { onError: fail }), [react]);
  const onReply = useCallback(() => composer.current?.focus(), []);

  const item = (m: Message, root = false) => (
    <MessageItem
      key={m.id}
      message={m}
      senderName={nameOf(m.sender_id)}
      senderIsBot={isBot?.(m.sender_id) ?? false}
      compact={false}
      mine={m.sender_id === myId}
      myId={myId}
      myHandle={me?.handle}
      canDelete={m.sender_id === myId || canModerate}
      readOnly={readOnly}
      reply={undefined}
      highlighted={root}
      onReply={onReply}
      onJumpTo={() => undefined}
      onEdit={onEdit}
      onDelete={onDelete}
      onReact={onReact}
      nameOf={nameOf}
    />
  );

  return (
    <aside
      aria-label="Thread"
      data-testid="thread-panel"
      className="flex w-full flex-col border-l border-zinc-200 bg-white max-lg:absolute max-lg:inset-0 max-lg:z-30 lg:w-[26rem] lg:shrink-0 dark:border-zinc-700 dark:bg-zinc-900"
    >
      <div className="flex items-center gap-2 border-b border-zinc-200 px-3 py-2 dark:border-zinc-700">
        <div className="min-w-0 flex-1">
          <h2 className="text-base font-semibold">Thread</h2>
          <p className="truncate text-xs text-zinc-500 dark:text-zinc-400">{conversationTitle(c)}</p>
        </div>
        {data && (
          <Button
            variant="secondary"
            className="min-h-8 px-2 py-1 text-xs"
            aria-pressed={data.following}
            disabled={follow.isPending}
            onClick={() => follow.mutate(!data.following, { onError: fail })}
            data-testid="thread-follow"
          >
            {data.following ? "Following" : "Follow"}
          </Button>
        )}
        <Link
          href={`/c/${c.id}`}
          className="rounded-md px-2 py-1 text-lg leading-none hover:bg-zinc-100 dark:hover:bg-zinc-800"
          aria-label="Close thread"
          data-testid="thread-close"
        >
          ×
        </Link>
      </div>
      {thread.isPending ? (
        <div className="flex flex-1 items-center justify-center">
          <Spinner label="Loading thread" />
        </div>
      ) : thread.isError || !data ? (
        <div className="flex flex-1 flex-col items-center justify-center gap-2 p-4 text-center">
          <ErrorText>{errorMessage(thread.error)}</ErrorText>
          <Button variant="secondary" onClick={() => void thread.refetch()}>
            Try again
          </Button>
        </div>
      ) : (
        <>
          <div ref={scroller} className="min-h-0 flex-1 overflow-y-auto overscroll-contain pb-2" data-testid="thread-messages">
            <ol className="flex flex-col">{item(data.root, true)}</ol>
            <div className="my-2 flex items-center gap-2 px-4 text-xs text-zinc-500 dark:text-zinc-400">
              <span data-testid="thread-count">
                {data.root.thread?.reply_count ?? data.messages.length} {(data.root.thread?.reply_count ?? data.messages.length) === 1 ? "reply" : "replies"}
              </span>
              <span className="h-px flex-1 bg-zinc-200 dark:bg-zinc-700" />
            </div>
            {data.hasOlder && (
              <div className="flex justify-center py-1">
                <Button
                  variant="ghost"
                  onClick={() => {
                    setOlderError(null);
                    loadOlderReplies(qc, api, rootId).catch(() => setOlderError("Could not load earlier replies."));
                  }}
                >
                  Load earlier replies
                </Button>
              </div>
            )}
            {(olderError || actionError) && (
              <div className="px-4">
                <ErrorText>{olderError ?? actionError}</ErrorText>
              </div>
            )}
            <ol className="flex flex-col">
              {data.messages.map((m) => item(m))}
              {pending.map((p) => (
                <li
                  key={p.client_msg_id}
                  data-testid="pending-message"
                  className={cx("mt-2 flex gap-3 px-3 py-0.5 sm:px-4", p.status !== "failed" && "opacity-70")}
                >
                  <Avatar name={nameOf(myId)} id={myId} />
                  <div className="min-w-0 flex-1">
                    <p className="text-xs text-zinc-500 dark:text-zinc-400">
                      {p.status === "failed" ? (p.error?.message ?? "Not sent") : `Sending… ${formatTime(p.created_at)}`}
                    </p>
                    <div className="text-[0.9375rem] leading-relaxed">
                      <MessageBody body={p.body} />
                    </div>
                    {p.status === "failed" && (
                      <div className="mt-1 flex gap-2">
                        <Button variant="secondary" className="min-h-7 px-2 py-0.5 text-xs" onClick={() => client.retry(p.client_msg_id)}>
                          Retry
                        </Button>
                        <Button variant="ghost" className="min-h-7 px-2 py-0.5 text-xs" onClick={() => client.discard(p.client_msg_id)}>
                          Discard
                        </Button>
                      </div>
                    )}
                  </div>
                </li>
              ))}
            </ol>
          </div>
          <Composer
            ref={composer}
            members={members}
            myId={myId}
            replyTo={null}
            onCancelReply={() => undefined}
            onSend={onSend}
            onTyping={() => client.typing(c.id)}
            disabledReason={readOnly ? "This conversation is archived: it is read-only." : null}
            placeholder="Reply in thread…"
          />
          <label className="flex items-center gap-2 px-4 pb-3 text-sm text-zinc-700 dark:text-zinc-300">
            <input
              type="checkbox"
              checked={alsoToConversation}
              onChange={(e) => setAlsoToConversation(e.target.checked)}
              data-testid="also-to-conversation"
              className="size-4"
            />
            Also send to {conversationTitle(c)}
          </label>
        </>
      )}
    </aside>
  );
}
