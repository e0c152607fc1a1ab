/** Readable words for the account routes' error codes (docs/protocol.md lists them). */
import { ApiError } from "../../api/client";

export function accountErrorMessage(err: unknown): string {
  if (!(err instanceof ApiError)) return "Something went wrong. Try again.";
  if (err.unavailable) return "The Tipline server is not answering. Check your connection and try again in a moment.";
  switch (err.code) {
    case "invalid_credentials":
      return "That email and password do not match an account.";
    case "email_taken":
      return "An account with this email already exists. Sign in instead.";
    case "handle_taken":
      return "That handle is taken. Try another.";
    case "rate_limited":
      return "Too many attempts. Wait a while and try again.";
    case "oidc_handoff_invalid":
      return "That sign-in took too long or was already used. Sign in again.";
    case "verification_invalid":
      return "This link was already used or is not valid. Sign in, or ask for a new link.";
    case "verification_expired":
      return "This link has expired. Ask for a new one below.";
    case "reset_invalid":
      return "This reset link is not valid, or a newer one was sent since. Use the latest mail, or ask for a new link.";
    case "reset_used":
      return "This reset link was already used. Sign in with your new password, or ask for a new link.";
    case "reset_expired":
      return "This reset link has expired. Ask for a new one.";
    case "email_change_invalid":
      return "This confirmation link is not valid, or a newer change was asked for since. Use the latest mail.";
    case "email_change_used":
      return "This address was already confirmed with this link.";
    case "email_change_expired":
      return "This confirmation link has expired. Ask for the change again in Settings.";
    case "password_too_short":
    case "password_too_common":
      return sentence(err.message);
    case "password_incorrect":
      return "That is not your current password.";
    case "password_not_set":
      return "Your account has no password yet. Sign out and use “Forgot password?” to set one first.";
    case "email_invalid":
      return "That email address cannot be used. Check it for typos.";
    case "email_unchanged":
      return "That is already your email address.";
    case "account_disabled":
      return "This account is disabled.";
    case "second_factor_invalid":
      return "That code is wrong or was already used. Wait for the next code in your app, or use a recovery code.";
    case "challenge_invalid":
      return "This sign-in step ended (too many wrong codes, or it was already used). Sign in again.";
    case "challenge_expired":
      return "This sign-in step took too long. Sign in again.";
    case "passkey_invalid":
      return "That passkey was not accepted. Try again, or use another way to sign in.";
    case "passkey_exists":
      return "This passkey is already registered.";
    case "two_factor_required":
      return "This server requires two-factor authentication: add another method before removing this one.";
    case "totp_already_enabled":
      return "An authenticator app is already set up.";
    default:
      return sentence(err.message);
  }
}

/** The server's own reason as a sentence: a capital letter and a full stop. */
function sentence(message: string): string {
  const text = message.trim();
  if (!text) return "Something went wrong. Try again.";
  const capital = `${text.charAt(0).toUpperCase()}${text.slice(1)}`;
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}
