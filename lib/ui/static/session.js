// The sign-in cookie (lib/ui/auth.py): the browser swaps its one-time ticket for the HttpOnly cookie, or has it
// cleared on signing out, with a same-origin POST to the studio's own route. Once per ticket or sign-out: a rerun
// mounts this again with the same data.
const done = new Set();

export default function ({ data }) {
  if (!data || done.has(data.once)) return;
  done.add(data.once);
  const body = new URLSearchParams(data.ticket ? { ticket: data.ticket } : {});
  fetch(data.route, { method: "POST", credentials: "same-origin", body }).catch(() => done.delete(data.once));
}
