namespace NodeKeeper.Core.Diagnosis;

/// <summary>A steady rise of a memory figure: its rate, and when it would reach a limit at that rate.</summary>
public sealed record GrowthEstimate(double BytesPerSecond, double Fit, TimeSpan Span, long Latest)
{
    public double MbPerMinute => BytesPerSecond * 60 / (1024 * 1024);

    /// <summary>How long until the figure reaches the limit at this rate; null when already there or no limit.</summary>
    public TimeSpan? TimeTo(long? limit) =>
        limit is { } l && l > Latest && BytesPerSecond > 0 ? TimeSpan.FromSeconds((l - Latest) / BytesPerSecond) : null;
}

/// <summary>
/// Tells a leak from a process that merely uses memory. Samples (time, bytes) over a sliding window are fitted with a
/// straight line; a leak is a rise that is steady (the line fits, R² ≥ <see cref="MinFit"/>), that goes on (the later
/// half of the window still rises at half the rate or more, which a warm-up that levels off does not), and that is
/// large enough to matter (at least <see cref="MinRiseBytes"/> and <see cref="MinRiseFraction"/> of the start).
/// </summary>
public sealed class GrowthTrend(TimeSpan window, TimeSpan minSpan, int minSamples = 10)
{
    public const double MinFit = 0.8;
    public const long MinRiseBytes = 8L << 20;
    public const double MinRiseFraction = 0.05;
    private readonly Queue<(DateTimeOffset At, long Bytes)> _samples = new();

    public static GrowthTrend Default() => new(TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(15));

    public int Count => _samples.Count;

    public void Add(DateTimeOffset at, long bytes)
    {
        if (_samples.Count > 0 && at <= _samples.Last().At) return;
        _samples.Enqueue((at, bytes));
        while (_samples.Count > 0 && at - _samples.Peek().At > window) _samples.Dequeue();
    }

    public void Reset() => _samples.Clear();

    /// <summary>The growth when the samples show a leak, else null.</summary>
    public GrowthEstimate? Estimate()
    {
        if (_samples.Count < minSamples) return null;
        var points = _samples.ToArray();
        var span = points[^1].At - points[0].At;
        if (span < minSpan) return null;
        var (slope, intercept, fit) = Fit(points, points[0].At);
        if (slope <= 0 || fit < MinFit) return null;
        var later = points[(points.Length / 2)..];
        var (laterSlope, _, _) = Fit(later, points[0].At);
        if (laterSlope < slope / 2) return null;
        var rise = slope * span.TotalSeconds;
        var start = Math.Max(intercept, 1);
        if (rise < MinRiseBytes || rise < start * MinRiseFraction) return null;
        return new GrowthEstimate(slope, fit, span, points[^1].Bytes);
    }

    /// <summary>Least squares: bytes = intercept + slope × seconds since origin; and R².</summary>
    private static (double Slope, double Intercept, double Fit) Fit((DateTimeOffset At, long Bytes)[] points, DateTimeOffset origin)
    {
        var n = points.Length;
        double sx = 0, sy = 0;
        foreach (var (at, b) in points) { sx += (at - origin).TotalSeconds; sy += b; }
        double mx = sx / n, my = sy / n, sxx = 0, sxy = 0, syy = 0;
        foreach (var (at, b) in points)
        {
            var dx = (at - origin).TotalSeconds - mx;
            var dy = b - my;
            sxx += dx * dx; sxy += dx * dy; syy += dy * dy;
        }
        if (sxx == 0) return (0, my, 0);
        var slope = sxy / sxx;
        var fit = syy == 0 ? 0 : sxy * sxy / (sxx * syy);
        return (slope, my - slope * mx, fit);
    }
}
