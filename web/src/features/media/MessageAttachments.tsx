/** A message's attachments with signed URLs from this app's API client. */
import { useCallback } from "react";
import { useServices } from "../../app/services";
import { AttachmentList } from "./AttachmentList";
import { downloadUrl, type Attachment } from "./upload";

export function MessageAttachments({ attachments }: { attachments: Attachment[] }) {
  const { api } = useServices();
  const fetcher = useCallback((id: string, thumbnail: boolean) => downloadUrl(api, id, thumbnail), [api]);
  return <AttachmentList attachments={attachments} fetcher={fetcher} />;
}
