using NodeKeeper.Core.Captures;

namespace NodeKeeper.Core.Tests.Captures;

public class HeapGrowthTests
{
    private static HeapSummary Summary(params (string Name, long Count, long Size)[] classes) =>
        new(classes.Sum(c => c.Count), classes.Sum(c => c.Size),
            classes.ToDictionary(c => c.Name, c => new HeapClass(c.Count, c.Size)));

    [Fact]
    public void Compare_lists_the_constructors_that_grew_then_V8_s_groups_biggest_size_growth_first()
    {
        var before = Summary(("Session", 100, 4_000), ("(string)", 1_000, 50_000), ("(array)", 10, 1_000), ("Shrinking", 50, 5_000),
            ("Same", 10, 100), ("Fatter", 5, 100), ("MoreButSmaller", 5, 100), ("TieA", 1, 10), ("TieB", 1, 10));
        var after = Summary(("Session", 5_100, 204_000), ("(string)", 2_000, 90_000), ("(array)", 5_010, 301_000), ("Shrinking", 10, 1_000),
            ("Same", 10, 100), ("Fatter", 5, 1_100), ("MoreButSmaller", 6, 90), ("TieA", 2, 20), ("TieB", 11, 20),
            ("New", 3, 300));

        var grown = HeapSnapshotSummary.Compare(before, after);

        grown.Select(g => g.Class).Should().Equal("Session", "Fatter", "New", "TieB", "TieA", "MoreButSmaller", "(array)", "(string)");
        grown[0].Should().Be(new HeapGrowth("Session", 100, 5_100, 4_000, 204_000));
        grown[0].CountDelta.Should().Be(5_000);
        grown[0].SizeDelta.Should().Be(200_000);
        grown.Single(g => g.Class == "New").Should().Be(new HeapGrowth("New", 0, 3, 0, 300));
    }

    [Fact]
    public void Compare_of_a_summary_with_itself_is_empty()
    {
        var s = Summary(("Session", 100, 4_000));

        HeapSnapshotSummary.Compare(s, s).Should().BeEmpty();
    }

    [Theory]
    [InlineData(38_000, 50_000, 4_000_000, 5_242_880, "Session: +12,000 objects (+1.2 MiB), now 50,000 (5.0 MiB)")]
    [InlineData(0, 1, 0, 1_536, "Session: +1 object (+1.5 KiB), now 1 (1.5 KiB)")]
    [InlineData(10, 10, 100, 612, "Session: +0 objects (+512 B), now 10 (612 B)")]
    [InlineData(10, 12, 2_048, 1_024, "Session: +2 objects (-1.0 KiB), now 12 (1.0 KiB)")]
    [InlineData(0, 2_000_000, 0, 2_000L * 1024 * 1024 * 1024, "Session: +2,000,000 objects (+2,048,000.0 MiB), now 2,000,000 (2,048,000.0 MiB)")]
    public void Describe_gives_one_line(long countBefore, long countAfter, long sizeBefore, long sizeAfter, string expected)
    {
        new HeapGrowth("Session", countBefore, countAfter, sizeBefore, sizeAfter).Describe().Should().Be(expected);
    }

    [Theory]
    [InlineData(0, "0 B")]
    [InlineData(1_023, "1,023 B")]
    [InlineData(1_024, "1.0 KiB")]
    [InlineData(1_048_575, "1,024.0 KiB")]
    [InlineData(1_048_576, "1.0 MiB")]
    [InlineData(-2_048, "-2.0 KiB")]
    [InlineData(long.MinValue, "-8,796,093,022,208.0 MiB")]
    public void FormatBytes_uses_binary_units_and_invariant_culture(long bytes, string expected)
    {
        HeapGrowth.FormatBytes(bytes).Should().Be(expected);
    }
}
