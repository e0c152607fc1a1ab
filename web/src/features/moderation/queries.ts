/** Block a person, report a message (docs/subsystems/moderation.md). */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { call } from "../../api/client";
import { useServices } from "../../app/services";

export function useReportMessage() {
  const { api } = useServices();
  return useMutation({
    mutationFn: ({ id, reason }: { id: number; reason: string }) =>
      call(api.POST("/messages/{message_id}/reports", { params: { path: { message_id: id } }, body: { reason } })),
  });
}

export function useBlock() {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ userId, block }: { userId: number; block: boolean }) =>
      block
        ? call(api.PUT("/me/blocks/{user_id}", { params: { path: { user_id: userId } } }))
        : call(api.DELETE("/me/blocks/{user_id}", { params: { path: { user_id: userId } } })),
    // Loaded messages were written before the block: reload them, hidden where they must be.
    onSuccess: () => qc.invalidateQueries({ queryKey: ["timeline"] }),
  });
}
