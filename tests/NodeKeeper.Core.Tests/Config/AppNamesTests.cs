using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Tests.Config;

public class AppNamesTests
{
    [Theory]
    [InlineData("api")]
    [InlineData(".env")]
    [InlineData("a..b")]
    [InlineData("ALL")]
    [InlineData("x-")]
    [InlineData("_")]
    public void Names_the_loader_takes_are_valid(string name)
    {
        AppNames.Validate(name).Should().BeNull();
    }

    [Theory]
    [InlineData("", "name must be 1 to 64 letters, digits, \".\", \"_\" or \"-\", got \"\"")]
    [InlineData("a b", "name must be 1 to 64 letters, digits, \".\", \"_\" or \"-\", got \"a b\"")]
    [InlineData("api\n", "name must be 1 to 64 letters, digits, \".\", \"_\" or \"-\", got \"api\\n\"")]
    [InlineData("..", "name \"..\" cannot name an app: a name made only of dots reads as a path")]
    [InlineData("-x", "name \"-x\" cannot name an app: it would read as an option of nk (names must not start with \"-\")")]
    [InlineData("all", "name \"all\" cannot name an app: \"all\" means every app to nk stop, restart, reload and delete")]
    public void Invalid_names_get_the_loaders_one_line_error(string name, string error)
    {
        AppNames.Validate(name).Should().Be(error);
    }

    [Fact]
    public void A_65_character_name_is_too_long()
    {
        AppNames.Validate(new string('n', 64)).Should().BeNull();
        AppNames.Validate(new string('n', 65)).Should().StartWith("name must be 1 to 64");
    }

    [Theory]
    [InlineData("api", "api")]
    [InlineData("my app!", "my-app-")]
    [InlineData("all", "app-all")]
    [InlineData("-api", "api")]
    [InlineData("--", "app")]
    [InlineData("..", "app")]
    [InlineData("é", "app")]
    [InlineData("!all", "app-all")]
    public void Make_valid_keeps_what_it_can(string name, string valid)
    {
        AppNames.MakeValid(name).Should().Be(valid);
        AppNames.Validate(valid).Should().BeNull();
    }

    [Fact]
    public void Make_valid_cuts_to_64_before_it_looks_at_what_is_left()
    {
        AppNames.MakeValid(new string('.', 64) + "x").Should().Be("app");
        AppNames.MakeValid(new string('a', 70)).Should().Be(new string('a', 64));
    }
}
