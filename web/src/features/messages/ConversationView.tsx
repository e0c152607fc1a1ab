/** A conversation on screen: header, history, typing indicator, composer; members beside it. */
import { useQueries, useQuery } from "@tanstack/react-query";
import { CommandAnswer, useComposerCommands } from "../integrations/Webhooks";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link, useLocation, useSearch } from "wouter";
import { ApiError, call, type Message } from "../../api/client";
import { useConnectionState, useOutbox, useRealtime } from "../../app/realtime";
import { useServices } from "../../app/services";
import { errorMessage } from "../../lib/errors";
import { KindIcon } from "../../lib/icons";
import { Button, ErrorText, PresenceDot, Spinner } from "../../lib/ui";
import { useMe } from "../accounts/queries";
import { MembersPanel } from "../conversations/MembersPanel";
import { usePresence } from "../conversations/presence";
import { conversationTitle, useConversation, useJoin, useMembers } from "../conversations/queries";
import { DropZone } from "../media/DropZone";
import { uploadAttachment, xhrTransport } from "../media/upload";
import { UploadTray } from "../media/UploadTray";
import { useUploads, type Uploader } from "../media/useUploads";
import { Composer, type ComposerHandle } from "./Composer";
import { useBlock, useReportMessage } from "../moderation/queries";
import { useTippingEnabled } from "../tips/config";
import { TipDialog, type TipTarget } from "../tips/TipDialog";
import { TipLines } from "../tips/TipLines";
import { MessageList } from "./MessageList";
import { PinnedButton } from "../timeline/PinnedPanel";
import { usePinning } from "../timeline/pins";
import { ReadReceipts } from "../timeline/ReadReceipts";
import { useDeleteMessage, useEditMessage, useReact } from "./queries";
import { timelineKey } from "./timeline";
import { useTyping } from "./typing";
import { useCustomEmojiSync } from "../admin/settings/queries";
import { LevelMenu } from "../notifications/LevelMenu";
import { ThreadPanel } from "../threads/ThreadPanel";

export function ConversationView({ id, panel, thread }: { id: number; panel: "members" | null; thread?: number | null }) {
  useCustomEmojiSync();
  const me = useMe();
  const { api } = useServices();
  const { client, timelines, setActive } = useRealtime();
  const conv = useConversation(id);
  const c = conv.data;
  const isMember = c?.role != null;
  const timeline = useQuery({
    queryKey: timelineKey(id),
    queryFn: ({ signal }) => timelines.fetchLatest(id, signal),
    enabled: isMember,
    staleTime: Infinity,
  });
  const members = useMembers(id, isMember);
  const pinning = usePinning(c, isMember);
  const outbox = useOutbox();
  // Thread-only replies wait in their thread's panel, not here.
  const pending = useMemo(() => outbox.filter((i) => i.conversation_id === id && !i.thread_only), [outbox, id]);
  const [, navigate] = useLocation();
  const onOpenThread = useCallback((m: Message) => navigate(`/c/${id}/t/${m.id}`), [navigate, id]);
  const state = useConnectionState();
  const [replyTo, setReplyTo] = useState<Message | null>(null);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [olderError, setOlderError] = useState<string | null>(null);
  const composer = useRef<ComposerHandle>(null);
  const commands = useComposerCommands(id);
  const edit = useEditMessage();
  const del = useDeleteMessage();
  const react = useReact();
  const [actionError, setActionError] = useState<string | null>(null);
  const peerPresence = usePresence(c?.kind === "direct" ? c.peer?.id : null);
  // `?m=<message id>`: opened from a search result; the list scrolls to that message.
  const target = Number(new URLSearchParams(useSearch()).get("m")) || null;

  // Where "New messages" goes: the read marker when the conversation was opened.
  const [unreadAfter, setUnreadAfter] = useState<number | null>(null);
  const snapshotTaken = useRef(false);
  useEffect(() => {
    snapshotTaken.current = false;
    setUnreadAfter(null);
    setReplyTo(null);
  }, [id]);
  useEffect(() => {
    if (!snapshotTaken.current && c && c.last_read_seq != null) {
      snapshotTaken.current = true;
      setUnreadAfter((c.unread ?? 0) > 0 ? c.last_read_seq : null);
    }
  }, [c]);

  useEffect(() => {
    setActive(id);
    return () => setActive(null);
  }, [id, setActive]);

  // Read marker: everything on screen is read while the tab is visible.
  const lastSeq = timeline.data?.messages[timeline.data.messages.length - 1]?.seq ?? 0;
  useEffect(() => {
    if (!c || !isMember) return;
    const mark = () => {
      if (document.visibilityState !== "visible") return;
      const latest = Math.max(lastSeq, c.last_seq, client.heldSeq(id) ?? 0);
      if (latest > (c.last_read_seq ?? 0)) client.markRead(id, latest);
    };
    mark();
    document.addEventListener("visibilitychange", mark);
    return () => document.removeEventListener("visibilitychange", mark);
  }, [c, isMember, lastSeq, client, id]);

  // Names: members first; anyone else who wrote here (a former member) is looked up once.
  const names = useMemo(() => {
    const map = new Map<number, string>();
    for (const m of members.data ?? []) map.set(m.user.id, m.user.display_name);
    if (c?.peer) map.set(c.peer.id, c.peer.display_name);
    if (me) map.set(me.id, me.display_name);
    return map;
  }, [members.data, c?.peer, me]);
  const unknown = useMemo(() => {
    if (!members.data) return [];
    const ids = new Set<number>();
    for (const m of timeline.data?.messages ?? []) if (m.sender_id !== null && !names.has(m.sender_id)) ids.add(m.sender_id);
    return [...ids];
  }, [timeline.data, names, members.data]);
  const looked = useQueries({
    queries: unknown.map((uid) => ({
      queryKey: ["user", uid],
      queryFn: () => call(api.GET("/users/{user_id}", { params: { path: { user_id: uid } } })),
      staleTime: 10 * 60_000,
      retry: false,
    })),
  });
  const nameOf = useCallback(
    (uid: number | null) => {
      if (uid === null) return "Deleted account";
      const known = names.get(uid);
      if (known) return known;
      const found = looked.find((q) => q.data?.id === uid)?.data;
      return found?.display_name ?? "Former member";
    },
    [names, looked],
  );
  const isBot = useCallback(
    (uid: number | null) => {
      if (uid === null) return false;
      const member = members.data?.find((m) => m.user.id === uid)?.user;
      const user = member ?? (c?.peer?.id === uid ? c.peer : undefined) ?? looked.find((q) => q.data?.id === uid)?.data;
      return user?.is_bot ?? false;
    },
    [members.data, c?.peer, looked],
  );

  const uploader = useCallback<Uploader>(
    (file, onProgress, signal) => uploadAttachment(api, xhrTransport, file, id, onProgress, signal),
    [api, id],
  );
  const uploads = useUploads(uploader);
  const onSend = useCallback(
    (body: string) => {
      client.send(id, body, replyTo?.id ?? null, uploads.readyIds);
      uploads.clear();
      setReplyTo(null);
    },
    [client, id, replyTo, uploads],
  );
  const onReply = useCallback((m: Message) => {
    setReplyTo(m);
    composer.current?.focus();
  }, []);
  const fail = (err: unknown) => setActionError(errorMessage(err));
  const onEdit = useCallback((mid: number, body: string) => edit.mutateAsync({ id: mid, body }), [edit]);
  const onDelete = useCallback((mid: number) => del.mutate(mid, { onError: fail }), [del]);
  const onReact = useCallback((mid: number, emoji: string, add: boolean) => react.mutate({ id: mid, emoji, add }, { onError: fail }), [react]);
  const report = useReportMessage();
  const block = useBlock();
  const onReport = useCallback((mid: number, reason: string) => report.mutateAsync({ id: mid, reason }), [report]);
  const onBlock = useCallback((uid: number) => block.mutate({ userId: uid, block: true }, { onError: fail }), [block]);
  const [tipTarget, setTipTarget] = useState<TipTarget | null>(null);
  // Tip buttons only where a tip can be sent: a live conversation on a server with tipping on.
  const canTip = useTippingEnabled() && !c?.archived;
  const onTip = useCallback(
    (m: Message) => {
      if (m.sender_id !== null) setTipTarget({ conversationId: id, recipientId: m.sender_id, recipientName: nameOf(m.sender_id), messageId: m.id });
    },
    [id, nameOf],
  );
  const closeTip = useCallback(() => setTipTarget(null), []);
  const onLoadOlder = useCallback(() => {
    setLoadingOlder(true);
    setOlderError(null);
    timelines
      .loadOlder(id)
      .catch(() => setOlderError("Could not load older messages."))
      .finally(() => setLoadingOlder(false));
  }, [timelines, id]);

  if (conv.isPending) return <Centered><Spinner /></Centered>;
  if (conv.isError || !c) {
    const missing = conv.error instanceof ApiError && (conv.error.status === 404 || conv.error.status === 403);
    return (
      <Centered>
        <div className="flex max-w-sm flex-col items-center gap-3 text-center">
          <h2 className="text-lg font-semibold">{missing ? "Conversation not found" : "Could not open this conversation"}</h2>
          <p className="text-sm text-zinc-600 dark:text-zinc-400">
            {missing
              ? "It does not exist, or you are not a member of it any more."
              : "The server did not answer. Check your connection; we will keep trying."}
          </p>
          <Link href="/" className="text-sm font-medium text-indigo-700 underline dark:text-indigo-300">
            Back to conversations
          </Link>
        </div>
      </Centered>
    );
  }

  const title = conversationTitle(c);
  const canModerate = c.role === "owner" || c.role === "admin";
  const online = state.kind === "open";
  const disabledReason = !isMember ? null : c.archived ? "This conversation is archived: it is read-only." : null;

  return (
    <div className="flex min-h-0 flex-1">
      <section className="flex min-w-0 flex-1 flex-col" aria-label={title}>
        <DropZone onFiles={uploads.add} disabled={!isMember || disabledReason !== null} className="flex min-h-0 flex-1 flex-col">
        <header className="flex items-center gap-2 border-b border-zinc-200 px-2 py-2 sm:px-4 dark:border-zinc-700">
          <Link href="/" className="rounded-md px-2 py-1 text-lg md:hidden" aria-label="Back to conversations">
            ←
          </Link>
          <div className="min-w-0 flex-1">
            <h1 className="flex items-center gap-2 truncate text-base font-semibold" data-testid="conversation-title">
              {c.kind === "direct" ? (
                <PresenceDot status={peerPresence} />
              ) : (
                <span className="text-zinc-400" title={c.kind === "public" ? "Public channel" : c.kind === "private" ? "Private channel" : "Group"}>
                  <KindIcon kind={c.kind} />
                </span>
              )}
              <span className="truncate">{title}</span>
            </h1>
            <p className="truncate text-xs text-zinc-500 dark:text-zinc-400">
              {c.kind === "direct" ? (c.peer ? `@${c.peer.handle} · ${peerPresence ?? "offline"}` : "") : c.topic || `${c.member_count} members`}
            </p>
          </div>
          {c.kind === "direct" && c.peer && isMember && canTip && (
            <Button
              variant="ghost"
              onClick={() => c.peer && setTipTarget({ conversationId: id, recipientId: c.peer.id, recipientName: c.peer.display_name })}
            >
              <span aria-hidden="true">◈</span> Tip
            </Button>
          )}
          <PinnedButton conversationId={id} nameOf={nameOf} enabled={isMember} />
          {c.kind !== "direct" && isMember && (
            <Link
              href={panel === "members" ? `/c/${id}` : `/c/${id}/members`}
              className="rounded-md px-3 py-1.5 text-sm font-medium text-zinc-700 hover:bg-zinc-100 dark:text-zinc-200 dark:hover:bg-zinc-800"
              aria-pressed={panel === "members"}
            >
              Members <span className="text-zinc-500">{c.member_count}</span>
            </Link>
          )}
          {isMember && <LevelMenu conversationId={id} />}
        </header>
        {!isMember ? (
          <JoinPrompt id={id} name={title} topic={c.topic} />
        ) : timeline.isPending ? (
          <Centered>
            <Spinner label="Loading messages" />
          </Centered>
        ) : timeline.isError ? (
          <Centered>
            <div className="flex flex-col items-center gap-2">
              <ErrorText>Could not load messages.</ErrorText>
              <Button variant="secondary" onClick={() => void timeline.refetch()}>
                Try again
              </Button>
            </div>
          </Centered>
        ) : (
          <>
            {(actionError || olderError) && (
              <div className="px-4 pt-2">
                <ErrorText>{actionError ?? olderError}</ErrorText>
              </div>
            )}
            <MessageList
              messages={timeline.data.messages}
              lines={timeline.data.lines}
              pinnedIds={pinning.pinnedIds}
              onPin={pinning.onPin}
              footer={
                <ReadReceipts
                  conversationId={id}
                  last={timeline.data.messages[timeline.data.messages.length - 1]}
                  myId={me?.id ?? 0}
                  members={members.data ?? []}
                  memberCount={c.member_count}
                />
              }
              pending={pending}
              hasOlder={timeline.data.hasOlder}
              loadingOlder={loadingOlder}
              onLoadOlder={onLoadOlder}
              myId={me?.id ?? 0}
              myHandle={me?.handle}
              nameOf={nameOf}
              isBot={isBot}
              canModerate={canModerate}
              readOnly={c.archived}
              unreadAfter={unreadAfter}
              online={online}
              onReply={onReply}
              onEdit={onEdit}
              onDelete={onDelete}
              onReact={onReact}
              onRetry={(cmid) => client.retry(cmid)}
              onDiscard={(cmid) => client.discard(cmid)}
              target={target}
              onReport={onReport}
              onBlock={onBlock}
              onTip={canTip ? onTip : undefined}
              onOpenThread={onOpenThread}
            />
            <TipLines conversationId={id} messageId={null} nameOf={nameOf} myId={me?.id ?? 0} />
          </>
        )}
        {isMember && <TypingLine conversationId={id} nameOf={nameOf} />}
        {isMember && <CommandAnswer answer={commands.answer} onDismiss={commands.dismiss} />}
        {isMember && (
          <Composer
            ref={composer}
            onCommand={commands.tryRun}
            commands={commands.list}
            members={members.data ?? []}
            myId={me?.id ?? 0}
            replyTo={replyTo ? { message: replyTo, name: nameOf(replyTo.sender_id) } : null}
            onCancelReply={() => setReplyTo(null)}
            onSend={onSend}
            draftConversationId={id}
            onTyping={() => client.typing(id)}
            disabledReason={disabledReason}
            placeholder={c.kind === "direct" ? `Message ${title}` : `Message ${c.kind === "public" ? "#" : ""}${title}`}
            tray={<UploadTray items={uploads.items} onRemove={uploads.remove} />}
            hasAttachments={uploads.readyIds.length > 0}
            sendBlocked={uploads.busy}
            onAttach={uploads.add}
          />
        )}
        </DropZone>
      </section>
      {thread != null && isMember && (
        <ThreadPanel key={thread} conversation={c} rootId={thread} members={members.data ?? []} nameOf={nameOf} isBot={isBot} />
      )}
      {panel === "members" && isMember && (
        <MembersPanel
          conversation={c}
          onTip={canTip ? (uid, name) => setTipTarget({ conversationId: id, recipientId: uid, recipientName: name }) : undefined}
        />
      )}
      {tipTarget && <TipDialog target={tipTarget} onClose={closeTip} />}
    </div>
  );
}

function TypingLine({ conversationId, nameOf }: { conversationId: number; nameOf(id: number): string }) {
  const ids = useTyping(conversationId);
  const names = ids.map(nameOf);
  const text =
    names.length === 0
      ? ""
      : names.length === 1
        ? `${names[0]} is typing…`
        : names.length === 2
          ? `${names[0]} and ${names[1]} are typing…`
          : "Several people are typing…";
  return (
    <p aria-live="polite" className="h-5 truncate px-4 text-xs text-zinc-500 dark:text-zinc-400" data-testid="typing">
      {text}
    </p>
  );
}

function JoinPrompt({ id, name, topic }: { id: number; name: string; topic: string }) {
  const join = useJoin();
  return (
    <Centered>
      <div className="flex max-w-sm flex-col items-center gap-3 text-center">
        <h2 className="text-lg font-semibold">#{name}</h2>
        {topic && <p className="text-sm text-zinc-600 dark:text-zinc-400">{topic}</p>}
        <p className="text-sm text-zinc-600 dark:text-zinc-400">You are not a member of this channel yet.</p>
        <Button onClick={() => join.mutate(id)} disabled={join.isPending}>
          Join channel
        </Button>
        {join.isError && <ErrorText>{errorMessage(join.error)}</ErrorText>}
      </div>
    </Centered>
  );
}

function Centered({ children }: { children: React.ReactNode }) {
  return <div className="flex min-h-0 flex-1 items-center justify-center p-6">{children}</div>;
}
