using System.Text.Json;
using NodeKeeper.Core.Config;
using NodeKeeper.Core.Import;

namespace NodeKeeper.Core.Tests.Import;

/// <summary>
/// `nk import`: ecosystem files as PM2's docs write them, mapped option group by option group, and what cannot be
/// mapped said with its reason. Kept as one file (over 400 lines): one translation, read from the first option to the last.
/// </summary>
public class EcosystemImporterTests
{
    private const string Eco = "/home/deploy/shop";
    private const long MiB = 1024 * 1024;

    /// <summary>Imports ecosystem JSON as if the file were /home/deploy/shop/ecosystem.config.js on a 4-CPU machine.</summary>
    private static ImportResult Import(string json, string? env = null, int cpus = 4, Func<string, bool>? exists = null)
    {
        using var doc = JsonDocument.Parse(json);
        return EcosystemImporter.Import(doc.RootElement, new ImportOptions
        {
            EcosystemDirectory = Eco,
            EnvName = env,
            CpuCount = cpus,
            HomeDirectory = "/home/deploy",
            FileExists = exists ?? (_ => true),
        });
    }

    /// <summary>Loads the output with NodeKeeper's own loader, from another folder than the ecosystem file's, on 8 CPUs.</summary>
    private static IReadOnlyList<AppSpec> Load(ImportResult r)
    {
        r.Errors.Should().BeEmpty();
        r.Ok.Should().BeTrue();
        var loaded = ConfigLoader.Load(r.Toml!, "nodekeeper.toml", "/etc/elsewhere", new LoadContext("/var/log/nk", 8, _ => "FROM_FILE=1\n"));
        loaded.Errors.Should().BeEmpty("the output must load:\n" + r.Toml);
        return loaded.Config!.Apps;
    }

    private static AppSpec LoadOne(ImportResult r) => Load(r).Should().ContainSingle().Subject;

    private static string Apps(params string[] apps) => "{\"apps\":[" + string.Join(",", apps) + "]}";

    [Fact]
    public void Cluster_app_whose_env_sets_a_numeric_PORT_gets_a_shared_port()
    {
        var r = Import(Apps("""{"name":"api","script":"server.js","instances":2,"exec_mode":"cluster","env":{"PORT":3000,"NODE_ENV":"production"}}"""));

        var app = LoadOne(r);
        app.Name.Should().Be("api");
        app.Script.Should().Be("/home/deploy/shop/server.js");
        app.Cwd.Should().Be(Eco);
        app.Instances.Should().Be(2);
        app.Port.Should().Be(3000);
        app.PortMode.Should().Be(PortMode.Shared);
        app.Ready.Should().Be(ReadyMode.Listen);
        app.Env.Should().Equal(new Dictionary<string, string> { ["NODE_ENV"] = "production" }, "NodeKeeper sets PORT from port");
        r.Notes.Should().BeEmpty();
        r.Toml.Should().Contain("port = 3000\nport_mode = \"shared\"");
    }

    [Fact]
    public void Instances_without_exec_mode_is_cluster_mode_as_in_PM2_and_max_stays_max()
    {
        var r = Import(Apps("""{"name":"api","script":"server.js","instances":"max","env":{"PORT":"8080"}}"""));

        var app = LoadOne(r);
        r.Toml.Should().Contain("instances = \"max\"");
        app.Instances.Should().Be(8, "the loader's machine decides what max is");
        app.Port.Should().Be(8080);
        app.PortMode.Should().Be(PortMode.Shared);
    }

    [Fact]
    public void PM2s_port_option_is_PORT()
    {
        var app = LoadOne(Import(Apps("""{"name":"api","script":"server.js","exec_mode":"cluster","instances":0,"port":3100}""")));
        app.Port.Should().Be(3100);
        app.Env.Should().BeEmpty();
    }

    [Fact]
    public void Fork_app_keeps_PORT_in_env_and_resolves_paths_against_its_cwd()
    {
        var r = Import(Apps("""
            {"name":"worker","script":"./jobs/worker.js","cwd":"backend","args":"--queue 'high prio' --verbose",
             "node_args":"--max-old-space-size=512 --enable-source-maps","env":{"PORT":"4000","TICK_MS":500,"DEBUG":false}}
            """));

        var app = LoadOne(r);
        app.Cwd.Should().Be("/home/deploy/shop/backend");
        app.Script.Should().Be("/home/deploy/shop/backend/jobs/worker.js");
        app.Args.Should().Equal("--queue", "high prio", "--verbose");
        app.NodeArgs.Should().Equal("--max-old-space-size=512", "--enable-source-maps");
        app.Instances.Should().Be(1);
        app.Port.Should().BeNull();
        app.Ready.Should().Be(ReadyMode.Spawn);
        app.Env.Should().Equal(new Dictionary<string, string> { ["PORT"] = "4000", ["TICK_MS"] = "500", ["DEBUG"] = "false" });
        r.Notes.Should().BeEmpty();
        r.Toml.Should().StartWith("# Imported by nk import from /home/deploy/shop/ecosystem.config.js.\n# Paths are absolute");
    }

    [Fact]
    public void Args_and_interpreter_args_as_arrays()
    {
        var app = LoadOne(Import(Apps("""{"name":"a","script":"a.js","args":["--port",8080,true],"interpreter_args":["--inspect"],"exec_mode":"fork_mode"}""")));
        app.Args.Should().Equal("--port", "8080", "true");
        app.NodeArgs.Should().Equal("--inspect", "--enable-source-maps");
    }

    [Fact]
    public void Increment_var_PORT_is_increment_mode_from_env_PORT()
    {
        var r = Import(Apps("""{"name":"api","script":"a.js","instances":3,"exec_mode":"cluster","increment_var":"PORT","env":{"PORT":5000,"A":"b"}}"""));

        var app = LoadOne(r);
        app.PortMode.Should().Be(PortMode.Increment);
        app.Port.Should().Be(5000);
        app.Instances.Should().Be(3);
        app.Env.Should().Equal(new Dictionary<string, string> { ["A"] = "b" });
        r.Notes.Should().BeEmpty();
    }

    [Fact]
    public void Increment_var_of_another_variable_is_listed()
    {
        var r = Import(Apps("""{"name":"api","script":"a.js","instances":2,"exec_mode":"fork","increment_var":"WS_PORT","env":{"WS_PORT":7000}}"""));

        LoadOne(r).Port.Should().BeNull();
        r.Notes.Should().Equal("app \"api\": increment_var is not mapped: NodeKeeper increments only PORT (port_mode = \"increment\"), not \"WS_PORT\"");
    }

    [Fact]
    public void Cluster_app_without_a_numeric_PORT_is_said_to_share_no_port()
    {
        var r = Import(Apps("""{"name":"api","script":"a.js","instances":4,"exec_mode":"cluster","env":{"PORT":"${PORT}"}}"""));

        LoadOne(r).Port.Should().BeNull();
        r.Notes.Should().ContainSingle().Which.Should().StartWith("app \"api\": exec_mode \"cluster\" is not mapped: env sets no numeric PORT");

        var implicitCluster = Import(Apps("""{"name":"api","script":"a.js","instances":2}"""));
        LoadOne(implicitCluster).Instances.Should().Be(2);
        implicitCluster.Notes.Should().Equal("app \"api\": cluster mode (PM2's for instances without exec_mode) is not mapped: env sets no numeric PORT, so the instances share no port (set port in the output if the app listens on one)");
    }

    [Fact]
    public void Env_name_merges_env_NAME_over_env_as_pm2_start_env_does()
    {
        const string json = """
            {"apps":[{"name":"api","script":"a.js",
              "env":{"NODE_ENV":"development","A":1},
              "env_production":{"NODE_ENV":"production","DB":"postgres://db/shop"},
              "env_staging":{"NODE_ENV":"staging"}}]}
            """;

        var prod = Import(json, env: "production");
        LoadOne(prod).Env.Should().Equal(new Dictionary<string, string> { ["NODE_ENV"] = "production", ["A"] = "1", ["DB"] = "postgres://db/shop" });
        prod.Notes.Should().BeEmpty();
        prod.Toml.Should().Contain("with --env production.");
        LoadOne(prod).EnvProfiles.Keys.Should().Equal("staging");

        // Without --env every profile is kept for nk start --env NAME.
        var plain = Import(json);
        var app = LoadOne(plain);
        app.Env.Should().Equal(new Dictionary<string, string> { ["NODE_ENV"] = "development", ["A"] = "1" });
        plain.Notes.Should().BeEmpty();
        app.EnvProfiles["production"].Should().Equal(new Dictionary<string, string> { ["NODE_ENV"] = "production", ["DB"] = "postgres://db/shop" });
        app.EnvProfiles["staging"].Should().Equal(new Dictionary<string, string> { ["NODE_ENV"] = "staging" });
        (app with { EnvProfile = "production" }).MergedEnv()["NODE_ENV"].Should().Be("production");
        plain.Toml.Should().Contain("\n[app.env_production]\nNODE_ENV = \"production\"\nDB = \"postgres://db/shop\"\n");

        var missing = Import(json, env: "qa");
        LoadOne(missing).Env["NODE_ENV"].Should().Be("development");
        missing.Notes.Should().Contain("app \"api\": --env qa: it has no env_qa, so env is used as it is");
    }

    [Fact]
    public void Env_production_can_set_the_cluster_port()
    {
        var app = LoadOne(Import(Apps("""{"name":"api","script":"a.js","instances":2,"env":{"PORT":3000},"env_production":{"PORT":80}}"""), env: "production"));
        app.Port.Should().Be(80);
    }

    [Theory]
    [InlineData("\"300M\"", 300 * MiB, "300M")]
    [InlineData("\"1G\"", 1024 * MiB, "1G")]
    [InlineData("\"300K\"", 300 * 1024, "300K")]
    [InlineData("\"2048\"", 2048, "2K")]
    [InlineData("1073741824", 1024 * MiB, "1G")]
    [InlineData("1000", 1000, "1000B")]
    [InlineData("\"1.5G\"", 1536 * MiB, "1536M")]
    public void Max_memory_restart_is_max_memory_with_a_unit(string written, long bytes, string expected)
    {
        var r = Import(Apps($$"""{"name":"api","script":"a.js","max_memory_restart":{{written}}}"""));

        r.Toml.Should().Contain($"max_memory = \"{expected}\"");
        LoadOne(r).MaxMemory.Should().Be(bytes);
        r.Notes.Should().BeEmpty();
    }

    [Fact]
    public void Bad_max_memory_restart_is_listed()
    {
        var r = Import(Apps("""{"name":"api","script":"a.js","max_memory_restart":"lots"}"""));
        LoadOne(r).MaxMemory.Should().BeNull();
        r.Notes.Should().Equal("app \"api\": max_memory_restart is not mapped: \"lots\" is not a size such as \"300M\", \"1G\", \"512K\" or a number of bytes");
    }

    [Fact]
    public void Milliseconds_become_durations_with_a_unit()
    {
        var r = Import(Apps("""
            {"name":"api","script":"a.js","kill_timeout":1600,"listen_timeout":8000,"restart_delay":250,"min_uptime":"5s",
             "max_restarts":3,"wait_ready":true}
            """));

        var app = LoadOne(r);
        r.Toml.Should().Contain("kill_timeout = \"1.6s\"").And.Contain("listen_timeout = \"8s\"").And.Contain("fixed_restart_delay = \"250ms\"");
        app.KillTimeout.Should().Be(TimeSpan.FromMilliseconds(1600));
        app.ListenTimeout.Should().Be(TimeSpan.FromSeconds(8));
        app.FixedRestartDelay.Should().Be(TimeSpan.FromMilliseconds(250));
        app.MinUptime.Should().Be(TimeSpan.FromSeconds(5));
        app.MaxRestarts.Should().Be(3);
        app.Ready.Should().Be(ReadyMode.Message);
        r.Notes.Should().BeEmpty();
    }

    [Theory]
    [InlineData("1000", 1000)]
    [InlineData("\"1500\"", 1500)]
    [InlineData("\"2m\"", 120_000)]
    [InlineData("\"1h\"", 3_600_000)]
    public void Min_uptime_as_PM2_writes_it(string written, int ms)
    {
        LoadOne(Import(Apps($$"""{"name":"api","script":"a.js","min_uptime":{{written}}}"""))).MinUptime.Should().Be(TimeSpan.FromMilliseconds(ms));
    }

    [Fact]
    public void Exp_backoff_restart_delay_is_restart_delay_and_says_so()
    {
        var r = Import(Apps("""{"name":"api","script":"a.js","restart_delay":4000,"exp_backoff_restart_delay":100}"""));

        LoadOne(r).RestartDelay.Should().Be(TimeSpan.FromMilliseconds(100));
        r.Notes.Should().Equal(
            "app \"api\": restart_delay is not mapped: exp_backoff_restart_delay is used as restart_delay",
            "app \"api\": exp_backoff_restart_delay is written as restart_delay: NodeKeeper always backs off exponentially, doubling restart_delay after each unstable run up to max_restart_delay (15s)");
    }

    [Fact]
    public void Restart_delay_stays_a_fixed_wait_before_every_restart_as_in_PM2()
    {
        var r = Import(Apps("""{"name":"api","script":"a.js","restart_delay":30000}"""));

        var app = LoadOne(r);
        app.FixedRestartDelay.Should().Be(TimeSpan.FromSeconds(30));
        app.RestartDelay.Should().Be(AppDefaults.RestartDelay, "the backoff of unstable runs is NodeKeeper's own");
        r.Notes.Should().BeEmpty("the meaning is kept");
        LoadOne(Import(Apps("""{"name":"api","script":"a.js","restart_delay":0}"""))).FixedRestartDelay.Should().Be(TimeSpan.Zero);
    }

    [Fact]
    public void Apps_stop_with_SIGINT_as_in_PM2_unless_kill_signal_says_otherwise()
    {
        LoadOne(Import(Apps("""{"name":"api","script":"a.js"}"""))).KillSignal.Should().Be("SIGINT");
        LoadOne(Import(Apps("""{"name":"api","script":"a.js","kill_signal":"SIGTERM"}"""))).KillSignal.Should().Be("SIGTERM");
        LoadOne(Import(Apps("""{"name":"api","script":"a.js","kill_signal":"usr2"}"""))).KillSignal.Should().Be("SIGUSR2");
        var bad = Import(Apps("""{"name":"api","script":"a.js","kill_signal":"SIGNOPE"}"""));
        LoadOne(bad).KillSignal.Should().Be("SIGINT");
        bad.Notes.Should().Equal("app \"api\": kill_signal is not mapped: \"SIGNOPE\" is not a signal name such as \"SIGTERM\" (PM2's SIGINT is written)");
    }

    [Fact]
    public void An_app_not_ready_within_listen_timeout_counts_online_as_in_PM2()
    {
        // wait_ready, or a port (PM2's cluster mode waits for it to listen): PM2 counts it online after listen_timeout, 3 s by default.
        var waits = LoadOne(Import(Apps("""{"name":"api","script":"a.js","wait_ready":true}""")));
        waits.Should().Match<AppSpec>(a => a.Ready == ReadyMode.Message && a.NotReady == NotReadyAction.Online && a.ListenTimeout == TimeSpan.FromSeconds(3));
        var port = LoadOne(Import(Apps("""{"name":"api","script":"a.js","instances":2,"env":{"PORT":3000},"listen_timeout":20000}""")));
        port.Should().Match<AppSpec>(a => a.Ready == ReadyMode.Listen && a.NotReady == NotReadyAction.Online && a.ListenTimeout == TimeSpan.FromSeconds(20));
        var plain = Import(Apps("""{"name":"api","script":"a.js"}"""));
        plain.Toml!.Split("[[app]]")[1].Should().NotContain("not_ready").And.NotContain("listen_timeout", "an app online at spawn never waits");
    }

    [Fact]
    public void Autorestart_false_is_restart_never_and_stop_exit_codes_is_on_failure()
    {
        LoadOne(Import(Apps("""{"name":"a","script":"a.js","autorestart":false}"""))).Restart.Should().Be(RestartMode.Never);

        var onFailure = LoadOne(Import(Apps("""{"name":"a","script":"a.js","stop_exit_codes":[0,2]}""")));
        onFailure.Restart.Should().Be(RestartMode.OnFailure);
        onFailure.StopExitCodes.Should().Equal(0, 2);

        LoadOne(Import(Apps("""{"name":"a","script":"a.js","stop_exit_codes":3}"""))).StopExitCodes.Should().Equal(3);

        var both = Import(Apps("""{"name":"a","script":"a.js","autorestart":false,"stop_exit_codes":[0]}"""));
        LoadOne(both).Restart.Should().Be(RestartMode.Never);
        both.Notes.Should().Equal("app \"a\": stop_exit_codes is not mapped: autorestart is false, so no exit is restarted anyway");

        var always = Import(Apps("""{"name":"a","script":"a.js","autorestart":true}"""));
        LoadOne(always).Restart.Should().Be(RestartMode.Always);
        always.Notes.Should().BeEmpty();
    }

    [Fact]
    public void Watch_true_is_the_cwd_and_paths_resolve_against_it()
    {
        LoadOne(Import(Apps("""{"name":"a","script":"a.js","cwd":"app","watch":true}"""))).Watch.Should().Equal("/home/deploy/shop/app");
        LoadOne(Import(Apps("""{"name":"a","script":"a.js","watch":["src","/etc/app"]}"""))).Watch.Should().Equal("/home/deploy/shop/src", "/etc/app");

        var one = LoadOne(Import(Apps("""{"name":"a","script":"a.js","watch":"lib","ignore_watch":"node_modules *.log"}""")));
        one.Watch.Should().Equal("/home/deploy/shop/lib");
        one.IgnoreWatch.Should().Equal("node_modules", "*.log");

        var off = Import(Apps("""{"name":"a","script":"a.js","watch":false,"ignore_watch":["[\\/\\\\]\\./"]}"""));
        LoadOne(off).Watch.Should().BeEmpty();
        LoadOne(off).IgnoreWatch.Should().Equal("[\\/\\\\]\\./");
        off.Notes.Should().BeEmpty();
    }

    [Fact]
    public void Log_files_resolve_against_the_cwd_and_home()
    {
        var r = Import(Apps("""
            {"name":"a","script":"a.js","cwd":"app","out_file":"./logs/out.log","error_file":"~/logs/err.log","time":true,"merge_logs":true}
            """));

        var app = LoadOne(r);
        app.Log.Out.Should().Be("/home/deploy/shop/app/logs/out.log");
        app.Log.Err.Should().Be("/home/deploy/logs/err.log");
        app.Log.Timestamps.Should().BeTrue();
        r.Notes.Should().BeEmpty();
    }

    [Fact]
    public void Log_aliases_dev_null_and_log_date_format()
    {
        var r = Import(Apps("""
            {"name":"a","script":"a.js","output":"/dev/null","err_file":"/var/log/a.err","log_date_format":"YYYY-MM-DD HH:mm Z","merge_logs":false,"log_file":"combined.log"}
            """));

        var app = LoadOne(r);
        app.Log.Out.Should().Be("/var/log/nk/a.out.log", "NodeKeeper's default log file is used");
        app.Log.Err.Should().Be("/var/log/a.err");
        app.Log.Timestamps.Should().BeTrue();
        r.Notes.Should().Equal(
            "app \"a\": output \"/dev/null\" is not mapped: NodeKeeper always keeps logs, so the default log file is used (rotated at 10M, 5 kept)",
            "app \"a\": log_date_format is written as log.timestamps = true: NodeKeeper prefixes ISO-8601 UTC times, \"YYYY-MM-DD HH:mm Z\" is not kept",
            "app \"a\": merge_logs = false is not mapped: NodeKeeper writes every instance of an app into the same files, each line prefixed with [i]",
            "app \"a\": log_file is not mapped: NodeKeeper writes stdout and stderr to separate files (log.out, log.err), not to a combined one");
    }

    [Fact]
    public void Every_unmapped_option_is_listed_with_its_reason_in_the_order_written()
    {
        var r = Import(Apps("""
            {"name":"api","script":"a.js","cron_restart":"0 3 * * *","vizion":true,"post_update":["npm install"],
             "source_map_support":true,"namespace":"shop","treekill":false,"pid_file":"/run/api.pid","gid":"www",
             "shutdown_with_message":true,"watch_delay":1000,"kill_retry_time":100,"pmx":true,"autostart":false,
             "instance_var":"INSTANCE_ID","filter_env":["SECRET"],"bogus_option":1}
            """));

        LoadOne(r);
        r.Notes.Select(n => n.Split(": ")[1]).Should().Equal(
            "vizion is not mapped", "post_update is not mapped",
            "namespace is not mapped", "treekill is not mapped", "pid_file is not mapped", "gid is not mapped",
            "shutdown_with_message is not mapped", "watch_delay is not mapped", "kill_retry_time is not mapped", "pmx is not mapped",
            "autostart is not mapped", "instance_var is not mapped", "filter_env is not mapped", "bogus_option is not mapped");
        LoadOne(r).CronRestart.Should().Be("0 3 * * *");
        r.Notes.Should().Contain("app \"api\": bogus_option is not mapped: not a PM2 option");
        r.Notes.Should().AllSatisfy(n => n.Should().MatchRegex("^app \"api\": [a-z_]+ is not mapped: .+"));
    }

    [Theory]
    [InlineData("\"auto\"", 8, true)]
    [InlineData("\"4\"", 4, false)]
    [InlineData("\"2 workers\"", 2, false)]
    [InlineData("\"MAX\"", 8, false)]
    public void Instances_as_a_string_is_read_as_PM2_reads_it(string written, int count, bool noted)
    {
        var r = Import(Apps($$"""{"name":"a","script":"a.js","instances":{{written}}}"""), cpus: 4);
        // "max" loads as one per CPU of the loading machine: 8 here.
        LoadOne(r).Instances.Should().Be(count);
        r.Notes.Any(n => n.Contains("is written as \"max\": PM2 reads a string that is not a number as 0")).Should().Be(noted);
    }

    [Fact]
    public void Node_apps_get_source_maps_as_in_PM2_unless_disable_source_map_support()
    {
        LoadOne(Import(Apps("""{"name":"a","script":"a.js"}"""))).NodeArgs.Should().Equal("--enable-source-maps");
        LoadOne(Import(Apps("""{"name":"a","script":"a.js","node_args":"--enable-source-maps"}"""))).NodeArgs.Should().Equal("--enable-source-maps");
        LoadOne(Import(Apps("""{"name":"a","script":"a.js","disable_source_map_support":true}"""))).NodeArgs.Should().BeEmpty();
        var py = Import(Apps("""{"name":"a","script":"w.py","interpreter":"python3","source_map_support":true}"""));
        LoadOne(py).NodeArgs.Should().BeEmpty();
        py.Notes.Should().Equal("app \"a\": source_map_support is not mapped: source maps are node's, and the app is not node");
    }

    [Fact]
    public void Values_the_file_took_from_the_environment_or_the_machine_are_marked()
    {
        using var doc = JsonDocument.Parse(Apps("""
            {"name":"api","script":"a.js","cwd":"/srv/shop-v2/app","instances":2,
             "out_file":"/home/deploy/logs/api.log",
             "env":{"NODE_ENV":"production","DB":"postgres://db.internal/shop","FLAG":"1","OTHER":"fixed","HOST":"web-3"}}
            """));
        var r = EcosystemImporter.Import(doc.RootElement, new ImportOptions
        {
            EcosystemDirectory = Eco,
            FromEnvironment = new Dictionary<string, string> { ["NODE_ENV"] = "production", ["DB_URL"] = "postgres://db.internal/shop", ["RELEASE"] = "shop-v2", ["ONE"] = "1" },
            FromMachine = new Dictionary<string, string> { ["os.hostname()"] = "web-3", ["os.homedir()"] = "/home/deploy" },
            CpuCountsRead = [2],
        });

        r.Toml.Should().Contain("cwd = \"/srv/shop-v2/app\"  # from $RELEASE when imported\n")
            .And.Contain("instances = 2  # from this machine's CPU count when imported\n")
            .And.Contain("NODE_ENV = \"production\"  # from $NODE_ENV when imported\n")
            .And.Contain("DB = \"postgres://db.internal/shop\"  # from $DB_URL when imported\n")
            .And.Contain("FLAG = \"1\"  # from $ONE when imported\n")
            .And.Contain("OTHER = \"fixed\"\n")
            .And.Contain("HOST = \"web-3\"  # from os.hostname() when imported\n")
            .And.MatchRegex(@"\nlog = [^\n]*/home/deploy/logs/api\.log[^\n]*  # from os\.homedir\(\) when imported\n")
            .And.Contain("script = \"/srv/shop-v2/app/a.js\"  # from $RELEASE when imported\n");
        Load(r).Should().ContainSingle().Which.Env["DB"].Should().Be("postgres://db.internal/shop", "the comments leave the values as they are");
    }

    [Fact]
    public void Log_type_json_is_log_format_json()
    {
        LoadOne(Import(Apps("""{"name":"a","script":"a.js","log_type":"json","time":true}"""))).Log.Should().Match<LogSpec>(l => l.Format == LogFormat.Json && l.Timestamps);
        LoadOne(Import(Apps("""{"name":"a","script":"a.js","log_type":"raw"}"""))).Log.Format.Should().Be(LogFormat.Text);
        Import(Apps("""{"name":"a","script":"a.js","log_type":"xml"}""")).Notes.Should().Equal("app \"a\": log_type is not mapped: \"xml\" is not \"json\" or \"raw\"");
    }

    [Fact]
    public void Cron_restart_is_kept_and_a_bad_one_is_noted()
    {
        LoadOne(Import(Apps("""{"name":"a","script":"a.js","cron":"*/15 * * * *"}"""))).CronRestart.Should().Be("*/15 * * * *");
        LoadOne(Import(Apps("""{"name":"a","script":"a.js","cron_restart":"0 0 3 * * *"}"""))).CronRestart.Should().Be("0 0 3 * * *");
        LoadOne(Import(Apps("""{"name":"a","script":"a.js","cron_restart":0}"""))).CronRestart.Should().BeNull();
        var bad = Import(Apps("""{"name":"a","script":"a.js","cron_restart":"every day"}"""));
        LoadOne(bad).CronRestart.Should().BeNull();
        bad.Notes.Should().Equal("app \"a\": cron_restart is not mapped: \"every day\" is not a cron expression NodeKeeper reads (minute hour day month weekday, or with seconds first)");
    }

    [Fact]
    public void Options_set_to_what_NodeKeeper_does_anyway_are_not_listed()
    {
        var r = Import(Apps("""
            {"name":"api","script":"a.js","vizion":false,"treekill":true,"autorestart":true,"merge_logs":true,"watch":false,
             "wait_ready":false,"time":false,"instance_var":"NODE_APP_INSTANCE","pmx":false,"autostart":true,"log_file":false,
             "exec_mode":"fork","cwd":null,"windowsHide":true,"source_map_support":false}
            """));

        LoadOne(r);
        r.Notes.Should().BeEmpty();
    }

    [Fact]
    public void Strings_and_keys_are_quoted_so_every_value_comes_back_as_written()
    {
        var env = new Dictionary<string, string>
        {
            ["QUOTE"] = "say \"hi\"",
            ["BACKSLASH"] = "C:\\path\\",
            ["NEWLINES"] = "a\nb\r\nc",
            ["TAB"] = "a\tb",
            ["CONTROL"] = "\u0001\u001f\u007f",
            ["UNICODE"] = "héllo ✓ 😀",
            ["TRIPLE"] = "\"\"\"'''",
            ["my.dotted.key"] = "1",
            ["WITH SPACE"] = "2",
            ["ÜBER"] = "3",
            ["key\"quote"] = "4",
            ["[app]"] = "5",
            ["#"] = "6",
        };
        var json = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["apps"] = new[]
            {
                new Dictionary<string, object>
                {
                    ["name"] = "quoting",
                    ["script"] = "dir \"x\"/a\\b.js".Replace(" ", "_"),
                    ["cwd"] = "my dir",
                    ["args"] = new[] { "--msg=it's \"ok\"", "#not-a-comment", "a\\b" },
                    ["env"] = env,
                },
            },
        }, QuotingJson.Default.DictionaryStringObject);

        var r = Import(json);
        var app = LoadOne(r);
        app.Env.Should().Equal(env);
        app.Args.Should().Equal("--msg=it's \"ok\"", "#not-a-comment", "a\\b");
        app.Cwd.Should().Be("/home/deploy/shop/my dir");
        app.Script.Should().Be("/home/deploy/shop/my dir/dir_\"x\"/a\\b.js");
        r.Toml.Should().Contain("\"my.dotted.key\" = \"1\"").And.Contain("\"WITH SPACE\" = \"2\"").And.Contain("CONTROL = \"\\u0001\\u001F\\u007F\"");
    }

    [Fact]
    public void Odd_names_are_made_valid_and_unique()
    {
        var r = Import(Apps("""{"name":"my app!","script":"a.js"}""", """{"name":"api","script":"a.js"}""", """{"name":"api","script":"b.js"}"""));

        Load(r).Select(a => a.Name).Should().Equal("my-app-", "api", "api-2");
        r.Notes.Should().Equal(
            "app \"my-app-\": name \"my app!\" is written as \"my-app-\": NodeKeeper names are unique, 1 to 64 letters, digits, \".\", \"_\" or \"-\"",
            "app \"api-2\": name \"api\" is written as \"api-2\": NodeKeeper names are unique, 1 to 64 letters, digits, \".\", \"_\" or \"-\"");
    }

    [Fact]
    public void A_missing_name_comes_from_the_script_as_PM2_names_it()
    {
        var r = Import(Apps("""{"script":"api/server.js"}"""));
        LoadOne(r).Name.Should().Be("server");
        r.Notes.Should().Equal("app \"server\": it has no name: named \"server\" after its script, as PM2 names it");
    }

    [Fact]
    public void Append_env_to_name_with_env()
    {
        LoadOne(Import(Apps("""{"name":"api","script":"a.js","append_env_to_name":true}"""), env: "production")).Name.Should().Be("api-production");
    }

    [Fact]
    public void Negative_instances_are_CPUs_minus_N_on_this_machine()
    {
        var r = Import(Apps("""{"name":"api","script":"a.js","instances":-1,"env":{"PORT":3000}}"""), cpus: 4);

        LoadOne(r).Instances.Should().Be(3);
        r.Notes.Should().Equal("app \"api\": instances = -1 (CPUs minus 1) is written as 3, for the 4 CPUs of this machine: NodeKeeper has \"max\" but no \"max minus N\"");
        LoadOne(Import(Apps("""{"name":"api","script":"a.js","instances":-1}"""), cpus: 1)).Instances.Should().Be(1);
        Import(Apps("""{"name":"api","script":"a.js","instances":0}""")).Toml.Should().Contain("instances = \"max\"");
    }

    /// <summary>PATH of the machine the import runs on, as ImportOptions.Which sees it.</summary>
    private static string? Which(string name) => name is "npm" or "yarn" or "python3" or "bash" ? $"/usr/bin/{name}" : null;

    private static ImportResult ImportHere(string json, Func<string, bool>? exists = null, Func<string, string?>? which = null, Func<string, bool>? binary = null)
    {
        using var doc = JsonDocument.Parse(json);
        return EcosystemImporter.Import(doc.RootElement, new ImportOptions
        {
            EcosystemDirectory = Eco,
            CpuCount = 4,
            HomeDirectory = "/home/deploy",
            FileExists = exists ?? (p => !p.Contains(' ') && !p.EndsWith("/npm", StringComparison.Ordinal) && !p.EndsWith("/yarn", StringComparison.Ordinal)),
            Which = which ?? Which,
            IsBinary = binary ?? (_ => false),
        });
    }

    [Fact]
    public void Commands_and_other_languages_run_as_PM2_runs_them()
    {
        var r = ImportHere(Apps(
            """{"name":"web","script":"npm","args":"start"}""",
            """{"name":"line","script":"python3 -m http.server 8000 > /dev/null","args":"dropped"}""",
            """{"name":"bin","script":"./server","interpreter":"none","node_args":"--x"}""",
            """{"name":"py","script":"worker.py","interpreter_args":"-u -O"}""",
            """{"name":"sh","script":"jobs/run.sh","args":["--once"]}""",
            """{"name":"rb","script":"app.rb","exec_interpreter":"/usr/local/bin/ruby"}""",
            """{"name":"api","script":"server.js"}"""));

        var apps = Load(r).ToDictionary(a => a.Name);
        apps["web"].Should().Match<AppSpec>(a => a.Program == ProgramKind.Executable && a.Script == "npm" && a.Args.SequenceEqual(new[] { "start" }));
        apps["web"].Cwd.Should().Be(Eco);
        apps["line"].Program.Should().Be(ProgramKind.Executable);
        apps["line"].Script.Should().Be("bash");
        apps["line"].Args.Should().Equal("-c", "python3 -m http.server 8000 > /dev/null");
        apps["bin"].Should().Match<AppSpec>(a => a.Program == ProgramKind.Executable && a.Script == Eco + "/server");
        apps["py"].Should().Match<AppSpec>(a => a.Interpreter == "python3" && a.Script == Eco + "/worker.py");
        apps["py"].InterpreterArgs.Should().Equal("-u", "-O");
        apps["py"].Env.Should().Contain("PYTHONUNBUFFERED", "1", "PM2 sets it for Python apps");
        apps["sh"].Should().Match<AppSpec>(a => a.Interpreter == "bash" && a.Script == Eco + "/jobs/run.sh");
        apps["sh"].Args.Should().Equal("--once");
        apps["rb"].Interpreter.Should().Be("/usr/local/bin/ruby");
        apps["api"].Program.Should().Be(ProgramKind.Node);
        r.Notes.Should().Equal(
            "app \"line\": script \"python3 -m http.server 8000 > /dev/null\" runs as PM2 runs it, through bash -c: a program, not node (no node features)",
            "app \"line\": args is not mapped: PM2 replaces the args of a command line with -c and the line",
            "app \"bin\": node_args is not mapped: the app runs \"./server\" as a program, with no interpreter to give them to");
    }

    [Fact]
    public void A_node_command_line_is_the_node_script_it_names()
    {
        var r = ImportHere(Apps("""{"name":"api","script":"node --enable-source-maps dist/main.js --port 80","args":"ignored"}"""),
            exists: p => p.EndsWith("/main.js", StringComparison.Ordinal));

        var app = LoadOne(r);
        app.Program.Should().Be(ProgramKind.Node);
        app.Script.Should().Be(Eco + "/dist/main.js");
        app.NodeArgs.Should().Equal("--enable-source-maps");
        app.Args.Should().Equal("--port", "80");
        r.Notes[0].Should().Be("app \"api\": script \"node --enable-source-maps dist/main.js --port 80\" is run as the node script \"dist/main.js\" it names (PM2 runs it through bash -c), so it gets NodeKeeper's node features");
    }

    [Fact]
    public void Without_an_interpreter_the_extension_and_the_file_choose_as_in_PM2()
    {
        // python when there is one, else python3; a binary runs as itself; TypeScript without bun runs on node's type stripping.
        LoadOne(ImportHere(Apps("""{"name":"a","script":"w.py"}"""), which: n => n is "python" or "python3" ? "/usr/bin/" + n : null)).Interpreter.Should().Be("python");
        LoadOne(ImportHere(Apps("""{"name":"a","script":"w.py"}"""))).Interpreter.Should().Be("python3");
        LoadOne(ImportHere(Apps("""{"name":"a","script":"bin/server"}"""), binary: _ => true)).Program.Should().Be(ProgramKind.Executable);
        LoadOne(ImportHere(Apps("""{"name":"a","script":"bin/www"}"""))).Program.Should().Be(ProgramKind.Node);
        var ts = ImportHere(Apps("""{"name":"a","script":"src/main.ts"}"""));
        LoadOne(ts).NodeArgs.Should().Equal("--experimental-strip-types", "--enable-source-maps");
        ts.Notes.Should().ContainSingle().Which.Should().Contain("bun is not on PATH here");
        LoadOne(ImportHere(Apps("""{"name":"a","script":"src/main.ts"}"""), which: n => n == "bun" ? "/usr/bin/bun" : null)).Interpreter.Should().Be("bun");
        var gone = ImportHere(Apps("""{"name":"a","script":"mytool"}"""), exists: _ => false, which: _ => null);
        LoadOne(gone).Script.Should().Be("mytool");
        gone.Notes.Should().ContainSingle().Which.Should().Contain("neither a file in /home/deploy/shop nor a command on PATH here");
    }

    [Fact]
    public void A_python_app_in_cluster_mode_runs_its_instances_on_their_own()
    {
        var r = ImportHere(Apps("""{"name":"py","script":"app.py","instances":2,"exec_mode":"cluster","env":{"PORT":8000}}"""));
        var app = LoadOne(r);
        app.Instances.Should().Be(2);
        app.Port.Should().BeNull("PM2 gives every instance of a fork-mode app the same PORT");
        app.Env["PORT"].Should().Be("8000");
        r.Notes.Should().ContainSingle().Which.Should().Contain("exec_mode \"cluster\" is not mapped: cluster mode is node's");
    }

    [Fact]
    public void No_apps_is_an_error()
    {
        var r = Import("""{"apps":[]}""");
        r.Ok.Should().BeFalse();
        r.Toml.Should().BeNull();
        r.Errors.Should().Equal("it defines no apps");
    }

    [Fact]
    public void Interpreters_other_than_node_are_kept_and_a_node_path_is_kept()
    {
        var bun = Import(Apps("""{"name":"a","script":"a.js","interpreter":"bun"}"""));
        LoadOne(bun).Interpreter.Should().Be("bun");
        bun.Notes.Should().ContainSingle().Which.Should().StartWith("app \"a\": interpreter \"bun\" runs as a program other than node: no preload");

        var path = Import(Apps("""{"name":"a","script":"a.js","exec_interpreter":"/opt/node20/bin/node"}"""));
        LoadOne(path).Interpreter.Should().Be("/opt/node20/bin/node");
        path.Notes.Should().BeEmpty();

        var plain = Import(Apps("""{"name":"a","script":"a.js","interpreter":"node"}"""));
        plain.Toml.Should().NotContain("interpreter");
        plain.Notes.Should().BeEmpty();
    }

    [Fact]
    public void User_and_uid()
    {
        LoadOne(Import(Apps("""{"name":"a","script":"a.js","user":"www-data"}"""))).User.Should().Be("www-data");
        var both = Import(Apps("""{"name":"a","script":"a.js","user":"nobody","uid":"www-data"}"""));
        LoadOne(both).User.Should().Be("www-data");
        both.Notes.Should().Equal("app \"a\": user is not mapped: uid is used, as PM2 does");
    }

    [Fact]
    public void A_string_env_file_is_the_dotenv_file()
    {
        var app = LoadOne(Import(Apps("""{"name":"a","script":"a.js","cwd":"app","env_file":".env"}""")));
        app.EnvFile.Should().Be("/home/deploy/shop/app/.env");
        app.EnvFromFile.Should().Equal(new Dictionary<string, string> { ["FROM_FILE"] = "1" });
    }

    [Fact]
    public void Shapes_of_the_exports()
    {
        LoadOne(Import("""[{"name":"a","script":"a.js"}]""")).Name.Should().Be("a");
        LoadOne(Import("""{"apps":{"name":"a","script":"a.js"}}""")).Name.Should().Be("a");

        var deploy = Import("""{"apps":[{"name":"a","script":"a.js"}],"deploy":{"production":{"user":"x"}}}""");
        LoadOne(deploy);
        deploy.Notes.Should().Equal("deploy is not mapped: NodeKeeper does not deploy; keep your deploy tool and run nk start after it");

        Import("\"hello\"").Errors.Should().Equal("it exports a string, not { apps: [ ... ] }");
        Import("""{"apps":[]}""").Errors.Should().Equal("it defines no apps");
        Import("""{"apps":[{"name":"a"}]}""").Errors.Should().Equal("app \"a\" has no script: PM2 needs one too");
        Import("""{"apps":[42]}""").Errors.Should().Equal("app 1 must be an object with a script, got a number");
    }

    [Theory]
    [InlineData("a b  c", new[] { "a", "b", "c" })]
    [InlineData("--name 'two words' \"and \\\"more\\\"\"", new[] { "--name", "two words", "and \"more\"" })]
    [InlineData("--k=\"v v\" x\\ y", new[] { "--k=v v", "x y" })]
    [InlineData("  ", new string[0])]
    [InlineData("'' x", new[] { "", "x" })]
    public void Args_strings_split_like_a_shell(string args, string[] expected)
    {
        EcosystemImporter.SplitArgs(args).Should().Equal(expected);
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, object>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, object>[]))]
[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(string[]))]
internal sealed partial class QuotingJson : System.Text.Json.Serialization.JsonSerializerContext;
