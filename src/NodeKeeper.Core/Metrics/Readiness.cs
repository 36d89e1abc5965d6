using NodeKeeper.Core.Protocol;

namespace NodeKeeper.Core.Metrics;

/// <summary>
/// `/readyz`: ready when every instance that is meant to run is online. A `stopped` instance is not meant to run
/// (stopped by request, or its exit was final under its restart mode) and does not count. Every other status counts
/// against readiness: `starting`, `backoff`, `stopping` and `errored` (an app that gave up needs the operator).
/// </summary>
public static class Readiness
{
    /// <summary>At most this many instances are named in the body; the rest are counted.</summary>
    public const int MaxNamed = 20;

    public sealed record Result(bool Ready, string Body);

    public static Result Evaluate(IReadOnlyList<InstanceInfo> instances)
    {
        var notReady = instances.Where(i => !i.Ready && i.Status != "stopped").ToList();
        if (notReady.Count == 0) return new Result(true, "ready\n");
        var lines = notReady.Take(MaxNamed).Select(i => $"{Sanitize(i.Name)}:{i.Instance} {i.Status}");
        var more = notReady.Count > MaxNamed ? $"… and {notReady.Count - MaxNamed} more\n" : "";
        return new Result(false, $"not ready: {notReady.Count} instance(s)\n{string.Join('\n', lines)}\n{more}");
    }

    // App names are validated ([A-Za-z0-9._-]); this only guards the text body against anything else.
    private static string Sanitize(string s) => s.Any(char.IsControl) ? new string(s.Select(c => char.IsControl(c) ? '?' : c).ToArray()) : s;
}
