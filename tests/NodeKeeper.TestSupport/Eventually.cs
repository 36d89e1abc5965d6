namespace NodeKeeper.TestSupport;

/// <summary>Polls for a state with a deadline instead of sleeping.</summary>
public static class Eventually
{
    public static async Task<T> Until<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        T last;
        while (true)
        {
            last = await probe();
            if (done(last)) return last;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"timed out after {timeout.TotalSeconds}s waiting for {what}; last seen: {Describe(last)}");
            await Task.Delay(50);
        }
    }

    public static Task Until(Func<bool> done, TimeSpan timeout, string what) =>
        Until(() => Task.FromResult(done()), d => d, timeout, what);

    private static string Describe<T>(T value) => value switch
    {
        System.Collections.IEnumerable e and not string => string.Join("; ", e.Cast<object>()),
        _ => value?.ToString() ?? "null",
    };
}
