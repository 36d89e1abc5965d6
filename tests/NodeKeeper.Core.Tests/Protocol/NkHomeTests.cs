using NodeKeeper.Core.Protocol;

namespace NodeKeeper.Core.Tests.Protocol;

public sealed class NkHomeTests
{
    private const string Home = "/home/ann/.nodekeeper";

    private static readonly Dictionary<string, Func<string, string>> Files = new()
    {
        ["socket"] = NkHome.Socket, ["lock"] = NkHome.Lock, ["pid"] = NkHome.Pid, ["daemon log"] = NkHome.DaemonLog,
        ["logs"] = NkHome.Logs, ["state"] = NkHome.State, ["dump"] = NkHome.Dump, ["preload"] = NkHome.Preload,
        ["public preload record"] = NkHome.PublicPreloadRecord,
    };

    [Fact]
    public void Every_file_is_directly_in_the_home_under_a_name_of_its_own()
    {
        var paths = Files.ToDictionary(f => f.Key, f => f.Value(Home));
        paths.Values.Should().OnlyContain(p => Path.GetDirectoryName(p) == Home);
        paths.Values.Select(Path.GetFileName).Should().OnlyHaveUniqueItems();
    }

    /// <summary>The names the contract gives users (SPEC.md: the home's layout), who look for them and back them up.</summary>
    [Theory]
    [InlineData("socket", "nk.sock")]
    [InlineData("pid", "nk.pid")]
    [InlineData("daemon log", "daemon.log")]
    [InlineData("logs", "logs")]
    [InlineData("dump", "dump.json")]
    [InlineData("state", "state.json")]
    public void The_files_users_know_keep_their_names(string file, string name) =>
        Files[file](Home).Should().Be($"{Home}/{name}");

    [Fact]
    public void The_home_is_NODEKEEPER_HOME_when_set_else_dot_nodekeeper_in_the_users_folder()
    {
        NkHome.Path("/srv/nk", "/home/ann").Should().Be("/srv/nk");
        NkHome.Path("/srv/nk/../nk2", "/home/ann").Should().Be("/srv/nk2", "a home is a full path, whatever was written");
        NkHome.Path(null, "/home/ann").Should().Be("/home/ann/.nodekeeper");
        NkHome.Path("", "/home/ann").Should().Be("/home/ann/.nodekeeper", "an empty NODEKEEPER_HOME is not set");
    }
}
