using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Tests.Config;

public class SizeTests
{
    [Theory]
    [InlineData("512K", 512L * 1024)]
    [InlineData("800M", 800L * 1024 * 1024)]
    [InlineData("2G", 2L * 1024 * 1024 * 1024)]
    [InlineData("1T", 1L << 40)]
    [InlineData("2gb", 2L * 1024 * 1024 * 1024)]
    [InlineData("10MB", 10L * 1024 * 1024)]
    [InlineData("1.5G", 1536L * 1024 * 1024)]
    [InlineData("100B", 100)]
    [InlineData(" 64 k ", 64 * 1024)]
    public void Sizes_with_a_unit_parse_as_powers_of_1024(string text, long bytes)
    {
        Size.TryParse(text, out var value, out var error).Should().BeTrue();
        error.Should().BeNull();
        value.Should().Be(bytes);
    }

    [Theory]
    [InlineData("800", "\"800\" needs a unit, such as \"800M\" (K, M, G or T)")]
    [InlineData("800X", "\"800X\" has an unknown unit \"X\" (use K, M, G or T)")]
    [InlineData("-1M", "\"-1M\" is negative")]
    [InlineData("M", "\"M\" is not a size such as \"512K\", \"800M\" or \"2G\"")]
    [InlineData("10000000T", "\"10000000T\" is too large")]
    public void Bad_sizes_say_why(string text, string expected)
    {
        Size.TryParse(text, out _, out var error).Should().BeFalse();
        error.Should().Be(expected);
    }

    [Theory]
    [InlineData(0, "0B")]
    [InlineData(512, "512B")]
    [InlineData(1536, "1.5K")]
    [InlineData(10L * 1024 * 1024, "10M")]
    [InlineData(2L * 1024 * 1024 * 1024, "2G")]
    [InlineData((1L << 20) - 1, "1M")]
    public void Format_uses_the_largest_unit(long bytes, string expected)
    {
        Size.Format(bytes).Should().Be(expected);
    }
}
