using NodeKeeper.IntegrationTests.Support;

namespace NodeKeeper.IntegrationTests;

public sealed class ConfigErrorTests
{
    [Theory]
    [InlineData("syntax", "[[app]]\nname = \"a\nscript = \"x.js\"\n", @"^nodekeeper\.toml:2:\d+: ")]
    [InlineData("type", "[[app]]\nname = \"a\"\nscript = \"x.js\"\nmax_restarts = \"ten\"\n", @"^nodekeeper\.toml:4:16: .*max_restarts.*whole number.*""ten""")]
    [InlineData("unknown key", "[[app]]\nname = \"a\"\nscript = \"x.js\"\nmax_restart = 3\n", @"^nodekeeper\.toml:4:1: .*max_restart.*did you mean ""max_restarts""")]
    [InlineData("duplicate", "[[app]]\nname = \"a\"\nscript = \"x.js\"\n[[app]]\nname = \"a\"\nscript = \"y.js\"\n", @"^nodekeeper\.toml:5:\d+: .*duplicate|^nodekeeper\.toml:5:\d+: .*""a"".*already")]
    [InlineData("unit", "[[app]]\nname = \"a\"\nscript = \"x.js\"\nkill_timeout = 5\n", @"^nodekeeper\.toml:4:16: .*unit")]
    public async Task Bad_config_prints_file_line_col_exits_2_and_starts_nothing(string kind, string toml, string pattern)
    {
        await using var home = new TestHome();
        home.WriteConfig(toml);
        var r = await home.RunAsync("start");
        r.Code.Should().Be(2, $"{kind}: {r}");
        r.Out.Should().BeEmpty();
        r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().Contain(l => System.Text.RegularExpressions.Regex.IsMatch(l, pattern), kind);
        File.Exists(Path.Combine(home.Home, "nk.sock")).Should().BeFalse("a bad config starts nothing, not even the daemon");
        Procs.OwnedBy(home.Home).Should().BeEmpty();
    }

    [Fact]
    public async Task Missing_config_is_a_usage_error()
    {
        await using var home = new TestHome();
        var r = await home.RunAsync("start", "nope.toml");
        r.Code.Should().Be(2);
        r.Err.Should().Contain("nope.toml");
    }

    [Fact]
    public async Task Unknown_app_and_usage_errors_have_their_exit_codes()
    {
        await using var home = new TestHome();
        var config = home.WriteConfig(TestHome.App("w", "worker.js"));
        await home.OkAsync("start", config);
        var r = await home.RunAsync("stop", "nosuch");
        r.Code.Should().Be(1);
        r.Err.Should().Contain("unknown app \"nosuch\"").And.Contain("w");
        (await home.RunAsync("stop")).Code.Should().Be(2);
        (await home.RunAsync("frobnicate")).Code.Should().Be(2);
        (await home.InstanceAsync("w")).Status.Should().Be("online", "a bad request leaves everything as it was");
    }
}
