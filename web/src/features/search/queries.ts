/** Message search, a page at a time (the server's cursor). */
import { useInfiniteQuery } from "@tanstack/react-query";
import { call, type Schemas } from "../../api/client";
import { useServices } from "../../app/services";

export type SearchPage = Schemas["MessageSearchOut"];
export type SearchHit = Schemas["MessageHit"];

export function useMessageSearch(q: string) {
  const { api } = useServices();
  return useInfiniteQuery({
    queryKey: ["search", q],
    enabled: q.length > 0,
    initialPageParam: null as string | null,
    queryFn: async ({ pageParam, signal }): Promise<SearchPage> =>
      call(
        api.GET("/search/messages", {
          params: { query: { q, limit: 20, ...(pageParam ? { cursor: pageParam } : {}) } },
          signal,
        }),
      ),
    getNextPageParam: (last) => last.next_cursor ?? null,
    staleTime: 10_000,
  });
}

/** Where a hit opens: its conversation, scrolled to the message (ConversationView reads `m`). */
export function hitHref(hit: Pick<SearchHit, "conversation_id" | "id">): string {
  return `/c/${hit.conversation_id}?m=${hit.id}`;
}
