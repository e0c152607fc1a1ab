import { onlineManager } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./app/App";
import { createServices } from "./app/services";
import { applyTheme } from "./app/theme";
import "./styles.css";

applyTheme();
// Opened without a network (the service worker served the shell): queries wait instead of failing.
onlineManager.setOnline(navigator.onLine !== false);
const services = createServices(window.location.origin, window.localStorage);

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App services={services} />
  </StrictMode>,
);

if (import.meta.env.PROD && "serviceWorker" in navigator) {
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("/sw.js").catch(() => {
      // Without a service worker the app still works; it just does not open offline.
    });
  });
}
