using NodeKeeper.Core.Config;
using static NodeKeeper.Core.Tests.Config.ConfigKit;

namespace NodeKeeper.Core.Tests.Config;

public class ConfigLoaderTests
{
    private static readonly Dictionary<string, string> SpecFiles = new() { ["/srv/shop/.env"] = SpecEnvFile };

    [Fact]
    public void Spec_example_loads_every_key()
    {
        var result = Load(SpecExample, SpecFiles);

        result.Errors.Should().BeEmpty();
        var config = result.Config!;
        config.Path.Should().Be("/srv/shop/nodekeeper.toml");
        config.Daemon.Should().Be(new DaemonSpec("127.0.0.1:9615"));
        var expected = new AppSpec
        {
            Name = "api",
            Script = "/srv/shop/server.js",
            Cwd = "/srv/shop",
            Args = ["--verbose"],
            NodeArgs = ["--enable-source-maps"],
            Interpreter = "node",
            MaxOldSpaceSizeMb = 512,
            Env = new Dictionary<string, string> { ["NODE_ENV"] = "production" },
            EnvFile = "/srv/shop/.env",
            EnvFromFile = new Dictionary<string, string>
            {
                ["DB_URL"] = "postgres://db:5432/shop",
                ["SESSION_SECRET"] = "s3cr3t $HOME",
                ["NODE_ENV"] = "development",
            },
            Instances = 2,
            Port = 3000,
            PortMode = PortMode.Shared,
            Ready = ReadyMode.Listen,
            ListenTimeout = TimeSpan.FromSeconds(10),
            Restart = RestartMode.Always,
            StopExitCodes = [0],
            MinUptime = TimeSpan.FromSeconds(2),
            MaxRestarts = 10,
            RestartDelay = TimeSpan.FromMilliseconds(100),
            MaxRestartDelay = TimeSpan.FromSeconds(15),
            KillSignal = "SIGTERM",
            KillTimeout = TimeSpan.FromSeconds(5),
            MaxMemory = 800 * MiB,
            MaxOpenFiles = 65536,
            Health = new HealthSpec("http://127.0.0.1:3000/health", TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(2), 3),
            Watch = ["/srv/shop/src"],
            IgnoreWatch = ["*.log"],
            User = "www-data",
            Log = new LogSpec("/srv/shop/logs/api.out.log", "/srv/shop/logs/api.err.log", 10 * MiB, 5, true),
        };
        config.Apps.Should().ContainSingle().Which.Should().BeEquivalentTo(expected, o => o.ComparingByMembers<AppSpec>());
        config.Apps[0].MergedEnv()["NODE_ENV"].Should().Be("production", "keys in env win over the env file");
    }

    [Fact]
    public void Keys_other_than_the_defaults_are_read_as_written()
    {
        var app = LoadApp(App("""
            args = []
            interpreter = "/opt/node/bin/node"
            instances = 3
            port = 8080
            port_mode = "increment"
            ready = "message"
            listen_timeout = "1m"
            restart = "on-failure"
            stop_exit_codes = [0, 2, 143]
            min_uptime = "1.5s"
            max_restarts = 0
            restart_delay = "250ms"
            max_restart_delay = "1h"
            kill_signal = "SIGINT"
            kill_timeout = "0s"
            max_memory = "1.5G"
            max_old_space_size = "2G"
            max_open_files = 1024
            health = { url = "https://localhost:8080/up" }
            log = { max_size = "512K", keep = 0 }
            """));

        app.Interpreter.Should().Be("/opt/node/bin/node");
        app.Instances.Should().Be(3);
        app.Port.Should().Be(8080);
        app.PortMode.Should().Be(PortMode.Increment);
        app.Ready.Should().Be(ReadyMode.Message);
        app.ListenTimeout.Should().Be(TimeSpan.FromMinutes(1));
        app.Restart.Should().Be(RestartMode.OnFailure);
        app.StopExitCodes.Should().Equal(0, 2, 143);
        app.MinUptime.Should().Be(TimeSpan.FromMilliseconds(1500));
        app.MaxRestarts.Should().Be(0);
        app.RestartDelay.Should().Be(TimeSpan.FromMilliseconds(250));
        app.MaxRestartDelay.Should().Be(TimeSpan.FromHours(1));
        app.KillSignal.Should().Be("SIGINT");
        app.KillTimeout.Should().Be(TimeSpan.Zero);
        app.MaxMemory.Should().Be(1536 * MiB);
        app.MaxOldSpaceSizeMb.Should().Be(2048);
        app.MaxOpenFiles.Should().Be(1024);
        app.Health.Should().Be(new HealthSpec("https://localhost:8080/up", TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(2), 3));
        app.Log.Should().Be(new LogSpec($"{LogDir}/api.out.log", $"{LogDir}/api.err.log", 512 * 1024, 0, false));
    }

    [Fact]
    public void Absent_keys_get_the_documented_defaults()
    {
        var app = LoadApp(App());

        app.Should().BeEquivalentTo(new AppSpec
        {
            Name = "api",
            Script = "/srv/shop/server.js",
            Cwd = "/srv/shop",
            Interpreter = "node",
            Instances = 1,
            Port = null,
            PortMode = PortMode.Shared,
            Ready = ReadyMode.Spawn,
            ListenTimeout = TimeSpan.FromSeconds(10),
            Restart = RestartMode.Always,
            StopExitCodes = [0],
            MinUptime = TimeSpan.FromSeconds(2),
            MaxRestarts = 10,
            RestartDelay = TimeSpan.FromMilliseconds(100),
            MaxRestartDelay = TimeSpan.FromSeconds(15),
            KillSignal = "SIGTERM",
            KillTimeout = TimeSpan.FromSeconds(5),
            Log = new LogSpec($"{LogDir}/api.out.log", $"{LogDir}/api.err.log", 10 * MiB, 5, false),
        }, o => o.ComparingByMembers<AppSpec>());
    }

    [Fact]
    public void Inline_tables_may_span_lines_and_end_with_a_comma_as_toml_1_1_allows()
    {
        // NodeKeeper reads TOML 1.0 plus TOML 1.1's inline tables (what Tomlyn reads): the README says so.
        var app = LoadApp(App("env = {\n  A = \"1\",\n  B = \"2\", # a comment\n}\nlog = { out = \"/tmp/a.log\", }\n"));
        app.Env.Should().Equal(new Dictionary<string, string> { ["A"] = "1", ["B"] = "2" });
        app.Log.Out.Should().Be("/tmp/a.log");
        // Still TOML: a key without a value is an error wherever the table ends.
        Errors(App("env = {\n  A =\n}\n")).Should().ContainSingle().Which.Should().StartWith("nodekeeper.toml:5:");
    }

    [Fact]
    public void Daemon_table_is_optional()
    {
        Load(App()).Config!.Daemon.Should().Be(new DaemonSpec(null));
    }

    [Fact]
    public void Drain_timeout_defaults_to_10s_and_takes_a_duration()
    {
        LoadApp(App("port = 3000\n")).DrainTimeout.Should().Be(TimeSpan.FromSeconds(10));
        LoadApp(App("port = 3000\ndrain_timeout = \"1m30s\"\n")).DrainTimeout.Should().Be(TimeSpan.FromSeconds(90));
        LoadApp(App("drain_timeout = \"0s\"\n")).DrainTimeout.Should().Be(TimeSpan.Zero);
    }

    [Fact]
    public void Drain_timeout_without_a_unit_is_an_error_at_its_value()
    {
        var result = Load(App("drain_timeout = 5\n"));
        result.Errors.Should().ContainSingle().Which.ToString().Should().MatchRegex(@"^nodekeeper\.toml:4:17: drain_timeout must be a duration with a unit");
    }

    [Fact]
    public void Ready_defaults_to_listen_when_a_port_is_set()
    {
        LoadApp(App("port = 3000\n")).Ready.Should().Be(ReadyMode.Listen);
    }

    [Fact]
    public void Ready_health_loads_for_any_program_on_its_own_port()
    {
        var py = LoadApp(App("interpreter = \"python3\"\nport = 3000\nready = \"health\"\nhealth = { url = \"http://127.0.0.1:3000/health\" }\n"));
        py.Ready.Should().Be(ReadyMode.Health);
        py.PortMode.Should().Be(PortMode.Increment, "an app that is not node listens on its own port");
        var node = LoadApp(App("port = 3000\nport_mode = \"increment\"\nready = \"health\"\nhealth = { url = \"http://localhost:3000/\" }\n"));
        node.Ready.Should().Be(ReadyMode.Health);
    }

    [Fact]
    public void Defaults_apply_to_every_app_that_does_not_set_the_key()
    {
        var result = Load("""
            [defaults]
            kill_timeout = "30s"
            restart = "on-failure"
            env = { NODE_ENV = "production" }
            health = { url = "http://127.0.0.1:3000/health", failures = 5 }
            log = { timestamps = true }

            [[app]]
            name = "web"
            script = "web.js"

            [[app]]
            name = "worker"
            script = "worker.js"
            restart = "always"
            env = { QUEUE = "jobs" }
            health = { url = "http://127.0.0.1:4000/health", max_lag = "750ms" }
            """);

        result.Errors.Should().BeEmpty();
        var (web, worker) = (result.Config!.Apps[0], result.Config.Apps[1]);
        web.KillTimeout.Should().Be(TimeSpan.FromSeconds(30));
        worker.KillTimeout.Should().Be(TimeSpan.FromSeconds(30));
        web.Restart.Should().Be(RestartMode.OnFailure);
        worker.Restart.Should().Be(RestartMode.Always, "a key in both: the app wins");
        web.Env.Should().Equal(new Dictionary<string, string> { ["NODE_ENV"] = "production" });
        worker.Env.Should().Equal(new Dictionary<string, string> { ["QUEUE"] = "jobs" }, "env from the app replaces env from [defaults] as a whole");
        web.Health!.Failures.Should().Be(5);
        worker.Health.Should().Be(new HealthSpec("http://127.0.0.1:4000/health", TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(2), 3, TimeSpan.FromMilliseconds(750)));
        web.Log.Should().Be(new LogSpec($"{LogDir}/web.out.log", $"{LogDir}/web.err.log", 10 * MiB, 5, true));
        worker.Log.Out.Should().Be($"{LogDir}/worker.out.log", "default log paths are per app even when log comes from [defaults]");
    }

    [Fact]
    public void The_reload_table_sets_canary_watch_and_the_failure_test_and_defaults_keep_the_rest()
    {
        var result = ConfigLoader.Load("""
            [defaults]
            reload = { watch = "2m" }

            [[app]]
            name = "web"
            script = "web.js"

            [[app]]
            name = "api"
            script = "api.js"
            reload = { canary = "30s", watch = "0s", min_failed = 10, max_failed_increase = 0.05 }
            """, "nodekeeper.toml", Dir, new LoadContext(LogDir, 4, _ => null));

        result.Errors.Should().BeEmpty();
        result.Config!.Apps[0].Reload.Should().Be(ReloadSpec.Default with { Watch = TimeSpan.FromMinutes(2) });
        result.Config.Apps[1].Reload.Should().Be(new ReloadSpec(TimeSpan.FromSeconds(30), TimeSpan.Zero, 10, 0.05));
        LoadApp(App("")).Reload.Should().Be(new ReloadSpec(TimeSpan.Zero, TimeSpan.FromSeconds(60), 5, 0.01), "no canary, a 60 s watch");
        LoadApp(App("")).HttpMetrics.Should().BeTrue();
    }

    [Theory]
    [InlineData("reload = { canary = \"10s\", max_failed_increase = 5 }", "4:50: reload.max_failed_increase must be a number from 0 to 1 (0.05 is 5 %), got 5")]
    [InlineData("reload = { min_failed = 0 }", "4:25: reload.min_failed must be between 1 and 1000000, got 0")]
    [InlineData("reload = \"30s\"", "4:10: reload must be a table such as { canary = \"30s\", watch = \"60s\" }, got \"30s\"")]
    [InlineData("http_metrics = \"no\"", "4:16: http_metrics must be true or false, got \"no\"")]
    [InlineData("port = 3000\nport_mode = \"increment\"\nreload = { canary = \"10s\" }",
        "6:10: reload.canary needs port_mode = \"shared\" for app \"api\": in increment mode the canary would need the port of instance 0 (set canary = \"0s\" or use shared mode)")]
    public void A_bad_reload_table_or_http_metrics_says_what_and_where(string line, string expected)
    {
        var result = ConfigLoader.Load(App(line + "\n"), "nodekeeper.toml", Dir, new LoadContext(LogDir, 4, _ => null));
        result.Errors.Select(e => e.ToString()).Should().Equal("nodekeeper.toml:" + expected);
    }

    [Fact]
    public void The_capture_table_sets_each_key_and_defaults_keep_the_rest()
    {
        LoadApp(App("")).Capture.Should().Be(CaptureSpec.Default);
        CaptureSpec.Default.Should().Be(new CaptureSpec(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(3), TimeSpan.FromMinutes(10),
            HeapCapture.Auto, TimeSpan.FromSeconds(60), 512 * MiB, 20, 1024 * MiB, true, WatchdogStart.OnLag));
        LoadApp(App("""
            capture = { stall = "0s", cpu = "10s", interval = "1h", heap = "always", heap_gap = "30s", max_heap = "2G", keep = 5, max_size = "300M", reports = false, watchdog = "always" }
            """)).Capture.Should().Be(new CaptureSpec(TimeSpan.Zero, TimeSpan.FromSeconds(10), TimeSpan.FromHours(1), HeapCapture.Always,
                TimeSpan.FromSeconds(30), 2048 * MiB, 5, 300 * MiB, false, WatchdogStart.Always));
        LoadApp(App("capture = { heap = \"never\" }")).Capture.Should().Be(CaptureSpec.Default with { Heap = HeapCapture.Never });
    }

    [Theory]
    [InlineData("capture = { heap = true }", "4:20: capture.heap must be \"auto\", \"always\" or \"never\", got true")]
    [InlineData("capture = { watchdog = \"eager\" }", "4:24: capture.watchdog must be \"on_lag\" or \"always\", got \"eager\"")]
    [InlineData("capture = { heap = \"Auto\" }", "4:20: capture.heap must be \"auto\", \"always\" or \"never\", got \"Auto\"")]
    [InlineData("capture = { stall = 500 }", "4:21: capture.stall must be a duration with a unit such as \"5s\", got 500")]
    [InlineData("capture = { cpu = \"0s\" }", "4:19: capture.cpu must be greater than 0, got \"0s\"")]
    [InlineData("capture = { cpu = \"10m\" }", "4:19: capture.cpu must be at most \"5m\" (a profile of a blocked loop needs seconds)")]
    [InlineData("capture = { keep = 0 }", "4:20: capture.keep must be between 1 and 10000, got 0")]
    [InlineData("capture = { max_size = \"10K\" }", "4:24: capture.max_size must be at least \"1M\", got \"10K\"")]
    [InlineData("capture = { snapshots = 2 }", "4:13: unknown key \"snapshots\" in capture")]
    [InlineData("capture = true", "4:11: capture must be a table such as { stall = \"500ms\", heap = \"auto\" }, got true")]
    public void A_bad_capture_table_says_what_and_where(string line, string expected)
    {
        var result = ConfigLoader.Load(App(line + "\n"), "nodekeeper.toml", Dir, new LoadContext(LogDir, 4, _ => null));
        result.Errors.Select(e => e.ToString()).Should().Equal("nodekeeper.toml:" + expected);
    }

    [Fact]
    public void Relative_paths_resolve_against_the_config_folder_and_script_against_cwd()
    {
        var app = LoadApp(App("""
            cwd = "apps/api"
            env_file = "config/../api.env"
            log = { out = "logs/api.log", err = "/var/log/api.err" }
            interpreter = "bin/node"
            """).Replace("server.js", "dist/server.js"), new Dictionary<string, string> { ["/srv/shop/api.env"] = "A=1" });

        app.Cwd.Should().Be("/srv/shop/apps/api");
        app.Script.Should().Be("/srv/shop/apps/api/dist/server.js");
        app.EnvFile.Should().Be("/srv/shop/api.env");
        app.EnvFromFile.Should().Equal(new Dictionary<string, string> { ["A"] = "1" });
        app.Log.Out.Should().Be("/srv/shop/logs/api.log");
        app.Log.Err.Should().Be("/var/log/api.err");
        app.Interpreter.Should().Be("/srv/shop/bin/node");
    }

    [Fact]
    public void Absolute_script_and_cwd_are_kept()
    {
        var app = LoadApp("[[app]]\nname = \"api\"\nscript = \"/opt/api/main.js\"\ncwd = \"/opt/api/\"\n");

        app.Script.Should().Be("/opt/api/main.js");
        app.Cwd.Should().Be("/opt/api", "a trailing slash is dropped");
    }

    [Fact]
    public void Watch_paths_are_relative_to_the_app_cwd()
    {
        LoadApp(App("cwd = \"api\"\nwatch = [\"src\", \"/etc/api\"]\n")).Watch.Should().Equal("/srv/shop/api/src", "/etc/api");
    }

    [Theory]
    [InlineData("watch = true", new[] { "/srv/shop/api" })]
    [InlineData("watch = false", new string[0])]
    [InlineData("watch = []", new string[0])]
    public void Watch_true_means_the_cwd_and_false_means_none(string line, string[] expected)
    {
        LoadApp(App("cwd = \"api\"\n" + line + "\n")).Watch.Should().Equal(expected);
    }

    [Fact]
    public void Instances_max_becomes_the_cpu_count()
    {
        LoadApp(App("instances = \"max\"\n"), cpus: 12).Instances.Should().Be(12);
    }

    [Fact]
    public void Env_values_of_any_scalar_type_become_strings()
    {
        var app = LoadApp(App("env = { S = \"x\", I = 42, F = 1.5, B = true, H = 0xff }\n"));

        app.Env.Should().Equal(new Dictionary<string, string> { ["S"] = "x", ["I"] = "42", ["F"] = "1.5", ["B"] = "true", ["H"] = "255" });
    }

    [Theory]
    [InlineData("TERM", "SIGTERM")]
    [InlineData("SIGUSR2", "SIGUSR2")]
    [InlineData("sigint", "SIGINT")]
    public void Kill_signal_is_normalised_to_its_SIG_name(string written, string expected)
    {
        LoadApp(App($"kill_signal = \"{written}\"\n")).KillSignal.Should().Be(expected);
    }

    [Fact]
    public void Sub_tables_and_dotted_keys_work_like_inline_tables()
    {
        var app = LoadApp(App("env.NODE_ENV = \"production\"\n\n[app.health]\nurl = \"http://127.0.0.1:3000/health\"\ninterval = \"5s\"\n"));

        app.Env.Should().Equal(new Dictionary<string, string> { ["NODE_ENV"] = "production" });
        app.Health!.Interval.Should().Be(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void Bom_and_crlf_line_ends_are_accepted()
    {
        var app = LoadApp("\uFEFF" + App("port = 3000\n").Replace("\n", "\r\n"));

        app.Name.Should().Be("api");
        app.Port.Should().Be(3000);
    }

    [Fact]
    public void Error_positions_are_right_with_a_bom_and_crlf()
    {
        Errors("\uFEFF" + App("port = 0\n").Replace("\n", "\r\n"))
            .Should().Equal("nodekeeper.toml:4:8: port must be between 1 and 65535, got 0");
    }

    [Fact]
    public void Several_apps_load_in_file_order()
    {
        var result = Load(App() + "\n[[app]]\nname = \"worker\"\nscript = \"worker.js\"\n");

        result.Config!.Apps.Select(a => a.Name).Should().Equal("api", "worker");
    }
}
