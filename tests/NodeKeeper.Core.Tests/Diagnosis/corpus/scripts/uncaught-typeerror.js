// A TypeError thrown from a timer callback.
const state = {};
setTimeout(() => {
  console.log(state.user.name);
}, 10);
