using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Tests.Config;

public class KeySuggesterTests
{
    private static readonly string[] Keys = ["max_restarts", "max_restart_delay", "restart_delay", "port", "log"];

    [Theory]
    [InlineData("max_restart", "max_restarts")]
    [InlineData("max_restart_dely", "max_restart_delay")]
    [InlineData("prot", "port")]
    [InlineData("PORT", "port")]
    [InlineData("logs", "log")]
    public void Nearest_key_is_suggested(string typo, string expected)
    {
        KeySuggester.Suggest(typo, Keys).Should().Be(expected);
    }

    [Theory]
    [InlineData("colour")]
    [InlineData("user_name")]
    public void Nothing_is_suggested_when_every_key_is_far(string typo)
    {
        KeySuggester.Suggest(typo, Keys).Should().BeNull();
    }

    [Theory]
    [InlineData("", "abc", 3)]
    [InlineData("kitten", "sitting", 3)]
    [InlineData("same", "same", 0)]
    public void Distance_is_levenshtein(string a, string b, int expected)
    {
        KeySuggester.Distance(a, b).Should().Be(expected);
    }
}
