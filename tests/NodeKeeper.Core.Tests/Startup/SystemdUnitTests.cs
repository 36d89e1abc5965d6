using NodeKeeper.Core.Startup;

namespace NodeKeeper.Core.Tests.Startup;

public sealed class SystemdUnitTests
{
    private static SystemdUnitOptions Options(bool userUnit = false) => new()
    {
        Nk = ["/usr/local/bin/nk"], Home = "/home/ann/.nodekeeper", UserUnit = userUnit, User = "ann", Group = "staff",
        SearchPath = "/home/ann/.nvm/versions/node/v22.11.0/bin:/usr/bin:/bin",
    };

    /// <summary>Section → its key=value lines in order (comments and blank lines dropped).</summary>
    private static Dictionary<string, List<(string Key, string Value)>> Parse(string text)
    {
        var sections = new Dictionary<string, List<(string, string)>>();
        List<(string, string)>? current = null;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#') || line.StartsWith(';')) continue;
            if (line.StartsWith('[') && line.EndsWith(']')) { sections[line[1..^1]] = current = []; continue; }
            current.Should().NotBeNull($"\"{line}\" is inside a section");
            var eq = line.IndexOf('=');
            eq.Should().BePositive($"\"{line}\" is key=value");
            current!.Add((line[..eq], line[(eq + 1)..]));
        }
        return sections;
    }

    private static string One(Dictionary<string, List<(string Key, string Value)>> unit, string section, string key) =>
        unit[section].Where(kv => kv.Key == key).Select(kv => kv.Value).Should().ContainSingle($"one {key}= in [{section}]").Subject;

    [Theory]
    [InlineData("home", "NODEKEEPER_HOME", 22)]
    [InlineData("path", "PATH", 9)]
    [InlineData("user", "the user", 4)]
    [InlineData("nk", "the path of nk", 5)]
    public void A_control_character_in_any_value_is_refused_with_where_it_is(string field, string what, int position)
    {
        const string Injected = "\nExecStartPre=/bin/sh -c 'id > /tmp/owned'";
        var o = field switch
        {
            "home" => Options() with { Home = "/home/ann/.nodekeeper" + Injected },
            "path" => Options() with { SearchPath = "/usr/bin" + Injected },
            "user" => Options() with { User = "ann" + Injected },
            _ => Options() with { Nk = ["/usr" + Injected] },
        };

        SystemdUnit.Check(o).Should().StartWith($"{what} contains a control character (U+000A) at position {position}:");
        FluentActions.Invoking(() => SystemdUnit.Generate(o)).Should().Throw<ArgumentException>();
        SystemdUnit.Check(Options()).Should().BeNull();
    }

    [Fact]
    public void A_system_unit_runs_the_daemon_as_the_user_with_its_home_and_stops_through_the_daemon()
    {
        var unit = Parse(SystemdUnit.Generate(Options()));
        unit.Keys.Should().Equal("Unit", "Service", "Install");
        One(unit, "Unit", "After").Should().Be("network-online.target");
        One(unit, "Unit", "Wants").Should().Be("network-online.target");
        One(unit, "Service", "Type").Should().Be("notify");
        One(unit, "Service", "NotifyAccess").Should().Be("main");
        One(unit, "Service", "User").Should().Be("ann");
        One(unit, "Service", "Group").Should().Be("staff");
        unit["Service"].Where(kv => kv.Key == "Environment").Select(kv => kv.Value).Should().Equal(
            "NODEKEEPER_HOME=/home/ann/.nodekeeper", "PATH=/home/ann/.nvm/versions/node/v22.11.0/bin:/usr/bin:/bin");
        One(unit, "Service", "WorkingDirectory").Should().Be("/home/ann/.nodekeeper");
        One(unit, "Service", "ExecStart").Should().Be("/usr/local/bin/nk daemon");
        One(unit, "Service", "ExecStartPost").Should().Be("-/usr/local/bin/nk resurrect --no-wait");
        One(unit, "Service", "ExecReload").Should().Be("/usr/local/bin/nk reload all");
        unit["Service"].Should().NotContain(kv => kv.Key == "ExecStop");
        One(unit, "Service", "KillMode").Should().Be("mixed");
        One(unit, "Service", "TimeoutStopSec").Should().Be("60");
        One(unit, "Service", "Restart").Should().Be("always");
        One(unit, "Service", "RestartSec").Should().Be("2");
        One(unit, "Service", "LimitNOFILE").Should().Be("1048576");
        One(unit, "Install", "WantedBy").Should().Be("multi-user.target");
    }

    [Fact]
    public void A_user_unit_has_no_user_no_system_targets_and_is_wanted_by_the_default_target()
    {
        var unit = Parse(SystemdUnit.Generate(Options(userUnit: true)));
        unit["Service"].Should().NotContain(kv => kv.Key == "User" || kv.Key == "Group" || kv.Key == "LimitNOFILE");
        unit["Unit"].Should().NotContain(kv => kv.Key == "After" || kv.Key == "Wants");
        One(unit, "Install", "WantedBy").Should().Be("default.target");
        One(unit, "Service", "Type").Should().Be("notify");
    }

    [Fact]
    public void Under_dotnet_the_command_is_the_host_and_the_dll()
    {
        var unit = Parse(SystemdUnit.Generate(Options() with { Nk = ["/usr/share/dotnet/dotnet", "/opt/nk/nk.dll"] }));
        One(unit, "Service", "ExecStart").Should().Be("/usr/share/dotnet/dotnet /opt/nk/nk.dll daemon");
        One(unit, "Service", "ExecReload").Should().Be("/usr/share/dotnet/dotnet /opt/nk/nk.dll reload all");
    }

    [Fact]
    public void Paths_with_blanks_percent_or_dollar_are_quoted_and_escaped_for_systemd()
    {
        var unit = Parse(SystemdUnit.Generate(Options() with { Nk = ["/opt/my apps/nk"], Home = "/srv/100%/nk $HOME" }));
        One(unit, "Service", "ExecStart").Should().Be("\"/opt/my apps/nk\" daemon");
        unit["Service"].Should().Contain(("Environment", "\"NODEKEEPER_HOME=/srv/100%%/nk $HOME\""));
        One(unit, "Service", "WorkingDirectory").Should().Be("/srv/100%%/nk $HOME");
        SystemdUnit.Quote("/a/$x").Should().Be("/a/$$x");
        SystemdUnit.Quote("a\"b c").Should().Be("\"a\\\"b c\"");
    }

    [Fact]
    public void Relative_paths_are_refused()
    {
        var relative = () => SystemdUnit.Generate(Options() with { Nk = ["nk"] });
        relative.Should().Throw<ArgumentException>();
        var home = () => SystemdUnit.Generate(Options() with { Home = ".nodekeeper" });
        home.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void Install_paths_and_the_commands_to_run()
    {
        SystemdUnit.SystemUnitPath.Should().Be("/etc/systemd/system/nodekeeper.service");
        SystemdUnit.UserUnitPath("/home/ann", null).Should().Be("/home/ann/.config/systemd/user/nodekeeper.service");
        SystemdUnit.UserUnitPath("/home/ann", "/xdg").Should().Be("/xdg/systemd/user/nodekeeper.service");
        SystemdUnit.EnableCommands(false).Should().Equal("systemctl daemon-reload", "systemctl enable --now nodekeeper");
        SystemdUnit.EnableCommands(true).Should().Equal("systemctl --user daemon-reload", "systemctl --user enable --now nodekeeper");
    }
}
