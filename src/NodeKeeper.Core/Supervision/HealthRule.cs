using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Supervision;

/// <summary>Checks failed in a row after one more, and whether that many ends the instance.</summary>
public readonly record struct HealthCount(int InARow, bool Restart)
{
    /// <summary>What to count from at the next check: a restart starts the count over, so the new process gets all of `failures`.</summary>
    public int Kept => Restart ? 0 : InARow;
}

/// <summary>The event-loop watch of one instance: the time of the last report judged, and how many in a row lagged.</summary>
public readonly record struct LagWatch(DateTimeOffset Seen, int InARow);

/// <summary>
/// The decisions of `health`, apart from the probing and the restarting the daemon does: `failures` failed probes in a
/// row; no report from the preload for timeout × failures (stalled); a p99 above max_lag in `failures` reports in a row.
/// A success or a report within max_lag starts the count over. Pure.
/// </summary>
public static class HealthRule
{
    /// <summary>After one probe of the URL (<paramref name="failed"/> when it did not answer 2xx/3xx in time).</summary>
    public static HealthCount Probe(HealthSpec health, int inARow, bool failed)
    {
        var n = failed ? inARow + 1 : 0;
        return new(n, n >= health.Failures);
    }

    /// <summary>How long without a report an event loop counts as stalled: what `failures` probes timing out would take.</summary>
    public static TimeSpan StallAfter(HealthSpec health) => health.Timeout * health.Failures;

    /// <summary>The longest the preload may stay silent while its figures do not move (it reports what moves at once).</summary>
    public static readonly TimeSpan QuietMost = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long an instance's preload may go without a report while nothing moved: <see cref="QuietMost"/>, or half of
    /// <see cref="StallAfter"/> when the app's health check would call a shorter silence a stall; never less than the
    /// report interval (then it reports every interval, as it did before it reported only what moved).
    /// </summary>
    public static TimeSpan Quiet(HealthSpec? health, TimeSpan interval)
    {
        var quiet = health is null ? QuietMost : TimeSpan.FromTicks(Math.Min(QuietMost.Ticks, StallAfter(health).Ticks / 2));
        return quiet > interval ? quiet : interval;
    }

    /// <summary>True when the last sign of life (a report, or the start) is older than <see cref="StallAfter"/>.</summary>
    public static bool Stalled(HealthSpec health, DateTimeOffset since, DateTimeOffset now) => now - since > StallAfter(health);

    /// <summary>After a report with p99 <paramref name="p99Ms"/> seen at <paramref name="at"/>: the watch to keep and whether
    /// it ends the instance. Null when there is nothing to judge: no max_lag, or this report was judged already.</summary>
    public static (LagWatch Watch, bool Restart)? Lag(HealthSpec health, LagWatch before, DateTimeOffset at, double p99Ms)
    {
        if (health.MaxLag is not { } max || at == before.Seen) return null;
        var n = p99Ms > max.TotalMilliseconds ? before.InARow + 1 : 0;
        return (new LagWatch(at, n), n >= health.Failures);
    }

    /// <summary>Whether health.url is probed on each instance's own port: increment mode, and the URL on the app's port.</summary>
    public static bool OnEachInstance(PortMode mode, int? port, string url) =>
        mode == PortMode.Increment && port is { } p && new Uri(url).Port == p;

    /// <summary>The URL probed for instance <paramref name="index"/> (its own port, port + index), or null when the app is
    /// probed as a whole (shared mode, or a URL on another port).</summary>
    public static string? InstanceUrl(AppSpec spec, int index) =>
        spec.Health is { } health && OnEachInstance(spec.PortMode, spec.Port, health.Url)
            ? new UriBuilder(new Uri(health.Url)) { Port = spec.Port!.Value + index }.Uri.ToString()
            : null;
}
