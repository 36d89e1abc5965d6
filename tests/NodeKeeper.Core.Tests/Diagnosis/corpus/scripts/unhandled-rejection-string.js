// A rejected promise whose reason is not an Error.
Promise.reject('connection refused');
