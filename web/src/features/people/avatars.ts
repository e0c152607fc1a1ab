/** Uploaded avatars, wherever a person appears: one cached lookup per person (`GET /users/{id}/avatar`). */
import { QueryClient, useQuery } from "@tanstack/react-query";
import { useContext } from "react";
import { call } from "../../api/client";
import { ServicesContext } from "../../app/services";

// Outside the app (a component rendered alone in a test) there is nothing to ask: a client that never runs.
const idle = new QueryClient();

/** The person's avatar URL, or null (none uploaded, not loaded yet, or no app around: initials then). */
export function useAvatarUrl(userId: number): string | null {
  const services = useContext(ServicesContext);
  const enabled = services !== null && userId > 0 && services.session.current() !== null;
  const q = useQuery(
    {
      queryKey: ["avatar", userId],
      queryFn: async () => {
        if (!services) return null;
        const out = await call(services.api.GET("/users/{user_id}/avatar", { params: { path: { user_id: userId } } }));
        return out.url ?? null;
      },
      enabled,
      staleTime: 5 * 60_000,
      retry: false,
    },
    services?.queryClient ?? idle,
  );
  return enabled ? (q.data ?? null) : null;
}

/** After a new picture is saved: every place showing this person shows it at once. */
export function useSetAvatarUrl(): (userId: number, url: string | null) => void {
  const services = useContext(ServicesContext);
  return (userId, url) => services?.queryClient.setQueryData(["avatar", userId], url);
}
