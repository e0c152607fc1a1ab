/** The app's long-lived objects, created once in main.tsx (or by a test) and shared by context. */
import { QueryClient } from "@tanstack/react-query";
import { createContext, useContext } from "react";
import { ApiError, createApi, type ApiClient } from "../api/client";
import { SessionManager } from "../features/accounts/session";

export interface Services {
  session: SessionManager;
  api: ApiClient;
  queryClient: QueryClient;
  /** Origin of the Tipline server (the page's own origin in production). */
  baseUrl: string;
}

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 30_000,
        refetchOnWindowFocus: false,
        retry: (count, err) => {
          // Client errors will not fix themselves; an unreachable server might.
          if (err instanceof ApiError && !err.unavailable) return false;
          return count < 3;
        },
      },
      mutations: { retry: false },
    },
  });
}

export function createServices(baseUrl: string, storage: Storage | null): Services {
  const session = new SessionManager(storage, baseUrl);

  /** Every API call: the bearer token, and one refresh-and-retry when the server says 401. */
  async function authFetch(request: Request): Promise<Response> {
    const retry = request.clone();
    const token = await session.accessToken();
    if (token) request.headers.set("Authorization", `Bearer ${token}`);
    const response = await fetch(request);
    if (response.status !== 401 || !token) return response;
    const result = await session.refresh(token);
    if (result !== "ok") return response;
    const fresh = session.current()?.accessToken;
    if (fresh) retry.headers.set("Authorization", `Bearer ${fresh}`);
    return fetch(retry);
  }

  return { session, api: createApi(authFetch, baseUrl), queryClient: createQueryClient(), baseUrl };
}

export const ServicesContext = createContext<Services | null>(null);

export function useServices(): Services {
  const s = useContext(ServicesContext);
  if (!s) throw new Error("useServices outside <ServicesContext>");
  return s;
}
