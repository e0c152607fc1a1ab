/** Server state for people: profiles, the directory's search, blocks (docs/subsystems/moderation.md). */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { call } from "../../api/client";
import { useServices } from "../../app/services";

export function useUser(userId: number | null) {
  const { api } = useServices();
  return useQuery({
    queryKey: ["user", userId],
    queryFn: () => call(api.GET("/users/{user_id}", { params: { path: { user_id: userId ?? 0 } } })),
    enabled: userId !== null && userId > 0,
    staleTime: 60_000,
  });
}

/** People by name, @handle prefix, exact email or exact wallet address (`GET /search/users`). */
export function usePeopleSearch(q: string) {
  const { api } = useServices();
  const query = q.trim();
  return useQuery({
    queryKey: ["people", query],
    queryFn: () => call(api.GET("/search/users", { params: { query: { q: query } } })),
    enabled: query.length > 0,
    staleTime: 10_000,
  });
}

export function useBlocked() {
  const { api } = useServices();
  return useQuery({ queryKey: ["blocks"], queryFn: () => call(api.GET("/me/blocks")) });
}

export function useUnblock() {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (userId: number) => call(api.DELETE("/me/blocks/{user_id}", { params: { path: { user_id: userId } } })),
    onSuccess: (left) => {
      qc.setQueryData(["blocks"], left);
      // Their messages were hidden: load them again, shown.
      void qc.invalidateQueries({ queryKey: ["timeline"] });
    },
  });
}
