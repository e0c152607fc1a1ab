import { describe, expect, it } from "vitest";
import { messageEvent } from "../test/fakeSocket";
import type { DurableEvent, ReadyFrame } from "./frames";
import { Sequencer } from "./sequencer";

const ready = (conversations: { id: number; last_seq: number }[]): ReadyFrame => ({
  type: "ready",
  protocol: "tipline.v1",
  user_id: 1,
  session_id: "s",
  heartbeat_s: 25,
  idle_timeout_s: 90,
  away_after_s: 300,
  conversations,
});
const ev = (cid: number, seq: number) => messageEvent(cid, seq) as DurableEvent;

describe("Sequencer", () => {
  it("marks conversations seen for the first time as fresh and starts at their last_seq", () => {
    const s = new Sequencer();
    const step = s.onReady(ready([{ id: 1, last_seq: 5 }]));
    expect(step.fresh).toEqual([1]);
    expect(step.resume.size).toBe(0);
    expect(s.onEvent(ev(1, 5)).apply).toEqual([]);
    expect(s.onEvent(ev(1, 6)).apply.map((e) => e.seq)).toEqual([6]);
  });

  it("resumes only conversations it is behind on", () => {
    const s = new Sequencer();
    s.onReady(ready([{ id: 1, last_seq: 5 }, { id: 2, last_seq: 2 }]));
    const step = s.onReady(ready([{ id: 1, last_seq: 9 }, { id: 2, last_seq: 2 }]));
    expect([...step.resume]).toEqual([[1, 5]]);
  });

  it("forgets conversations missing from ready", () => {
    const s = new Sequencer();
    s.onReady(ready([{ id: 1, last_seq: 5 }]));
    s.onReady(ready([]));
    expect(s.heldSeq(1)).toBeUndefined();
    expect(s.onEvent(ev(1, 6)).apply).toEqual([]);
  });

  it("releases kept events in order once the hole is filled", () => {
    const s = new Sequencer();
    s.onReady(ready([{ id: 1, last_seq: 1 }]));
    expect([...s.onEvent(ev(1, 4)).resume]).toEqual([[1, 1]]);
    expect(s.onEvent(ev(1, 3)).apply).toEqual([]);
    expect(s.onEvent(ev(1, 2)).apply.map((e) => e.seq)).toEqual([2, 3, 4]);
    expect(s.onResumed(1, 4).apply).toEqual([]);
  });

  it("on sync, resumes what it is behind on, even with a resume in flight, and forgets nothing", () => {
    const s = new Sequencer();
    s.onReady(ready([{ id: 1, last_seq: 5 }, { id: 2, last_seq: 2 }, { id: 3, last_seq: 7 }]));
    // A gap in 3 has a resume in flight; its replay may predate what the bus lost.
    expect([...s.onEvent(ev(3, 9)).resume]).toEqual([[3, 7]]);
    const step = s.onSync([{ id: 1, last_seq: 6 }, { id: 3, last_seq: 9 }, { id: 4, last_seq: 11 }]);
    expect([...step.resume]).toEqual([[1, 5], [3, 7]]);
    expect(step.fresh).toEqual([4]);
    expect(s.heldSeq(2)).toBe(2);
    expect(s.heldSeq(4)).toBe(11);
    expect(s.onEvent(ev(1, 6)).apply.map((e) => e.seq)).toEqual([6]);
    expect(s.onEvent(ev(3, 8)).apply.map((e) => e.seq)).toEqual([8, 9]);
  });

  it("asks again when a resume did not close the gap, then gives up and reloads", () => {
    const s = new Sequencer();
    s.onReady(ready([{ id: 1, last_seq: 1 }]));
    s.onEvent(ev(1, 5));
    expect([...s.onResumed(1, 5).resume]).toEqual([[1, 1]]);
    expect([...s.onResumed(1, 5).resume]).toEqual([[1, 1]]);
    const last = s.onResumed(1, 5);
    expect(last.reload).toBe(true);
    expect(s.heldSeq(1)).toBe(5);
  });
});
