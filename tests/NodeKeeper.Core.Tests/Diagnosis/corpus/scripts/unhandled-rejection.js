// A rejected promise with an Error reason that nobody handles.
async function loadUser(id) {
  await new Promise((r) => setTimeout(r, 10));
  throw new Error(`user ${id} not found`);
}
loadUser(42);
