/** Light, dark, or follow the system. public/theme-init.js applies the choice before first paint. */
import { createStore } from "../lib/store";

export type Theme = "system" | "light" | "dark";
const KEY = "tipline.theme";

function read(): Theme {
  try {
    const v = localStorage.getItem(KEY);
    return v === "light" || v === "dark" ? v : "system";
  } catch {
    return "system";
  }
}

export const themeStore = createStore<Theme>(read());

export function applyTheme(theme: Theme = themeStore.get()): void {
  const dark = theme === "dark" || (theme === "system" && window.matchMedia?.("(prefers-color-scheme: dark)").matches);
  document.documentElement.classList.toggle("dark", Boolean(dark));
}

export function setTheme(theme: Theme): void {
  try {
    if (theme === "system") localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, theme);
  } catch {
    // Not persisted; still applied for this visit.
  }
  themeStore.set(theme);
  applyTheme(theme);
}

export function watchSystemTheme(): () => void {
  const mq = window.matchMedia?.("(prefers-color-scheme: dark)");
  if (!mq) return () => {};
  const on = () => {
    if (themeStore.get() === "system") applyTheme("system");
  };
  mq.addEventListener("change", on);
  return () => mq.removeEventListener("change", on);
}
