import { fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import { describe, expect, it, vi } from "vitest";
import { Button, ConfirmDialog } from "./ui";

function Harness({ onConfirm, onOuterEscape }: { onConfirm(): void; onOuterEscape(): void }) {
  const [open, setOpen] = useState(false);
  return (
    // A panel that closes on Escape, as the members panel does: the dialog's Escape is its own.
    <div
      onKeyDown={(e) => {
        if (e.key === "Escape" && !e.defaultPrevented) onOuterEscape();
      }}
    >
      <Button onClick={() => setOpen(true)}>Leave group</Button>
      {open && (
        <ConfirmDialog title="Leave Weekend plans?" confirmLabel="Leave group" danger onConfirm={onConfirm} onCancel={() => setOpen(false)}>
          You will stop receiving its messages.
        </ConfirmDialog>
      )}
    </div>
  );
}

describe("ConfirmDialog", () => {
  it("asks with focus on Cancel, keeps Tab inside, cancels on Escape without closing what is behind it, and gives focus back", () => {
    const onConfirm = vi.fn();
    const onOuterEscape = vi.fn();
    render(<Harness onConfirm={onConfirm} onOuterEscape={onOuterEscape} />);
    const opener = screen.getByRole("button", { name: "Leave group" });
    opener.focus();
    fireEvent.click(opener);
    const dialog = screen.getByRole("alertdialog", { name: "Leave Weekend plans?" });
    expect(dialog.getAttribute("aria-modal")).toBe("true");
    expect(screen.getByText("You will stop receiving its messages.").id).toBe(dialog.getAttribute("aria-describedby"));
    const cancel = screen.getByRole("button", { name: "Cancel" });
    expect(document.activeElement).toBe(cancel);
    // Shift+Tab from the first button wraps to the last, Tab from the last back to the first.
    fireEvent.keyDown(cancel, { key: "Tab", shiftKey: true });
    const confirm = screen.getAllByRole("button", { name: "Leave group" }).find((b) => dialog.contains(b))!;
    expect(document.activeElement).toBe(confirm);
    fireEvent.keyDown(confirm, { key: "Tab" });
    expect(document.activeElement).toBe(cancel);

    fireEvent.keyDown(cancel, { key: "Escape" });
    expect(screen.queryByRole("alertdialog")).toBeNull();
    expect(onOuterEscape).not.toHaveBeenCalled();
    expect(onConfirm).not.toHaveBeenCalled();
    expect(document.activeElement).toBe(opener);

    fireEvent.click(opener);
    fireEvent.click(screen.getByTestId("confirm-backdrop"));
    expect(screen.queryByRole("alertdialog")).toBeNull();

    fireEvent.click(opener);
    const again = screen.getByRole("alertdialog");
    fireEvent.click(screen.getAllByRole("button", { name: "Leave group" }).find((b) => again.contains(b))!);
    expect(onConfirm).toHaveBeenCalledTimes(1);
  });
});
