using System.Diagnostics;
using static NodeKeeper.Core.Tests.Config.ConfigKit;

namespace NodeKeeper.Core.Tests.Config;

/// <summary>
/// An array or inline table of more than 10,000 items is refused before Tomlyn builds a syntax tree of it (issue 13,
/// item 13): half a million items in a 1 MiB file cost seconds and hundreds of megabytes.
/// </summary>
public class ItemBoundTests
{
    private static string Items(int n, string item) => string.Join(", ", Enumerable.Repeat(item, n));

    [Fact]
    public void Ten_thousand_items_load()
    {
        LoadApp(App($"args = [{Items(10_000, "\"a\"")}]\n")).Args.Should().HaveCount(10_000);
        LoadApp(App("env = { " + string.Join(", ", Enumerable.Range(0, 10_000).Select(i => $"K{i} = {i}")) + " }\n")).Env.Should().HaveCount(10_000);
        LoadApp(App($"args = [{Items(10_000, "\"a\"")},]\n")).Args.Should().HaveCount(10_000, "a trailing comma is no item");
    }

    [Fact]
    public void One_item_more_is_refused_at_the_opening_bracket()
    {
        Errors(App($"args = [{Items(10_001, "\"a\"")}]\n")).Should().Equal(
            "nodekeeper.toml:4:8: this array has more than 10000 items, the most nk reads");
        Errors(App($"stop_exit_codes = [\n  {Items(10_001, "0")}\n]\n")).Should().Equal(
            "nodekeeper.toml:4:19: this array has more than 10000 items, the most nk reads");
        Errors(App("env = { " + string.Join(", ", Enumerable.Range(0, 10_001).Select(i => $"K{i} = {i}")) + " }\n")).Should().Equal(
            "nodekeeper.toml:4:7: this inline table has more than 10000 keys, the most nk reads: write them under a [table] header");
    }

    [Fact]
    public void An_inner_array_is_counted_on_its_own()
    {
        Errors(App($"args = [[1], [{Items(10_001, "2")}]]\n")).Should().Equal(
            "nodekeeper.toml:4:14: this array has more than 10000 items, the most nk reads");
        // 10,000 arrays of two items each: the outer one has 10,000 items.
        Errors(App($"args = [{Items(10_000, "[1, 2]")}]\n")).Should().NotContain(e => e.Contains("more than", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("args = [\"{0}\"]")]
    [InlineData("args = ['{0}']")]
    [InlineData("args = [\"\"\"\n{0}\n\"\"\"]")]
    [InlineData("args = ['''\n{0}\n''']")]
    [InlineData("args = [\"\\\"{0}\"]")]
    [InlineData("args = [\"\"\"a\"\"\"\", \"{0}\"]")]
    [InlineData("args = [\"x\"] # [{0}")]
    public void Commas_in_strings_and_comments_are_no_items(string shape)
    {
        var commas = new string(',', 20_000);
        var result = Load(App(string.Format(System.Globalization.CultureInfo.InvariantCulture, shape, commas) + "\n"));
        result.Errors.Should().BeEmpty(string.Join("\n", result.Errors.Select(e => e.ToString()[..Math.Min(200, e.ToString().Length)])));
    }

    [Fact]
    public void Half_a_million_items_are_refused_in_milliseconds()
    {
        var text = App($"stop_exit_codes = [{string.Join(",", Enumerable.Repeat("0", 500_000))}]\n");
        var sw = Stopwatch.StartNew();
        var errors = Errors(text);
        sw.Stop();

        errors.Should().Equal("nodekeeper.toml:4:19: this array has more than 10000 items, the most nk reads");
        sw.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(1), "the count stops at the 10,001st item, before Tomlyn parses anything");
    }
}
