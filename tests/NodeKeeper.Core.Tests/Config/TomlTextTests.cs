using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Tests.Config;

public class TomlTextTests
{
    [Theory]
    [InlineData("plain", "\"plain\"")]
    [InlineData("say \"hi\" C:\\x", "\"say \\\"hi\\\" C:\\\\x\"")]
    [InlineData("\b\t\n\f\r", "\"\\b\\t\\n\\f\\r\"")]
    [InlineData("\u0001\u001b[31m\u007f\u0085", "\"\\u0001\\u001B[31m\\u007F\\u0085\"")]
    [InlineData("héllo ✓ 😀", "\"héllo ✓ 😀\"")]
    public void Strings_are_basic_strings_with_every_control_character_escaped(string s, string toml)
    {
        TomlText.String(s).Should().Be(toml);
    }

    [Fact]
    public void A_lone_surrogate_becomes_the_replacement_character()
    {
        // Built at run time: an attribute's string cannot hold a lone surrogate.
        TomlText.String("a" + (char)0xD800 + "b").Should().Be("\"a\uFFFDb\"");
    }

    [Fact]
    public void What_it_writes_the_loader_reads_back()
    {
        var value = "q\"\\\b\t\n\f\r\u0001\u007f\u0085é😀";
        var loaded = ConfigKit.LoadApp(ConfigKit.App($"env = {{ {TomlText.Key("odd key.x")} = {TomlText.String(value)} }}\n"));
        loaded.Env.Should().Equal(new Dictionary<string, string> { ["odd key.x"] = value });
    }

    [Fact]
    public void A_long_value_in_a_message_is_quoted_the_same_way_and_cut_after_80_characters()
    {
        var value = "\t" + new string('x', 99);
        ConfigKit.Errors(ConfigKit.App($"restart = {TomlText.String(value)}\n")).Should().ContainSingle().Which.Should()
            .EndWith($", got \"\\t{new string('x', 79)}…\"");
    }

    [Theory]
    [InlineData("NODE_ENV", "NODE_ENV")]
    [InlineData("a-b_1", "a-b_1")]
    [InlineData("my.key", "\"my.key\"")]
    [InlineData("", "\"\"")]
    [InlineData("ÜBER", "\"ÜBER\"")]
    public void Keys_are_bare_when_they_can_be(string key, string toml)
    {
        TomlText.Key(key).Should().Be(toml);
    }

    [Fact]
    public void Arrays_are_one_line()
    {
        TomlText.Array(["a", "b c", "\""]).Should().Be("[\"a\", \"b c\", \"\\\"\"]");
    }
}
