/** Mounted once in the shell: the unread total (muted conversations left out) in the tab title and favicon. */
import { useConversations } from "../conversations/queries";
import { useNotificationSettings } from "./queries";
import { useUnreadIndicators } from "./unread";

export function UnreadIndicators() {
  const list = useConversations();
  const settings = useNotificationSettings();
  const levels = settings.data?.levels ?? {};
  const total = (list.data ?? []).reduce((sum, c) => sum + (levels[String(c.id)] === "mute" ? 0 : (c.unread ?? 0)), 0);
  useUnreadIndicators(total);
  return null;
}
