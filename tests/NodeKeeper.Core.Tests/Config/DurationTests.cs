using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Tests.Config;

public class DurationTests
{
    [Theory]
    [InlineData("250ms", 250)]
    [InlineData("5s", 5_000)]
    [InlineData("1.5s", 1_500)]
    [InlineData(".5s", 500)]
    [InlineData("2m", 120_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("1d", 86_400_000)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData(" 10 S ", 10_000)]
    [InlineData("0s", 0)]
    public void Durations_with_a_unit_parse(string text, long milliseconds)
    {
        Duration.TryParse(text, out var value, out var error).Should().BeTrue();
        error.Should().BeNull();
        value.Should().Be(TimeSpan.FromMilliseconds(milliseconds));
    }

    [Theory]
    [InlineData("5", "\"5\" needs a unit, such as \"5s\" (ms, s, m, h or d)")]
    [InlineData("5x", "\"5x\" has an unknown unit \"x\" (use ms, s, m, h or d)")]
    [InlineData("-5s", "\"-5s\" is negative")]
    [InlineData("", "\"\" is not a duration such as \"250ms\", \"5s\", \"2m\" or \"1h\"")]
    [InlineData("s", "\"s\" is not a duration such as \"250ms\", \"5s\", \"2m\" or \"1h\"")]
    [InlineData("1.2.3s", "\"1.2.3s\" is not a duration such as \"250ms\", \"5s\", \"2m\" or \"1h\"")]
    [InlineData("99999999999999999999999999999999999d", "\"99999999999999999999999999999999999d\" is too large")]
    [InlineData("9999999999999d", "\"9999999999999d\" is too large")]
    public void Bad_durations_say_why(string text, string expected)
    {
        Duration.TryParse(text, out _, out var error).Should().BeFalse();
        error.Should().Be(expected);
    }

    [Theory]
    [InlineData(0, "0s")]
    [InlineData(250, "250ms")]
    [InlineData(1_500, "1.5s")]
    [InlineData(5_000, "5s")]
    [InlineData(120_000, "2m")]
    [InlineData(5_400_000, "90m")]
    [InlineData(3_600_000, "1h")]
    [InlineData(172_800_000, "2d")]
    [InlineData(-5_000, "-5s")]
    public void Format_writes_the_shortest_form_that_parses_back(long milliseconds, string expected)
    {
        var span = TimeSpan.FromMilliseconds(milliseconds);
        Duration.Format(span).Should().Be(expected);
        if (milliseconds >= 0)
        {
            Duration.TryParse(expected, out var back, out _).Should().BeTrue();
            back.Should().Be(span);
        }
    }
}
