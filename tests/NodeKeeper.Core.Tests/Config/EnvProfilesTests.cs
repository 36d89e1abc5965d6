using NodeKeeper.Core.Config;
using static NodeKeeper.Core.Tests.Config.ConfigKit;

namespace NodeKeeper.Core.Tests.Config;

/// <summary>env_NAME tables: read like env, merged over it only when chosen, and a typo of env_file still caught.</summary>
public class EnvProfilesTests
{
    [Fact]
    public void Profiles_are_read_and_merged_only_when_chosen_over_the_defaults_ones()
    {
        var app = LoadApp("""
            [defaults]
            env_staging = { NODE_ENV = "staging", DEBUG = "1" }

            [[app]]
            name = "api"
            script = "server.js"
            env = { NODE_ENV = "development", A = "1" }
            env_production = { NODE_ENV = "production", DB = "postgres://db/shop" }
            """);

        app.EnvProfiles.Keys.Should().BeEquivalentTo(["production", "staging"]);
        app.MergedEnv().Should().Equal(new Dictionary<string, string> { ["NODE_ENV"] = "development", ["A"] = "1" });
        (app with { EnvProfile = "production" }).MergedEnv().Should().Equal(
            new Dictionary<string, string> { ["NODE_ENV"] = "production", ["A"] = "1", ["DB"] = "postgres://db/shop" });
        (app with { EnvProfile = "staging" }).MergedEnv()["DEBUG"].Should().Be("1");
    }

    [Theory]
    [InlineData("env_flie = \".env\"", "unknown key \"env_flie\"")]
    [InlineData("env_production = \"prod\"", "env_production must be a table")]
    [InlineData("env_production = { \"A=B\" = \"1\" }", "env key \"A=B\" is not a valid variable name")]
    [InlineData("env_production = { A = [1] }", "env_production.A must be a string, number or boolean")]
    public void A_bad_profile_or_a_typo_of_env_file_is_an_error(string body, string message) =>
        Errors(App(body)).Should().ContainSingle().Which.Should().Contain(message);

    [Theory]
    [InlineData("production", true)]
    [InlineData("qa-2", true)]
    [InlineData("file", false)]
    [InlineData("", false)]
    [InlineData("a b", false)]
    [InlineData("-x", false)]
    public void Profile_names(string name, bool valid) => EnvProfiles.ValidName(name).Should().Be(valid);
}
