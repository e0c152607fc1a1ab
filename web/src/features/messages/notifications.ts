/** Browser notifications for mentions and direct messages while the tab is hidden. */
import { createStore } from "../../lib/store";

const KEY = "tipline.notifications";
const supported = () => typeof window !== "undefined" && "Notification" in window;

function initial(): boolean {
  try {
    return supported() && Notification.permission === "granted" && localStorage.getItem(KEY) !== "off";
  } catch {
    return false;
  }
}

export const notificationsStore = createStore<boolean>(initial());

export function notificationsSupported(): boolean {
  return supported();
}

export function notificationPermission(): NotificationPermission | "unsupported" {
  return supported() ? Notification.permission : "unsupported";
}

/** Ask the browser (must run from a user gesture, e.g. the settings button). */
export async function enableNotifications(): Promise<boolean> {
  if (!supported()) return false;
  const permission = Notification.permission === "granted" ? "granted" : await Notification.requestPermission();
  const on = permission === "granted";
  localStorage.setItem(KEY, on ? "on" : "off");
  notificationsStore.set(on);
  return on;
}

export function disableNotifications(): void {
  localStorage.setItem(KEY, "off");
  notificationsStore.set(false);
}

export function showNotification(title: string, body: string, tag: string, onClick: () => void): void {
  if (!notificationsStore.get() || !supported() || Notification.permission !== "granted") return;
  if (typeof document !== "undefined" && !document.hidden) return;
  try {
    // Notification text is plain text by definition: nothing is interpreted as markup.
    const n = new Notification(title, { body: body.slice(0, 200), tag, icon: "/icons/icon-192.png" });
    n.onclick = () => {
      window.focus();
      onClick();
      n.close();
    };
  } catch {
    // Some platforms only allow notifications from a service worker; skip rather than fail.
  }
}
