/** The signed-in layout: conversation list beside the current screen (one at a time on a phone). */
import { useEffect, useState } from "react";
import { Link, Redirect, Route, Switch, useLocation, useSearch } from "wouter";
import { PeopleDirectory } from "../features/people/PeopleDirectory";
import { useTimeZoneFromBrowser } from "../features/people/StatusEditor";
import { TipHistory } from "../features/tips/TipHistory";
import { NewWalletAccountNotice } from "../features/wallets/WalletSignIn";
import { useMe } from "../features/accounts/queries";
import { Settings } from "../features/accounts/Settings";
import { AdminConsole } from "../features/admin/AdminConsole";
import { BrowseChannels } from "../features/conversations/BrowseChannels";
import { ConversationList } from "../features/conversations/ConversationList";
import { NewConversation } from "../features/conversations/NewConversation";
import { useConversations } from "../features/conversations/queries";
import { ConversationView } from "../features/messages/ConversationView";
import { SearchPage } from "../features/search/SearchPage";
import { ThreadsLink, ThreadsView } from "../features/threads/ThreadsView";
import { UnreadIndicators } from "../features/notifications/UnreadIndicators";
import { Avatar, Button, cx } from "../lib/ui";
import { NotFound, Unavailable } from "./ErrorPages";
import { useConnectionState, useRealtime } from "./realtime";

export function Shell() {
  const [location] = useLocation();
  const me = useMe();
  const list = useConversations();
  const atHome = location === "/";
  const [, navigate] = useLocation();
  useTimeZoneFromBrowser();

  // Alt+↑ / Alt+↓: previous / next conversation in the list, from anywhere.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (!e.altKey || (e.key !== "ArrowUp" && e.key !== "ArrowDown") || !list.data?.length) return;
      e.preventDefault();
      const current = /^\/c\/(\d+)/.exec(location)?.[1];
      const index = list.data.findIndex((c) => String(c.id) === current);
      const next = e.key === "ArrowDown" ? Math.min(list.data.length - 1, index + 1) : Math.max(0, index - 1);
      const target = list.data[index === -1 ? 0 : next];
      if (target) navigate(`/c/${target.id}`);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [list.data, location, navigate]);

  // Nothing to show yet and no way to get it: say why (offline, or the server is down). A
  // failure count, not isError: a retry without data is "pending" again, which would flicker.
  if (!list.data && (list.isError || list.failureCount > 0 || list.errorUpdatedAt > 0 || list.fetchStatus === "paused")) {
    return <Unavailable onRetry={() => void list.refetch()} />;
  }

  return (
    <div className="flex h-dvh flex-col bg-white text-zinc-900 dark:bg-zinc-900 dark:text-zinc-100">
      <a href="#main" className="sr-only z-50 rounded bg-indigo-600 px-3 py-2 text-white focus:not-sr-only focus:absolute focus:top-2 focus:left-2">
        Skip to content
      </a>
      <ConnectionBanner />
      <NewWalletAccountNotice />
      <UnreadIndicators />
      <div className="relative flex min-h-0 flex-1">
        <aside
          className={cx(
            "min-h-0 w-full flex-col border-r border-zinc-200 bg-zinc-50 md:flex md:w-80 md:shrink-0 dark:border-zinc-800 dark:bg-zinc-950",
            atHome ? "flex" : "hidden",
          )}
        >
          {/* min-w-0 down to the name: a long display name is cut with an ellipsis inside the
              sidebar instead of pushing the row into the main pane. */}
          <div className="flex min-w-0 items-center gap-2 px-3 py-3" data-testid="sidebar-header">
            <img src="/favicon.svg" alt="" className="size-7 shrink-0" />
            <span className="shrink-0 text-lg font-bold tracking-tight">Tipline</span>
            <Link
              href="/find"
              className="ml-auto shrink-0 rounded-md px-2 py-1 text-sm hover:bg-zinc-200 dark:hover:bg-zinc-800"
              aria-label="Find messages"
              data-testid="search-link"
            >
              <span aria-hidden="true">⌕</span>
              <span className="ml-1 max-sm:sr-only">Find</span>
            </Link>
            <Link
              href="/people"
              className="shrink-0 rounded-md px-2 py-1 text-sm hover:bg-zinc-200 dark:hover:bg-zinc-800"
              aria-label="People"
              data-testid="people-link"
            >
              <span aria-hidden="true">☺</span>
              <span className="ml-1 max-sm:sr-only">People</span>
            </Link>
            {me?.is_admin && (
              <Link
                href="/console"
                className="shrink-0 rounded-md px-2 py-1 text-sm hover:bg-zinc-200 dark:hover:bg-zinc-800"
                aria-label="Admin console"
                data-testid="admin-link"
              >
                <span aria-hidden="true">⚙</span>
                <span className="ml-1 max-sm:sr-only">Admin</span>
              </Link>
            )}
            <Link
              href="/settings"
              className="flex min-w-0 items-center gap-2 rounded-md px-2 py-1 text-sm hover:bg-zinc-200 dark:hover:bg-zinc-800"
              aria-label="Profile and settings"
              title={me?.display_name}
              data-testid="settings-link"
            >
              {me && <Avatar name={me.display_name} id={me.id} size="sm" />}
              <span className="max-w-40 min-w-0 truncate max-sm:sr-only" data-testid="signed-in-name">
                {me?.display_name}
              </span>
            </Link>
          </div>
          <div className="px-2 pb-1">
            <ThreadsLink />
          </div>
          <ConversationList />
        </aside>
        <main id="main" tabIndex={-1} className={cx("min-h-0 min-w-0 flex-1 flex-col", atHome ? "hidden md:flex" : "flex")}>
          <Switch>
            <Route path="/">
              <Home />
            </Route>
            <Route path="/c/:id/members">{(p) => <ConversationRoute id={p.id} panel="members" />}</Route>
            <Route path="/c/:id/t/:root">{(p) => <ConversationRoute id={p.id} panel={null} thread={p.root} />}</Route>
            <Route path="/threads">
              <Page>
                <ThreadsView />
              </Page>
            </Route>
            <Route path="/c/:id">{(p) => <ConversationRoute id={p.id} panel={null} />}</Route>
            <Route path="/new">
              <Page>
                <NewConversation />
              </Page>
            </Route>
            <Route path="/find">
              <Page>
                <SearchPage />
              </Page>
            </Route>
            <Route path="/people">
              <Page>
                <PeopleDirectory />
              </Page>
            </Route>
            <Route path="/browse">
              <Page>
                <BrowseChannels />
              </Page>
            </Route>
            <Route path="/settings">
              <Page>
                <Settings />
              </Page>
            </Route>
            <Route path="/my-tips">
              <Page>
                <TipHistory />
              </Page>
            </Route>
            <Route path="/console/:tab?">
              <Page>
                <AdminConsole />
              </Page>
            </Route>
            <Route path="/signin">
              <Redirect to="/" />
            </Route>
            <Route path="/signup">
              <Redirect to="/" />
            </Route>
            <Route path="/verify">
              <Redirect to="/" />
            </Route>
            <Route>
              <NotFound />
            </Route>
          </Switch>
        </main>
      </div>
    </div>
  );
}

function ConversationRoute({ id, panel, thread }: { id: string; panel: "members" | null; thread?: string }) {
  const n = Number(id);
  const root = thread === undefined ? null : Number(thread);
  if (!Number.isSafeInteger(n) || n < 1 || (root !== null && (!Number.isSafeInteger(root) || root < 1))) return <NotFound />;
  return <ConversationView key={n} id={n} panel={panel} thread={root} />;
}

/** Secondary screens get a back link on phones (the list is hidden there). */
function Page({ children }: { children: React.ReactNode }) {
  return (
    <div className="flex min-h-0 flex-1 flex-col">
      <div className="border-b border-zinc-200 px-2 py-2 md:hidden dark:border-zinc-700">
        <Link href="/" className="rounded-md px-2 py-1 text-sm font-medium">
          ← Conversations
        </Link>
      </div>
      {children}
    </div>
  );
}

function Home() {
  const search = useSearch();
  const removed = new URLSearchParams(search).get("removed");
  return (
    <div className="flex flex-1 items-center justify-center p-6 text-center">
      <div className="max-w-sm">
        {removed && (
          <p role="status" className="mb-4 rounded-md bg-amber-50 p-3 text-sm text-amber-900 dark:bg-amber-950 dark:text-amber-100" data-testid="removed-notice">
            You are no longer a member of that conversation.
          </p>
        )}
        <p className="text-zinc-500 dark:text-zinc-400">Choose a conversation, or start a new one.</p>
      </div>
    </div>
  );
}

function ConnectionBanner() {
  const state = useConnectionState();
  const { client } = useRealtime();
  const [, force] = useState(0);
  const [everOpen, setEverOpen] = useState(false);
  useEffect(() => {
    if (state.kind === "open") setEverOpen(true);
    if (state.kind !== "waiting") return;
    const t = setInterval(() => force((x) => x + 1), 1000);
    return () => clearInterval(t);
  }, [state]);

  let text: string | null = null;
  let action: React.ReactNode = null;
  let tone = "bg-amber-100 text-amber-950 dark:bg-amber-900 dark:text-amber-50";
  if (state.kind === "offline") {
    text = "You are offline. Messages you write are saved on this device and sent, in order, when the connection returns.";
  } else if (state.kind === "waiting") {
    const secs = Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000));
    if (state.attempt >= 2 || everOpen) {
      text =
        state.attempt >= 3
          ? `Tipline’s server is not answering. Retrying in ${secs}s — your messages are kept until it is back.`
          : `Connection lost. Reconnecting in ${secs}s…`;
      action = (
        <Button variant="secondary" className="min-h-7 px-2 py-0.5 text-xs" onClick={() => client.reconnectNow()}>
          Retry now
        </Button>
      );
      if (state.attempt >= 3) tone = "bg-red-100 text-red-950 dark:bg-red-900 dark:text-red-50";
    }
  } else if (state.kind === "connecting" && everOpen) {
    text = "Reconnecting…";
  }
  if (!text) return null;
  return (
    <div role="status" data-testid="connection-banner" data-state={state.kind} className={cx("flex items-center gap-3 px-4 py-1.5 text-sm", tone)}>
      <span className="flex-1">{text}</span>
      {action}
    </div>
  );
}
