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
}
