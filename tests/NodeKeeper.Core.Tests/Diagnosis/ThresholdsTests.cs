using NodeKeeper.Core.Diagnosis;

namespace NodeKeeper.Core.Tests.Diagnosis;

public sealed class ThresholdsTests
{
    [Theory]
    [InlineData(4, 5, 80, 100, true)]
    [InlineData(4, 5, 79, 100, false)]
    [InlineData(9, 10, 9, 10, true)]
    [InlineData(9, 10, 899_999_999_999, 1_000_000_000_000, false)]
    [InlineData(9, 10, 5, 0, false)]
    [InlineData(9, 10, 0, -1, false)]
    public void A_share_is_reached_exactly_at_its_fraction_and_never_of_nothing(int num, int den, long part, long whole, bool reached)
    {
        new Share(num, den).Reached(part, whole).Should().Be(reached);
    }

    [Fact]
    public void The_table_says_what_the_readme_says()
    {
        // README: "open files at 80 % of the limit, the heap at 90 % of its limit, an event-loop p99 of 500 ms or more,
        // and no report for 10 s (a stalled loop)".
        Thresholds.OpenFiles.Percent.Should().Be(80);
        Thresholds.Heap.Percent.Should().Be(90);
        Thresholds.EventLoopLagMs.Should().Be(500);
        Thresholds.Stall.Should().Be(TimeSpan.FromSeconds(10));
    }
}
