import { act, renderHook } from "@testing-library/react";
import { useState } from "react";
import { beforeEach, describe, expect, it } from "vitest";
import { draftPreview, forgetDrafts, loadDraft, saveDraft, useComposerDraft, useDraft } from "./drafts";

describe("drafts", () => {
  beforeEach(() => {
    forgetDrafts(1);
    forgetDrafts(2);
    localStorage.clear();
  });

  it("keeps a draft per account and conversation in localStorage", () => {
    saveDraft(1, 10, "half a thought");
    saveDraft(2, 10, "someone else's");
    expect(loadDraft(1, 10)).toBe("half a thought");
    expect(loadDraft(1, 11)).toBe("");
    expect(JSON.parse(localStorage.getItem("tipline.drafts.1") ?? "{}")).toEqual({ "10": "half a thought" });
    saveDraft(1, 10, "   ");
    expect(loadDraft(1, 10)).toBe("");
    expect(localStorage.getItem("tipline.drafts.1")).toBeNull();
    expect(loadDraft(2, 10)).toBe("someone else's");
    forgetDrafts(2);
    expect(localStorage.getItem("tipline.drafts.2")).toBeNull();
  });

  it("previews drafts for the conversation list", () => {
    expect(draftPreview("  line one\nline two ")).toBe("Draft: line one line two");
    expect(draftPreview(" \n ")).toBeNull();
  });

  it("restores the draft into the composer and forgets it when the text is sent", () => {
    saveDraft(1, 10, "restored");
    const { result } = renderHook(() => {
      const [text, setText] = useState("");
      useComposerDraft(1, 10, text, setText);
      return { text, setText, listed: useDraft(1, 10) };
    });
    expect(result.current.text).toBe("restored");
    act(() => result.current.setText("restored and more"));
    expect(loadDraft(1, 10)).toBe("restored and more");
    expect(result.current.listed).toBe("restored and more");
    act(() => result.current.setText(""));
    expect(loadDraft(1, 10)).toBe("");
    expect(result.current.listed).toBe("");
  });

  it("waits for the account before restoring", () => {
    saveDraft(1, 10, "mine");
    const { result, rerender } = renderHook(({ uid }) => {
      const [text, setText] = useState("");
      useComposerDraft(uid, 10, text, setText);
      return text;
    }, { initialProps: { uid: 0 } });
    expect(result.current).toBe("");
    rerender({ uid: 1 });
    expect(result.current).toBe("mine");
  });
});
