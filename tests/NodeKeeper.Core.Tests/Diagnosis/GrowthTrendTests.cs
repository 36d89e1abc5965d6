using NodeKeeper.Core.Diagnosis;

namespace NodeKeeper.Core.Tests.Diagnosis;

public sealed class GrowthTrendTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private const long MiB = 1 << 20;

    private static GrowthTrend Feed(Func<int, double> mibAt, int seconds = 60)
    {
        var t = GrowthTrend.Default();
        for (var s = 0; s <= seconds; s++) t.Add(T0.AddSeconds(s), (long)(mibAt(s) * MiB));
        return t;
    }

    [Fact]
    public void A_steady_rise_is_a_leak_with_its_rate_and_time_to_the_limit()
    {
        var e = Feed(s => 50 + 0.5 * s)!.Estimate();
        e.Should().NotBeNull();
        e!.MbPerMinute.Should().BeApproximately(30, 0.01);
        e.Latest.Should().Be(80 * MiB);
        e.TimeTo(200 * MiB).Should().BeCloseTo(TimeSpan.FromSeconds(240), TimeSpan.FromSeconds(1));
        e.TimeTo(null).Should().BeNull();
        e.TimeTo(70 * MiB).Should().BeNull("already past the limit");
    }

    [Fact]
    public void A_noisy_steady_rise_is_still_a_leak()
    {
        var rng = new Random(7);
        Feed(s => 60 + 0.4 * s + rng.NextDouble() * 3).Estimate().Should().NotBeNull();
    }

    [Fact]
    public void A_flat_process_with_garbage_collection_sawtooth_is_not()
    {
        Feed(s => 80 + (s % 10) * 1.5).Estimate().Should().BeNull();
    }

    [Fact]
    public void A_warm_up_that_levels_off_is_not()
    {
        Feed(s => 40 + 60 * (1 - Math.Exp(-s / 8.0))).Estimate().Should().BeNull();
    }

    [Fact]
    public void A_small_rise_is_not_worth_a_warning()
    {
        Feed(s => 100 + 0.05 * s).Estimate().Should().BeNull("3 MiB in a minute is below the floor");
    }

    [Fact]
    public void Falling_memory_is_not()
    {
        Feed(s => 200 - 0.5 * s).Estimate().Should().BeNull();
    }

    [Fact]
    public void Too_short_a_span_or_too_few_samples_says_nothing_yet()
    {
        Feed(s => 50 + 2 * s, seconds: 10).Estimate().Should().BeNull("15 s of samples at least");
        var sparse = GrowthTrend.Default();
        for (var s = 0; s <= 60; s += 10) sparse.Add(T0.AddSeconds(s), (50 + 2 * s) * MiB);
        sparse.Estimate().Should().BeNull("10 samples at least");
    }

    [Fact]
    public void Old_samples_leave_the_window_and_reset_forgets_everything()
    {
        // A leak long ago, flat for the last two minutes: no longer a leak.
        var t = GrowthTrend.Default();
        for (var s = 0; s <= 300; s++) t.Add(T0.AddSeconds(s), (long)((s < 120 ? 50 + s : 170) * MiB));
        t.Estimate().Should().BeNull();
        t.Count.Should().BeLessThanOrEqualTo(121);
        var leak = Feed(s => 50 + s);
        leak.Estimate().Should().NotBeNull();
        leak.Reset();
        leak.Estimate().Should().BeNull();
    }

    [Fact]
    public void Samples_out_of_order_are_ignored()
    {
        var t = Feed(s => 50 + 0.5 * s);
        t.Add(T0.AddSeconds(10), 1);
        t.Estimate()!.Latest.Should().Be(80 * MiB);
    }

    [Fact]
    public void A_long_series_gives_the_figures_of_the_plain_two_pass_fit_after_every_sample()
    {
        // Four hours of samples at uneven intervals: leaks, plateaus, sawtooth, warm-ups, drops, noise, gaps longer
        // than the window. After each sample the running sums must say what a fit of the whole window says.
        var rng = new Random(13);
        var trend = GrowthTrend.Default();
        var reference = new TwoPassTrend(TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(15), 10);
        var at = T0;
        double mib = 50;
        int leaks = 0, compared = 0;
        for (var i = 0; i < 15_000; i++)
        {
            var phase = i / 600 % 5;
            mib = phase switch
            {
                0 => mib + 0.3 + rng.NextDouble() * 0.4,
                1 => mib + (rng.NextDouble() - 0.5) * 2,
                2 => 80 + i % 10 * 1.5,
                3 => mib + 2 * Math.Exp(-(i % 600) / 30.0),
                _ => Math.Max(10, mib - rng.NextDouble()),
            };
            at += i % 2_000 == 1_999 ? TimeSpan.FromMinutes(3) : TimeSpan.FromMilliseconds(rng.Next(400, 1_600));
            var bytes = (long)(mib * MiB) + rng.Next(0, 4096);
            trend.Add(at, bytes);
            reference.Add(at, bytes);
            if (i % 7 == 3) { trend.Add(at - TimeSpan.FromSeconds(1), 1); reference.Add(at - TimeSpan.FromSeconds(1), 1); }
            trend.Count.Should().Be(reference.Count);
            var got = trend.Estimate();
            var want = reference.Estimate();
            (got is null).Should().Be(want is null, $"sample {i}: leak {want} but got {got}");
            if (want is null) continue;
            leaks++;
            got!.BytesPerSecond.Should().BeApproximately(want.BytesPerSecond, Math.Abs(want.BytesPerSecond) * 1e-9, $"sample {i}");
            got.Fit.Should().BeApproximately(want.Fit, 1e-9, $"sample {i}");
            got.Span.Should().Be(want.Span);
            got.Latest.Should().Be(want.Latest);
            compared++;
        }
        leaks.Should().BeGreaterThan(1_000, "the series has leaks to compare");
        compared.Should().Be(leaks);
    }

    [Fact]
    public void A_flood_of_samples_stays_within_capacity_and_costs_the_same_per_sample()
    {
        // 200,000 samples a millisecond apart: inside a two-minute window, 120,000 of them would stay.
        var t = GrowthTrend.Default();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 200_000; i++) t.Add(T0.AddMilliseconds(i), (50 * MiB) + i * 1024L);
        clock.Stop();
        t.Count.Should().Be(GrowthTrend.Capacity);
        clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(10), "each sample costs the same, not the length of the window");
        t.Estimate().Should().BeNull("the last 2048 samples span 2 s, too short to judge");
        // One a second from then on: once the flood has left the window the trend is judged as usual again.
        for (var s = 1; s <= 60; s++) t.Add(T0.AddSeconds(1_000 + s), (long)((50 + 0.5 * s) * MiB));
        t.Estimate()!.MbPerMinute.Should().BeApproximately(30, 0.01);
    }

    [Fact]
    public void A_figure_no_process_can_have_is_not_a_sample()
    {
        var t = Feed(s => 50 + 0.5 * s);
        t.Add(T0.AddSeconds(61), -1);
        t.Add(T0.AddSeconds(62), long.MaxValue);
        t.Add(T0.AddSeconds(63), GrowthTrend.MaxBytes);
        t.Count.Should().Be(61);
        t.Estimate()!.Latest.Should().Be(80 * MiB);
    }

    /// <summary>The fit as it was before the running sums: every sample of the window, two passes, in doubles.</summary>
    private sealed class TwoPassTrend(TimeSpan window, TimeSpan minSpan, int minSamples)
    {
        private readonly Queue<(DateTimeOffset At, long Bytes)> _samples = new();

        public int Count => _samples.Count;

        public void Add(DateTimeOffset at, long bytes)
        {
            if (_samples.Count > 0 && at <= _samples.Last().At) return;
            _samples.Enqueue((at, bytes));
            while (_samples.Count > 0 && at - _samples.Peek().At > window) _samples.Dequeue();
        }

        public GrowthEstimate? Estimate()
        {
            if (_samples.Count < minSamples) return null;
            var points = _samples.ToArray();
            var span = points[^1].At - points[0].At;
            if (span < minSpan) return null;
            var (slope, intercept, fit) = Fit(points, points[0].At);
            if (slope <= 0 || fit < GrowthTrend.MinFit) return null;
            var (laterSlope, _, _) = Fit(points[(points.Length / 2)..], points[0].At);
            if (laterSlope < slope / 2) return null;
            var rise = slope * span.TotalSeconds;
            var start = Math.Max(intercept, 1);
            if (rise < GrowthTrend.MinRiseBytes || rise < start * GrowthTrend.MinRiseFraction) return null;
            return new GrowthEstimate(slope, fit, span, points[^1].Bytes);
        }

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
}
