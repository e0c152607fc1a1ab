/** The people directory: search by name, @handle, an exact email address or an exact wallet address. */
import { useState } from "react";
import { Avatar, BotBadge, ErrorText, Spinner, TextField } from "../../lib/ui";
import { accountErrorMessage } from "../accounts/errors";
import { PersonName } from "./ProfileCard";
import { usePeopleSearch } from "./queries";

const MATCHED: Record<string, string> = { email: "by email", handle: "by handle", wallet: "by wallet address", name: "by name" };

export function PeopleDirectory() {
  const [q, setQ] = useState("");
  const found = usePeopleSearch(q);
  return (
    <div className="mx-auto w-full max-w-xl p-4 sm:p-6">
      <h1 className="mb-4 text-xl font-semibold">People</h1>
      <TextField
        label="Search people"
        type="search"
        value={q}
        onChange={(e) => setQ(e.target.value)}
        placeholder="Name, @handle, email or 0x… wallet"
        hint="Emails and wallet addresses match exactly."
      />
      <div className="mt-4">
        {found.isFetching && <Spinner label="Searching" />}
        {found.isError && <ErrorText>{accountErrorMessage(found.error)}</ErrorText>}
        {found.data && (
          <>
            <p className="mb-2 text-xs text-zinc-500 dark:text-zinc-400">
              {found.data.users.length === 0 ? "Nobody found." : `${found.data.users.length} found ${MATCHED[found.data.matched_by] ?? ""}`}
            </p>
            <ul className="flex flex-col gap-2" data-testid="people-results">
              {found.data.users.map((u) => (
                <li key={u.id} className="flex items-center gap-3">
                  <Avatar name={u.display_name} id={u.id} />
                  <span className="min-w-0 flex-1">
                    <PersonName userId={u.id} name={u.display_name} className="text-sm font-medium" /> {u.is_bot && <BotBadge />}
                    <span className="block truncate text-xs text-zinc-500 dark:text-zinc-400">@{u.handle}</span>
                  </span>
                </li>
              ))}
            </ul>
          </>
        )}
      </div>
    </div>
  );
}
