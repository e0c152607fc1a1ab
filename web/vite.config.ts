/// <reference types="vitest/config" />
import tailwindcss from "@tailwindcss/vite";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";
import { serviceWorker } from "./build/service-worker-plugin";

// The API prefixes the dev server forwards to a local Tipline (`uv run tipline dev`).
// Client-side routes never start with one of these (they live under /c, /new, /browse, ...).
const API_PREFIXES = ["/auth", "/me", "/users", "/conversations", "/messages", "/presence", "/search", "/reports", "/admin", "/tips"];
const BACKEND = process.env.TIPLINE_BACKEND ?? "http://127.0.0.1:8000";

const proxy = Object.fromEntries(API_PREFIXES.map((p) => [p, { target: BACKEND, changeOrigin: true }]));

export default defineConfig({
  plugins: [react(), tailwindcss(), serviceWorker()],
  server: {
    host: "127.0.0.1",
    port: 5173,
    strictPort: true,
    proxy: {
      ...proxy,
      "/ws": {
        target: BACKEND.replace(/^http/, "ws"),
        ws: true,
        changeOrigin: true,
        // The gateway refuses WebSocket handshakes from origins outside ALLOWED_ORIGINS. In
        // development only, present the backend's own origin so the stock `tipline dev` accepts
        // the proxied socket without extra configuration.
        configure: (p) => {
          p.on("proxyReqWs", (proxyReq) => proxyReq.setHeader("origin", BACKEND));
        },
      },
    },
  },
  build: {
    target: "es2022",
    sourcemap: true,
    // Fail loudly rather than silently growing past the first-load budget (250 KB gzip).
    chunkSizeWarningLimit: 600,
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test/setup.ts"],
    restoreMocks: true,
  },
});
