/**
 * What a person reads when something fails: the one place that turns a server's reason code
 * (docs/protocol.md, Error codes) into a sentence. Codes without a sentence of their own show
 * the server's own message, made into a sentence (capital letter, full stop), never raw.
 */
import { ApiError } from "../api/client";

const NETWORK = "Could not reach the Tipline server. Check your connection and try again.";
const UNAVAILABLE = "The Tipline server is busy or restarting. Try again in a moment.";

const SENTENCES: Record<string, string> = {
  // Reaching the server, and sessions.
  network: NETWORK,
  unavailable: UNAVAILABLE,
  internal: "Something went wrong on the server. Try again.",
  rate_limited: "Too many attempts in a short time. Wait a moment and try again.",
  slow_mode: "Slow mode is on here: wait a little before sending again.",
  too_large: "That is too large to send.",
  not_authenticated: "Your session has ended. Sign in again.",
  invalid_token: "Your session has ended. Sign in again.",
  token_expired: "Your session has ended. Sign in again.",
  session_revoked: "You were signed out. Sign in again.",
  session_expired: "Your session has expired. Sign in again.",
  account_inactive: "This account is deactivated.",
  invalid: "Some of what you entered is not valid.",
  // Conversations and members.
  not_found: "This conversation does not exist, or you are no longer a member of it.",
  not_a_member: "Join this channel first.",
  not_an_admin: "Only the conversation’s owners and admins can do that.",
  not_an_owner: "Only the conversation’s owners can do that.",
  user_not_found: "No one with that handle was found.",
  member_not_found: "That person is not a member of this conversation.",
  already_member: "That person is already a member.",
  use_leave: "To remove yourself, leave the conversation instead.",
  last_owner: "You are the only owner: make someone else an owner first.",
  direct_conversation: "Direct conversations cannot be changed this way.",
  direct_with_self: "You cannot open a direct conversation with yourself.",
  conversation_archived: "This conversation is archived: nothing new can be sent to it.",
  blocked: "You cannot message this person (one of you has blocked the other).",
  block_self: "You cannot block yourself.",
  // Messages.
  body_empty: "A message cannot be empty.",
  body_too_long: "This message is too long. Shorten it or split it in two.",
  not_author: "You can only change your own messages.",
  message_not_found: "That message is not available any more.",
  message_deleted: "That message was deleted.",
  reply_not_found: "The message you replied to is not available any more.",
  too_many_reactions: "This message has too many different reactions already.",
  report_self: "You cannot report your own message.",
  // Search.
  query_empty: "Type something to search for.",
  bad_cursor: "These results are out of date. Search again.",
  bad_date_range: "The start date must be before the end date.",
  // Attachments.
  upload_too_large: "That file is too large.",
  image_too_large: "That image is too large.",
  image_invalid: "That image could not be read.",
  type_mismatch: "That file is not what its name says it is.",
  too_many_attachments: "Too many attachments on one message.",
  // Tips and wallets.
  tipping_disabled: "Tipping is not set up on this server.",
  tipper_no_wallet: "Link a wallet in Settings before tipping.",
  recipient_no_wallet: "This person has not linked a wallet yet, so they cannot receive tips.",
  recipient_not_member: "This person is no longer a member of this conversation.",
  self_tip: "You cannot tip yourself.",
  token_unsupported: "That token cannot be tipped here.",
  amount_invalid: "Enter the amount as a number, such as 0.5.",
  amount_out_of_bounds: "That amount is outside what this server allows.",
  chain_unavailable: "The blockchain node cannot be reached right now. Try again in a moment.",
  wallet_taken: "This wallet is linked to another account.",
  wallet_not_found: "That wallet is not linked to your account.",
};

/** The server's message as a sentence: "join this channel first" → "Join this channel first." */
export function asSentence(text: string): string {
  const t = text.trim();
  if (!t) return "Something went wrong. Try again.";
  const first = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?…]$/.test(first) ? first : `${first}.`;
}

/** The sentence for a reason code and the server's message (an HTTP error or a socket error frame). */
export function sentenceFor(code: string | undefined, message: string | undefined): string {
  const known = code === undefined ? undefined : SENTENCES[code];
  if (known) return known;
  return message ? asSentence(message) : "Something went wrong. Try again.";
}

/** What to show for any failure thrown by the API client (or anything else). */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 0) return NETWORK;
    // A gateway's 502/503/504 page carries no reason code of Tipline's.
    if (err.unavailable && !(err.code in SENTENCES)) return UNAVAILABLE;
    return sentenceFor(err.code, err.message);
  }
  return "Something went wrong. Try again.";
}
