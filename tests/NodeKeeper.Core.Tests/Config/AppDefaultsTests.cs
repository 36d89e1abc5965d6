using NodeKeeper.Core.Config;
using static NodeKeeper.Core.Tests.Config.ConfigKit;

namespace NodeKeeper.Core.Tests.Config;

public class AppDefaultsTests
{
    [Fact]
    public void An_app_that_sets_only_name_and_script_loads_with_the_defaults_of_AppSpec()
    {
        var loaded = LoadApp(App());
        var bare = new AppSpec
        {
            Name = "api", Script = Dir + "/server.js", Cwd = Dir,
            Log = new LogSpec(LogDir + "/api.out.log", LogDir + "/api.err.log", AppDefaults.LogMaxSize, AppDefaults.LogKeep, AppDefaults.LogTimestamps),
        };
        loaded.Should().BeEquivalentTo(bare);
    }

    [Fact]
    public void A_health_table_with_only_a_url_gets_the_default_timings()
    {
        LoadApp(App("health = { url = \"http://127.0.0.1:3000/health\" }\n")).Health.Should().Be(
            new HealthSpec("http://127.0.0.1:3000/health", AppDefaults.HealthInterval, AppDefaults.HealthTimeout, AppDefaults.HealthFailures));
    }
}
