/* Tipline service worker: caches the app shell so the client opens offline and loads fast.
 * Generated into dist/sw.js by build/service-worker-plugin.ts; API responses are never cached.
 */
const VERSION = __VERSION__;
const PRECACHE = __PRECACHE__;
const CACHE = `tipline-shell-${VERSION}`;
// Server paths that are not the app: never answered from the cache.
const SERVER_PREFIXES = ["/auth", "/me", "/users", "/conversations", "/messages", "/presence", "/ws", "/tips",
  "/docs", "/redoc", "/openapi.json", "/healthz", "/readyz", "/notifications"];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(PRECACHE)).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("tipline-shell-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

function isServerPath(pathname) {
  return SERVER_PREFIXES.some((p) => pathname === p || pathname.startsWith(p + "/"));
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || isServerPath(url.pathname)) return;

  if (request.mode === "navigate") {
    // Network first, so a deploy is picked up at once; the cached shell when offline.
    event.respondWith(
      fetch(request).catch(() => caches.match("/", { cacheName: CACHE }).then((r) => r || Response.error())),
    );
    return;
  }
  if (PRECACHE.includes(url.pathname)) {
    // Hashed assets never change under one name: cache first.
    event.respondWith(caches.match(url.pathname, { cacheName: CACHE }).then((r) => r || fetch(request)));
  }
});

// Web Push (docs/subsystems/notifications.md): the server pushes a DM or mention to a device with
// no open Tipline socket; the payload is JSON {title, body, conversation_id, tag}. Shown as plain
// text; a click focuses an open Tipline window on that conversation, or opens one.
self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { title: "Tipline", body: event.data ? event.data.text() : "" };
  }
  const title = typeof data.title === "string" && data.title ? data.title : "Tipline";
  const options = {
    body: typeof data.body === "string" ? data.body : "",
    tag: typeof data.tag === "string" ? data.tag : undefined,
    icon: "/icons/icon-192.png",
    data: { conversationId: Number.isInteger(data.conversation_id) ? data.conversation_id : null },
  };
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const cid = event.notification.data && event.notification.data.conversationId;
  const path = cid ? `/c/${cid}` : "/";
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      const open = windows.find((w) => new URL(w.url).origin === self.location.origin);
      if (open) return open.focus().then((w) => (w && "navigate" in w ? w.navigate(path) : w));
      return self.clients.openWindow(path);
    }),
  );
});
