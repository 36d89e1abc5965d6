namespace NodeKeeper.Core.Diagnosis;

/// <summary>A share of a whole, kept as a fraction so that the test is exact in integers (no rounding at the edge).</summary>
public readonly record struct Share(int Numerator, int Denominator)
{
    public int Percent => Numerator * 100 / Denominator;

    /// <summary>True when <paramref name="part"/> is at least this share of <paramref name="whole"/> (a whole of 0 or less: never).</summary>
    public bool Reached(long part, long whole) => whole > 0 && part * Denominator >= whole * Numerator;
}

/// <summary>
/// Every limit at which NodeKeeper tells the operator that something needs their eye: the warnings of `nk status`,
/// `nk monit` and `/metrics`, and the findings of `nk why` about running instances and the figures before an exit.
/// One table so that status and `why` cannot disagree about the same figure. What makes a memory rise a leak
/// (fit, size, window) is the definition of a <see cref="GrowthEstimate"/> and stays with <see cref="GrowthTrend"/>;
/// any estimate it gives is warned about.
/// </summary>
public static class Thresholds
{
    /// <summary>Open files at 80 % of RLIMIT_NOFILE: enough headroom left to raise max_open_files before EMFILE.</summary>
    public static readonly Share OpenFiles = new(4, 5);

    /// <summary>The V8 heap at 90 % of its limit: V8 collects hard from here on, and the next step is oom_heap.</summary>
    public static readonly Share Heap = new(9, 10);

    /// <summary>A p99 event-loop delay of 500 ms or more: every request waits that long. A busy but healthy app
    /// shows tens of milliseconds, so a lower bar would flag load, not a block.</summary>
    public const double EventLoopLagMs = 500;

    /// <summary>No report from the preload for longer than this (twice the longest an idle preload stays silent,
    /// <see cref="Supervision.HealthRule.QuietMost"/>): the event loop is stalled.</summary>
    public static readonly TimeSpan Stall = 2 * Supervision.HealthRule.QuietMost;

    public static bool OpenFilesNear(long files, long max) => OpenFiles.Reached(files, max);

    public static bool HeapNear(long used, long limit) => Heap.Reached(used, limit);

    public static bool Lagging(double p99Ms) => p99Ms >= EventLoopLagMs;

    public static bool Stalled(DateTimeOffset lastReport, DateTimeOffset now) => now - lastReport > Stall;
}
