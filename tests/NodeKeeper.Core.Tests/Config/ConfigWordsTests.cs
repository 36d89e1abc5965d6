using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Tests.Config;

public class ConfigWordsTests
{
    [Fact]
    public void Every_value_of_every_config_enum_has_a_word_that_parses_back()
    {
        RoundTrips(ConfigWords.Restart);
        RoundTrips(ConfigWords.PortMode);
        RoundTrips(ConfigWords.Ready);
    }

    private static void RoundTrips<T>(WordTable<T> table) where T : struct, Enum
    {
        foreach (var value in Enum.GetValues<T>())
        {
            table.TryParse(table.Word(value), out var back).Should().BeTrue();
            back.Should().Be(value);
        }
        table.Words.Should().OnlyHaveUniqueItems().And.HaveCount(Enum.GetValues<T>().Length);
    }

    [Fact]
    public void The_words_are_the_ones_of_the_spec()
    {
        RestartMode.OnFailure.Word().Should().Be("on-failure");
        PortMode.Increment.Word().Should().Be("increment");
        ReadyMode.Message.Word().Should().Be("message");
        ConfigWords.Restart.Words.Should().Equal("always", "on-failure", "never");
    }

    [Theory]
    [InlineData("On-Failure")]
    [InlineData("onfailure")]
    [InlineData("")]
    public void Other_spellings_name_nothing(string word)
    {
        ConfigWords.Restart.TryParse(word, out _).Should().BeFalse();
    }

    [Fact]
    public void The_built_in_ready_depends_on_the_port()
    {
        AppDefaults.Ready(hasPort: true).Should().Be(ReadyMode.Listen);
        AppDefaults.Ready(hasPort: false).Should().Be(ReadyMode.Spawn);
    }
}
