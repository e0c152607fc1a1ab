/** Settings → Read receipts: send them or not (PUT /me/read-receipts). */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { call } from "../../api/client";
import { useServices } from "../../app/services";
import { errorMessage } from "../../lib/errors";

const key = ["me", "read-receipts"] as const;

export function ReceiptSetting() {
  const { api } = useServices();
  const qc = useQueryClient();
  const q = useQuery({ queryKey: key, queryFn: () => call(api.GET("/me/read-receipts")) });
  // Shown as chosen at once; the server's answer follows (and a refusal puts it back).
  const [choice, setChoice] = useState<boolean | null>(null);
  const save = useMutation({
    mutationFn: (on: boolean) => call(api.PUT("/me/read-receipts", { body: { send_read_receipts: on } })),
    onSuccess: (data) => qc.setQueryData(key, data),
    onError: () => setChoice(null),
  });
  const on = choice ?? q.data?.send_read_receipts ?? true;
  return (
    <section className="border-b border-zinc-200 py-6 dark:border-zinc-700" aria-labelledby="s-read-receipts">
      <h2 id="s-read-receipts" className="mb-3 text-base font-semibold">
        Read receipts
      </h2>
      <label className="flex items-start gap-2 text-sm">
        <input
          type="checkbox"
          className="mt-0.5 size-4"
          checked={on}
          disabled={q.isPending}
          onChange={(e) => {
            setChoice(e.target.checked);
            save.mutate(e.target.checked);
          }}
        />
        <span>
          Let others see when I have read their messages
          <span className="block text-xs text-zinc-500 dark:text-zinc-400">
            Off: your read position is shown to no one (“Seen by” leaves you out); your own unread counts still work.
          </span>
        </span>
      </label>
      {save.isError && <p role="alert" className="mt-1 text-xs text-red-700 dark:text-red-400">{errorMessage(save.error)}</p>}
    </section>
  );
}
