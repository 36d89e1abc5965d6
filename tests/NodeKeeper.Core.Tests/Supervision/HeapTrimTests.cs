using NodeKeeper.Core.Supervision;

namespace NodeKeeper.Core.Tests.Supervision;

public class HeapTrimTests
{
    private const long KiB = 1024, MiB = 1024 * KiB;

    /// <summary>Feeds one reading a second, each the given number of bytes after the one before; returns the seconds (from 1) that trimmed.</summary>
    private static List<int> Trims(HeapTrim trim, params long[] perSecond)
    {
        var trims = new List<int>();
        long total = 100 * MiB;
        trim.Observe(total).Should().BeFalse("the first reading is only the starting point");
        for (var i = 0; i < perSecond.Length; i++)
        {
            total += perSecond[i];
            if (trim.Observe(total)) trims.Add(i + 1);
        }
        return trims;
    }

    [Fact]
    public void A_steady_daemon_never_trims_however_long_it_runs()
    {
        // 40 KiB a second (10 apps' reports and the sampler) for an hour: 140 MiB in all, never a busy second.
        Trims(new HeapTrim(), Enumerable.Repeat(40 * KiB, 3600).ToArray()).Should().BeEmpty();
    }

    [Fact]
    public void A_burst_trims_once_on_the_first_quiet_second_after_it()
    {
        var seconds = new long[] { 10 * KiB, 3 * MiB, 2 * MiB, 1 * MiB, 10 * KiB, 10 * KiB, 10 * KiB };
        Trims(new HeapTrim(), seconds).Should().Equal(5);
    }

    [Fact]
    public void A_burst_smaller_than_the_threshold_waits_until_enough_was_allocated_since_the_last_trim()
    {
        // 3 MiB of burst, then quiet seconds: 4 MiB is reached only after 100 more quiet seconds of 10 KiB.
        var seconds = new[] { 3 * MiB }.Concat(Enumerable.Repeat(10 * KiB, 200)).ToArray();
        Trims(new HeapTrim(), seconds).Should().Equal(1 + 103);
    }

    [Fact]
    public void Each_burst_after_a_trim_trims_again_and_quiet_seconds_in_between_do_not()
    {
        var burst = new[] { 5 * MiB, 5 * MiB };
        var quiet = Enumerable.Repeat(1 * KiB, 30).ToArray();
        var trims = Trims(new HeapTrim(), [.. burst, .. quiet, .. burst, .. quiet, .. quiet]);
        trims.Should().Equal(3, 2 + 30 + 2 + 1);
    }

    [Fact]
    public void A_second_at_the_quiet_limit_counts_as_busy()
    {
        var trim = new HeapTrim(after: 1 * MiB, quietBelow: 256 * KiB);
        Trims(trim, 256 * KiB, 256 * KiB, 256 * KiB, 256 * KiB, 255 * KiB).Should().Equal(5);
    }
}
