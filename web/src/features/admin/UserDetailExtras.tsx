/** More actions on one account in the admin console's user detail (Users tab).
 *
 * The place for account-level admin tools that other areas own, such as exporting a person's
 * data or deleting their account (docs/subsystems/accounts.md): add their buttons here. Each
 * one calls its own admin route; the server checks the caller is an admin. */
import type { AdminUserDetail } from "./queries";

export function UserDetailExtras({ user }: { user: AdminUserDetail }) {
  void user;
  return null;
}
