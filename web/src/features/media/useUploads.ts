/** The files being attached to the next message: each with its progress, result or error. */
import { useCallback, useRef, useState } from "react";
import { ApiError } from "../../api/client";
import type { Attachment } from "./upload";

export type Uploader = (file: File, onProgress: (fraction: number) => void, signal: AbortSignal) => Promise<Attachment>;

export interface PendingUpload {
  key: number;
  file: File;
  progress: number;
  status: "uploading" | "done" | "error";
  attachment?: Attachment;
  error?: string;
}

export interface Uploads {
  items: PendingUpload[];
  /** Ids of the finished uploads, in the order they were added. */
  readyIds: string[];
  busy: boolean;
  add(files: Iterable<File>): void;
  remove(key: number): void;
  clear(): void;
}

export function useUploads(uploader: Uploader, max = 10): Uploads {
  const [items, setItems] = useState<PendingUpload[]>([]);
  const next = useRef(1);
  const controllers = useRef(new Map<number, AbortController>());
  // Files counted against the limit (uploading or done), known without waiting for a render.
  const count = useRef(0);

  const update = useCallback((key: number, change: Partial<PendingUpload>) => {
    setItems((all) => all.map((it) => (it.key === key ? { ...it, ...change } : it)));
  }, []);

  const add = useCallback(
    (files: Iterable<File>) => {
      const fresh: PendingUpload[] = [];
      for (const file of files) fresh.push({ key: next.current++, file, progress: 0, status: "uploading" });
      const room = Math.max(0, max - count.current);
      const taken = fresh.slice(0, room);
      const refused = fresh.slice(room).map((it) => ({ ...it, status: "error" as const, error: `At most ${max} files per message.` }));
      count.current += taken.length;
      setItems((all) => [...all, ...taken, ...refused]);
      for (const it of taken) {
        const ctrl = new AbortController();
        controllers.current.set(it.key, ctrl);
        uploader(it.file, (progress) => update(it.key, { progress }), ctrl.signal).then(
          (attachment) => update(it.key, { status: "done", progress: 1, attachment }),
          (err: unknown) => {
            if (ctrl.signal.aborted) return;
            update(it.key, { status: "error", error: err instanceof ApiError ? err.message : "The upload failed." });
          },
        );
      }
    },
    [max, update, uploader],
  );

  const remove = useCallback((key: number) => {
    controllers.current.get(key)?.abort();
    if (controllers.current.delete(key)) count.current -= 1;
    setItems((all) => all.filter((it) => it.key !== key));
  }, []);

  const clear = useCallback(() => {
    for (const ctrl of controllers.current.values()) ctrl.abort();
    controllers.current.clear();
    count.current = 0;
    setItems([]);
  }, []);

  return {
    items,
    readyIds: items.filter((it) => it.status === "done" && it.attachment).map((it) => it.attachment!.id),
    busy: items.some((it) => it.status === "uploading"),
    add,
    remove,
    clear,
  };
}
