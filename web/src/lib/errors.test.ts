import { describe, expect, it } from "vitest";
import { ApiError } from "../api/client";
import { asSentence, errorMessage, sentenceFor } from "./errors";

describe("error sentences", () => {
  it("turns known reason codes into sentences of their own", () => {
    expect(errorMessage(new ApiError(403, "not_a_member", "join this channel first"))).toBe("Join this channel first.");
    expect(errorMessage(new ApiError(409, "last_owner", "make someone else an owner first"))).toBe(
      "You are the only owner: make someone else an owner first.",
    );
    expect(sentenceFor("body_too_long", "message body is too long")).toBe("This message is too long. Shorten it or split it in two.");
  });

  it("never shows a server's message raw: a capital letter and a full stop", () => {
    expect(errorMessage(new ApiError(409, "some_new_code", "this thing is already done"))).toBe("This thing is already done.");
    expect(errorMessage(new ApiError(422, "x", "is it?"))).toBe("Is it?");
    expect(asSentence("  ")).toBe("Something went wrong. Try again.");
    expect(sentenceFor(undefined, undefined)).toBe("Something went wrong. Try again.");
  });

  it("says when the server cannot be reached or a gateway answers instead of Tipline", () => {
    expect(errorMessage(new ApiError(0, "network", "Could not reach the Tipline server."))).toMatch(/^Could not reach the Tipline server\. Check/);
    expect(errorMessage(new ApiError(503, "http_503", "The server answered 503."))).toBe("The Tipline server is busy or restarting. Try again in a moment.");
    // Tipline's own 503 with a reason keeps its reason.
    expect(errorMessage(new ApiError(503, "slow_mode", "slow"))).toBe("Slow mode is on here: wait a little before sending again.");
    expect(errorMessage(new Error("boom"))).toBe("Something went wrong. Try again.");
  });
});
