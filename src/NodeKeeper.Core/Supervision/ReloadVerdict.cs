using System.Globalization;
using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Supervision;

/// <summary>HTTP responses of one side of a comparison over some period: all of them, and those that failed (5xx or incomplete).</summary>
public readonly record struct Outcomes(long Total, long Failed)
{
    public double Ratio => Total == 0 ? 0 : (double)Failed / Total;

    public static Outcomes operator +(Outcomes a, Outcomes b) => new(a.Total + b.Total, a.Failed + b.Failed);
    public static Outcomes operator -(Outcomes a, Outcomes b) => new(a.Total - b.Total, a.Failed - b.Failed);

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Failed} of {Total} failed ({Ratio * 100:0.#} %)");
}

/// <summary>
/// What is known of the new version (the canary, or the instances after the cut-over) and of the version it is compared
/// with, at one moment.
/// </summary>
/// <param name="New">Its responses over the period (the canary's since it became ready; the new instances' since the cut-over).</param>
/// <param name="Old">The old version's over the same period (canary), or over its life before the reload (after the cut-over).</param>
/// <param name="NewExits">Exits of the new version's processes that nobody asked for (crashes, health, max_memory).</param>
/// <param name="NewErrored">An instance of the new version gave up (errored).</param>
/// <param name="NewLagMs">The new version's event-loop delay: the median over its reports of each one's slowest turn;
/// null when unknown.</param>
/// <param name="OldLagMs">The old version's, the same way.</param>
/// <param name="NewGrowthMbPerMin">A steady memory growth seen in the new version; null when none.</param>
/// <param name="OldGrowthMbPerMin">The old version's, null when none.</param>
public sealed record VersionFigures(
    Outcomes New,
    Outcomes Old,
    int NewExits = 0,
    bool NewErrored = false,
    double? NewLagMs = null,
    double? OldLagMs = null,
    double? NewGrowthMbPerMin = null,
    double? OldGrowthMbPerMin = null);

/// <summary>The verdict: Worse with the reason and its evidence, or not (yet).</summary>
public sealed record Verdict(bool Worse, string? Reason, IReadOnlyList<string> Evidence)
{
    public static readonly Verdict Fine = new(false, null, []);
}

/// <summary>
/// "Is the new version clearly worse than the old one?", asked of a canary while it runs beside the old instances and of
/// the new instances for a while after the cut-over. Pure: the figures come in, the verdict goes out.
///
/// Failed responses (5xx and incomplete) are judged by numbers of requests, not by a ratio alone, so that a quiet app is
/// never rolled back on two unlucky requests: the new version is worse when it failed at least
/// <see cref="ReloadSpec.MinFailed"/> responses, its failed ratio is above the old one's by more than
/// <see cref="ReloadSpec.MaxFailedIncrease"/>, and the difference is significant: a one-sided two-proportion z-test
/// at z ≥ 3 (about 1 in 740 by chance). With 20 % failing and the old version clean, that is decided after about 25 of
/// the new version's responses.
///
/// A crash counts at once for a canary (one exit); after the cut-over the new version has to exit twice (a crash loop)
/// or go errored. An event loop is far worse when its delay (each report's slowest turn, the median over the reports)
/// is 4 times the old one's and at least 100 ms more, and only then: with the old version's delay unknown nothing is
/// judged on it (130 ms is what a good version shows on a machine kept busy, and such a version was rolled back when an
/// unknown delay counted as none). Not the reports' p99: a second's histogram holds 70-100 timer turns, so its p99
/// leaves out a single block, and an app blocking 150 ms every 650 ms showed 1-4 ms in some seconds and 140 in others:
/// the same code was rolled back as 35 times slower. Memory is far worse
/// when it grows steadily by at least 20 MB/min more than 4 times the old version's growth.
/// </summary>
public static class ReloadVerdict
{
    public const double SignificantZ = 3.0;
    public const double LagFactor = 4, LagMarginMs = 100;
    public const double GrowthFactor = 4, GrowthMarginMbPerMin = 20;

    public static Verdict OfCanary(VersionFigures f, ReloadSpec spec) => Judge(f, spec, exitsAllowed: 0);

    public static Verdict AfterCutOver(VersionFigures f, ReloadSpec spec) => Judge(f, spec, exitsAllowed: 1);

    private static Verdict Judge(VersionFigures f, ReloadSpec spec, int exitsAllowed)
    {
        if (f.NewErrored) return new Verdict(true, "errored", ["an instance of the new version gave up (errored)"]);
        if (f.NewExits > exitsAllowed)
            return new Verdict(true, "crashed", [$"the new version exited {f.NewExits} time(s) without being asked to"]);
        if (FailedMore(f.New, f.Old, spec) is { } failed)
            return new Verdict(true, "failed_requests", [failed]);
        if (f.NewLagMs is { } lag && f.OldLagMs is { } oldLag && lag > LagFactor * oldLag && lag - oldLag >= LagMarginMs)
            return new Verdict(true, "event_loop", [string.Create(CultureInfo.InvariantCulture,
                $"event-loop delay (slowest turn, median of the reports) {lag:0.#} ms, the old version's {oldLag:0.#} ms")]);
        if (f.NewGrowthMbPerMin is { } growth && growth - GrowthFactor * Math.Max(0, f.OldGrowthMbPerMin ?? 0) >= GrowthMarginMbPerMin)
            return new Verdict(true, "memory_growth", [string.Create(CultureInfo.InvariantCulture,
                $"memory grows {growth:0.#} MB/min, the old version's {(f.OldGrowthMbPerMin is { } o ? $"{o:0.#} MB/min" : "not at all")}")]);
        return Verdict.Fine;
    }

    /// <summary>The evidence line when the new version's failed responses are clearly more than the old one's; else null.</summary>
    public static string? FailedMore(Outcomes @new, Outcomes old, ReloadSpec spec)
    {
        if (@new.Failed < spec.MinFailed || @new.Total == 0) return null;
        if (@new.Ratio - old.Ratio <= spec.MaxFailedIncrease) return null;
        if (Z(@new, old) < SignificantZ) return null;
        return $"the new version: {@new}; the old version: {old}";
    }

    /// <summary>
    /// The one-sided two-proportion z statistic of "the new ratio is higher". With no response of the old version to
    /// compare with (it had no traffic), the count and the ratio decide alone: infinity.
    /// </summary>
    public static double Z(Outcomes @new, Outcomes old)
    {
        if (old.Total == 0) return double.PositiveInfinity;
        var pooled = (double)(@new.Failed + old.Failed) / (@new.Total + old.Total);
        var se = Math.Sqrt(pooled * (1 - pooled) * (1.0 / @new.Total + 1.0 / old.Total));
        return se == 0 ? 0 : (@new.Ratio - old.Ratio) / se;
    }
}

/// <summary>
/// How one reload of an app ended, kept for `nk why` and `nk describe`: Outcome is "reloaded", "canary_failed",
/// "not_ready", "rolled_back" (the watch after the cut-over) or "rollback" (nk rollback); Reason the verdict's
/// (failed_requests, crashed, errored, event_loop, memory_growth, health), when one was.
/// </summary>
public sealed record ReloadStory(DateTimeOffset At, string Outcome, string? Reason, string Summary, IReadOnlyList<string> Evidence)
{
    public const string Reloaded = "reloaded", CanaryFailed = "canary_failed", NotReady = "not_ready";
    public const string RolledBack = "rolled_back", Rollback = "rollback";

    /// <summary>A reload that did not leave the new version running.</summary>
    public bool Failed => Outcome is CanaryFailed or NotReady or RolledBack;
}
