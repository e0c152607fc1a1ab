/** Files dropped on, or pasted into, an area of the page become uploads. */
import { useState, type ClipboardEvent, type DragEvent, type ReactNode } from "react";
import { cx } from "../../lib/ui";

function hasFiles(e: DragEvent): boolean {
  return Array.from(e.dataTransfer?.types ?? []).includes("Files");
}

/** Files on the clipboard (a screenshot, files copied in a file manager); none for plain text. */
export function pastedFiles(e: ClipboardEvent): File[] {
  return Array.from(e.clipboardData?.files ?? []);
}

export function DropZone({ onFiles, disabled, children, className }: { onFiles(files: File[]): void; disabled?: boolean; children: ReactNode; className?: string }) {
  const [over, setOver] = useState(0);
  const active = over > 0 && !disabled;
  return (
    <div
      data-testid="drop-zone"
      className={cx("relative", className)}
      onDragEnter={(e) => {
        if (!hasFiles(e)) return;
        e.preventDefault();
        setOver((n) => n + 1); // enter/leave pairs fire for every child crossed
      }}
      onDragOver={(e) => {
        if (hasFiles(e)) e.preventDefault(); // allows the drop
      }}
      onDragLeave={(e) => {
        if (hasFiles(e)) setOver((n) => Math.max(0, n - 1));
      }}
      onDrop={(e) => {
        if (!hasFiles(e)) return;
        e.preventDefault();
        setOver(0);
        if (!disabled) onFiles(Array.from(e.dataTransfer.files));
      }}
      onPaste={(e) => {
        const files = pastedFiles(e);
        if (files.length === 0 || disabled) return; // text pastes as usual
        e.preventDefault();
        onFiles(files);
      }}
    >
      {children}
      {active && (
        <div
          role="status"
          className="pointer-events-none absolute inset-0 z-30 flex items-center justify-center rounded-md border-2 border-dashed border-indigo-500 bg-indigo-50/80 text-sm font-medium text-indigo-700 dark:bg-indigo-950/80 dark:text-indigo-200"
        >
          Drop files to attach them
        </div>
      )}
    </div>
  );
}
