/** Full-page states that say what happened and what to do. */
import { useEffect, useRef, useState } from "react";
import { Link } from "wouter";
import { Button } from "../lib/ui";

function Frame({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <main id="main" className="flex min-h-dvh items-center justify-center bg-zinc-50 p-6 text-zinc-900 dark:bg-zinc-950 dark:text-zinc-100">
      <div className="flex max-w-md flex-col items-center gap-3 text-center">
        <img src="/favicon.svg" alt="" className="size-10" />
        <h1 className="text-xl font-semibold">{title}</h1>
        {children}
      </div>
    </main>
  );
}

function useOnline(): boolean {
  const [online, setOnline] = useState(() => navigator.onLine !== false);
  useEffect(() => {
    const on = () => setOnline(true);
    const off = () => setOnline(false);
    window.addEventListener("online", on);
    window.addEventListener("offline", off);
    return () => {
      window.removeEventListener("online", on);
      window.removeEventListener("offline", off);
    };
  }, []);
  return online;
}

/** The first load failed: offline, or the server is down. */
export function Unavailable({ onRetry }: { onRetry(): void }) {
  const online = useOnline();
  const retry = useRef(onRetry);
  retry.current = onRetry;
  const wasOnline = useRef(online);
  useEffect(() => {
    const back = online && !wasOnline.current;
    wasOnline.current = online;
    if (!online) return;
    // Back online: try now. Online: the server may come back; try every 15 s.
    if (back) retry.current();
    const t = setInterval(() => retry.current(), 15_000);
    return () => clearInterval(t);
  }, [online]);
  if (!online) {
    return (
      <Frame title="You are offline">
        <p className="text-sm text-zinc-600 dark:text-zinc-400" data-testid="offline-page">
          This device has no network connection. Tipline will load as soon as it is back; anything you had written is kept.
        </p>
        <Button onClick={onRetry}>Try again</Button>
      </Frame>
    );
  }
  return (
    <Frame title="Tipline’s server is unavailable">
      <p className="text-sm text-zinc-600 dark:text-zinc-400" data-testid="unavailable-page">
        Your connection works, but the server did not answer. It may be restarting or down for maintenance. Try again in a
        minute (this page retries by itself every 15 seconds); if it persists, tell whoever runs this Tipline.
      </p>
      <Button onClick={onRetry}>Try again</Button>
    </Frame>
  );
}

export function NotFound() {
  return (
    <div className="flex flex-1 items-center justify-center p-6 text-center">
      <div className="flex flex-col items-center gap-2">
        <h1 className="text-xl font-semibold">Page not found</h1>
        <p className="text-sm text-zinc-600 dark:text-zinc-400">There is nothing at this address.</p>
        <Link href="/" className="text-sm font-medium text-indigo-700 underline dark:text-indigo-300">
          Go to your conversations
        </Link>
      </div>
    </div>
  );
}

/** A render error: better a way out than a blank page. */
export function Crashed({ onReset }: { onReset(): void }) {
  return (
    <Frame title="Something broke on this page">
      <p className="text-sm text-zinc-600 dark:text-zinc-400">
        Tipline hit an unexpected error. Reloading usually fixes it; messages you wrote are kept on this device.
      </p>
      <Button onClick={onReset}>Reload</Button>
    </Frame>
  );
}
