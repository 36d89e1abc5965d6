using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Supervision;

/// <summary>The backoff schedule: restart_delay doubled per unstable run in a row, capped at max_restart_delay.</summary>
public static class RestartPolicy
{
    /// <summary>
    /// The delay before the next start after <paramref name="unstableRuns"/> unstable runs in a row. After a stable run
    /// (0) the app starts again at once: every millisecond it is down is a 502 behind a proxy. fixed_restart_delay
    /// (PM2's restart_delay) is the least wait of every restart.
    /// </summary>
    public static TimeSpan Delay(AppSpec spec, int unstableRuns)
    {
        var backoff = Backoff(spec, unstableRuns);
        return backoff > spec.FixedRestartDelay ? backoff : spec.FixedRestartDelay;
    }

    private static TimeSpan Backoff(AppSpec spec, int unstableRuns)
    {
        if (unstableRuns <= 0) return TimeSpan.Zero;
        if (unstableRuns == 1) return Min(spec.RestartDelay, spec.MaxRestartDelay);
        var ticks = (double)spec.RestartDelay.Ticks * Math.Pow(2, Math.Min(unstableRuns - 1, 62));
        return ticks >= spec.MaxRestartDelay.Ticks ? spec.MaxRestartDelay : TimeSpan.FromTicks((long)ticks);
    }

    /// <summary>True when an exit with this code is one the app chose and must not be restarted.</summary>
    public static bool IsFinalExit(AppSpec spec, int? code, string? signal) => spec.Restart switch
    {
        RestartMode.Never => true,
        RestartMode.OnFailure => signal is null && code is { } c && spec.StopExitCodes.Contains(c),
        _ => false,
    };

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
