using NodeKeeper.Core.Protocol;

namespace NodeKeeper.Cli;

/// <summary>
/// `nk start`, `restart`, `reload`, `scale` and `resurrect` wait until the instances they touch are ready or have failed.
/// The daemon does the waiting (it sees every change as it happens): asked with wait_ms, it answers only then, with the
/// instances that did not become ready and every instance's status.
/// </summary>
public static class Waiter
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    /// <summary>The request, asking the daemon to answer once what it touches has settled (when waiting).</summary>
    public static Request Waiting(this Request request, bool wait) =>
        wait ? request with { WaitMs = (int)Deadline.TotalMilliseconds } : request;

    /// <summary>Prints each instance that did not become ready (the daemon's "NAME:INDEX is …"), then the apps named once.</summary>
    public static async Task ReportAsync(IReadOnlyList<string> failures)
    {
        foreach (var f in failures) await Console.Error.WriteLineAsync($"nk: {f} (see nk logs {f.Split(':')[0]} --err, nk describe {f.Split(':')[0]})");
        var names = string.Join(", ", failures.Select(f => f.Split(':')[0]).Distinct());
        await Console.Error.WriteLineAsync($"nk: did not become ready: {names}");
    }
}
