namespace NodeKeeper.TestSupport;

/// <summary>
/// Polls for a state with a deadline instead of sleeping: the one poll loop of the tests. A test that waits for
/// something goes through here, so a wait that runs out always says what it waited for and what it saw last.
/// </summary>
public static class Eventually
{
    private static readonly TimeSpan DefaultEvery = TimeSpan.FromMilliseconds(50);

    /// <summary>The first value that is done; fails (TimeoutException, naming what and the last value) when none is in time.</summary>
    public static async Task<T> Until<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout, string what, TimeSpan? every = null)
    {
        var (last, met) = await PollAsync(probe, done, timeout, every);
        return met ? last : throw new TimeoutException($"timed out after {timeout.TotalSeconds}s waiting for {what}; last seen: {Describe(last)}");
    }

    public static Task Until(Func<bool> done, TimeSpan timeout, string what, TimeSpan? every = null) =>
        Until(() => Task.FromResult(done()), d => d, timeout, what, every);

    /// <summary>
    /// The first value that is done, or the last one seen at the deadline: for a caller that asserts on it with a
    /// message a timeout cannot give (the baseline it compares with, the daemon's log).
    /// </summary>
    public static async Task<T> Last<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout, TimeSpan? every = null) =>
        (await PollAsync(probe, done, timeout, every)).Last;

    private static async Task<(T Last, bool Met)> PollAsync<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout, TimeSpan? every)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var last = await probe();
            if (done(last)) return (last, true);
            if (DateTime.UtcNow > deadline) return (last, false);
            await Task.Delay(every ?? DefaultEvery);
        }
    }

    private static string Describe<T>(T value) => value switch
    {
        System.Collections.IEnumerable e and not string => string.Join("; ", e.Cast<object>()),
        _ => value?.ToString() ?? "null",
    };
}
