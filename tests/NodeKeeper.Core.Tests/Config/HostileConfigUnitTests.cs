using System.Diagnostics;
using System.Text;
using NodeKeeper.Core.Config;
using static NodeKeeper.Core.Tests.Config.ConfigKit;

namespace NodeKeeper.Core.Tests.Config;

/// <summary>One test per loader fix found by the hostile-config corpus and fuzzer (issue 7).</summary>
public class HostileConfigUnitTests
{
    [Fact]
    public void Name_with_a_final_newline_is_rejected()
    {
        // The pattern ended in "$", which in .NET also matches before a final "\n".
        Errors("[[app]]\nname = \"api\\n\"\nscript = \"x.js\"\n").Should().Equal(
            "nodekeeper.toml:2:8: name must be 1 to 64 letters, digits, \".\", \"_\" or \"-\", got \"api\\n\"");
    }

    [Theory]
    [InlineData(".", "a name made only of dots reads as a path")]
    [InlineData("..", "a name made only of dots reads as a path")]
    [InlineData("...", "a name made only of dots reads as a path")]
    [InlineData("all", "\"all\" means every app to nk stop, restart, reload and delete")]
    [InlineData("-x", "it would read as an option of nk (names must not start with \"-\")")]
    [InlineData("--help", "it would read as an option of nk (names must not start with \"-\")")]
    public void Name_that_fits_the_pattern_but_cannot_name_an_app_is_rejected(string name, string why)
    {
        Errors($"[[app]]\nname = \"{name}\"\nscript = \"x.js\"\n").Should().Equal(
            $"nodekeeper.toml:2:8: name \"{name}\" cannot name an app: {why}");
    }

    [Theory]
    [InlineData(".env")]
    [InlineData("a..b")]
    [InlineData("ALL")]
    [InlineData("all-apps")]
    [InlineData("x-")]
    public void Names_with_dots_and_dashes_inside_still_load(string name)
    {
        LoadApp($"[[app]]\nname = \"{name}\"\nscript = \"x.js\"\n").Name.Should().Be(name);
    }

    [Theory]
    [InlineData("kill_timeout = \"25d\"", "4:16: kill_timeout must be at most \"24d\", got \"25d\"")]
    [InlineData("kill_timeout = \"99999999999h\"", "4:16: kill_timeout must be at most \"24d\", got \"99999999999h\"")]
    [InlineData("listen_timeout = \"600h\"", "4:18: listen_timeout must be at most \"24d\", got \"600h\"")]
    [InlineData("min_uptime = \"24d1ms\"", "4:14: min_uptime must be at most \"24d\", got \"24d1ms\"")]
    [InlineData("health = { url = \"http://h/\", timeout = \"60d\" }", "4:41: health.timeout must be at most \"24d\", got \"60d\"")]
    public void Duration_beyond_24_days_is_rejected(string line, string expected)
    {
        // The daemon waits with Task.Delay/CancelAfter (at most ~49.7 days) and adds kill_timeout + listen_timeout.
        Errors(App(line + "\n")).Should().Equal("nodekeeper.toml:" + expected);
    }

    [Fact]
    public void Duration_of_exactly_24_days_loads()
    {
        LoadApp(App("kill_timeout = \"24d\"\nmax_restart_delay = \"24d\"\nrestart_delay = \"24d\"\n")).KillTimeout.Should().Be(TimeSpan.FromDays(24));
    }

    [Fact]
    public void Increment_ports_beyond_65535_are_rejected_at_the_port()
    {
        Errors(App("port = 65530\ninstances = 10\nport_mode = \"increment\"\n")).Should().Equal(
            "nodekeeper.toml:4:8: port_mode = \"increment\" gives instance 9 of app \"api\" port 65539, beyond 65535: lower port or instances");
        LoadApp(App("port = 65526\ninstances = 10\nport_mode = \"increment\"\n")).Port.Should().Be(65526);
        LoadApp(App("port = 65530\ninstances = 10\n")).PortMode.Should().Be(PortMode.Shared);
    }

    [Fact]
    public void Increment_ports_count_instances_max_and_defaults()
    {
        var result = Load("[defaults]\nport_mode = \"increment\"\ninstances = \"max\"\n\n" + App("port = 65535\n"), cpus: 4);
        result.Errors.Select(e => e.ToString()).Should().Equal(
            "nodekeeper.toml:8:8: port_mode = \"increment\" gives instance 3 of app \"api\" port 65538, beyond 65535: lower port or instances");
    }

    [Fact]
    public void Table_with_a_hundred_thousand_keys_loads_without_false_redefinitions()
    {
        // Tomlyn's validation reported distinct keys of such a table as "already defined" (K98182 vs K8289), and
        // finding a key scanned the whole table (n² for n keys).
        var app = LoadApp(App("[app.env]\n" + string.Concat(Enumerable.Range(0, 100_000).Select(i => $"K{i} = \"{i}\"\n"))));
        app.Env.Should().HaveCount(100_000).And.ContainKey("K98182").And.ContainKey("K8289");
    }

    [Theory]
    [InlineData("port = 1\nport = 2\n", "5:1: port is already defined at 4:1")]
    [InlineData("port = 1\n\"port\" = 2\n", "5:1: port is already defined at 4:1")]
    [InlineData("env = { A = \"1\", A = \"2\" }\n", "4:18: env.A is already defined at 4:9")]
    [InlineData("env.A = \"1\"\nenv = { B = \"2\" }\n", "5:1: env is already defined at 4:1")]
    [InlineData("env.A = \"1\"\n[app.env]\n", "5:6: app.env is already defined at 4:1")]
    [InlineData("[app.env]\n[app.env]\n", "5:6: app.env is already defined at 4:6")]
    [InlineData("health = { url = \"http://h/\" }\nhealth.timeout = \"1s\"\n", "5:1: health is an inline table, complete as written at 4:1: a dotted key cannot add to it")]
    [InlineData("health = { url = \"http://h/\" }\n[app.health.x]\n", "5:6: app.health is an inline table, complete as written at 4:1: a header cannot add to it")]
    [InlineData("[app]\n", "4:2: app is already defined at 1:3")]
    [InlineData("port = 1\n[app.port.x]\n", "5:6: app.port is not a table: it is defined at 4:1")]
    public void Defining_a_key_or_table_twice_is_an_error_at_the_second_definition(string body, string expected)
    {
        // Tomlyn's validation is off (it called distinct keys of a 60,000-key table "already defined"): the loader applies the rules.
        Errors(App(body)).Should().Equal("nodekeeper.toml:" + expected);
    }

    [Fact]
    public void Static_array_of_apps_cannot_be_appended_to_with_a_header()
    {
        Errors("app = [{ name = \"a\", script = \"a.js\" }]\n[[app]]\nname = \"b\"\nscript = \"b.js\"\n").Should().Equal(
            "nodekeeper.toml:2:3: app is an array, not an array of tables: [[app]] cannot add to it (defined at 1:1)");
    }

    [Theory]
    [InlineData("[defaults.env]\nA = \"1\"\n[defaults]\nkill_timeout = \"5s\"\n")]
    [InlineData("[defaults]\nenv.A = \"1\"\nenv.B = \"2\"\n[defaults.log]\nkeep = 1\n")]
    public void Tables_named_on_the_way_or_built_by_dotted_keys_follow_toml(string defaults)
    {
        var result = Load(defaults + "\n" + App());
        result.Errors.Should().BeEmpty();
    }

    [Fact]
    public void Dotted_key_cannot_add_to_a_table_defined_by_a_header()
    {
        Errors("[defaults.env]\nA = \"1\"\n[defaults]\nenv.B = \"2\"\n\n" + App()).Should().Equal(
            "nodekeeper.toml:4:1: env is a table defined at 1:11: a dotted key cannot add to it from here");
    }

    [Fact]
    public void Sub_table_headers_under_each_app_element_are_separate()
    {
        var result = Load(App("[app.env]\nA = \"1\"\n") + "[[app]]\nname = \"b\"\nscript = \"b.js\"\n[app.env]\nA = \"2\"\n");
        result.Errors.Should().BeEmpty();
        result.Config!.Apps.Select(a => a.Env["A"]).Should().Equal("1", "2");
    }

    [Fact]
    public void Megabyte_long_unknown_key_is_reported_in_one_short_line()
    {
        var errors = Errors(App(new string('k', 1 << 20) + " = 1\n"));
        errors.Should().ContainSingle().Which.Should().StartWith("nodekeeper.toml:4:1: unknown key \"kkkk").And.EndWith("…\" in [[app]]");
        errors[0].Length.Should().BeLessThan(200);
    }

    [Fact]
    public void Key_far_longer_than_every_candidate_gets_no_suggestion_without_comparing()
    {
        // Levenshtein is O(n·m): a 20-million-character key against 30 keys took seconds; its length alone rules it out.
        var key = new string('k', 20_000_000);
        var sw = Stopwatch.StartNew();
        KeySuggester.Suggest(key, AppReaderKeys).Should().BeNull();
        sw.Stop();
        sw.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(3));
    }

    private static readonly string[] AppReaderKeys =
    [
        "name", "script", "cwd", "args", "node_args", "interpreter", "max_old_space_size", "env", "env_file",
        "instances", "port", "port_mode", "ready", "listen_timeout", "restart", "stop_exit_codes", "min_uptime",
        "max_restarts", "restart_delay", "max_restart_delay", "kill_signal", "kill_timeout", "max_memory",
        "max_open_files", "health", "watch", "ignore_watch", "user", "log", "host",
    ];

    [Fact]
    public void Key_suggestions_are_unchanged_by_the_length_shortcut()
    {
        KeySuggester.Suggest("max_restart", AppKeys).Should().Be("max_restarts");
        KeySuggester.Suggest("kill_timout", AppKeys).Should().Be("kill_timeout");
        KeySuggester.Suggest("nme", AppKeys).Should().Be("name");
        KeySuggester.Suggest(new string('k', 100), AppKeys).Should().BeNull();
    }

    private static readonly string[] AppKeys = ["name", "script", "max_restarts", "max_restart_delay", "kill_timeout", "port"];

    [Fact]
    public void Megabyte_long_integer_is_reported_in_one_short_line_without_its_digits()
    {
        // Tomlyn quotes the whole token in its message; ours quotes none of it.
        Errors(App("port = " + new string('9', 1 << 20) + "\n")).Should().Equal(
            "nodekeeper.toml:4:8: not a valid integer: whole numbers must fit in 64 bits");
    }

    [Fact]
    public void Utf8_bytes_load_like_the_text_and_a_bom_is_skipped()
    {
        var text = App("port = 3000\nenv = { GREETING = \"héllo 🌍\" }\n");
        var fromBytes = ConfigLoader.LoadUtf8([0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(text)], "nodekeeper.toml", Dir, Context());
        fromBytes.Errors.Should().BeEmpty();
        fromBytes.Config!.Apps.Single().Env["GREETING"].Should().Be("héllo 🌍");
    }

    [Theory]
    [InlineData(new byte[] { 0xFF }, "0xFF")]
    [InlineData(new byte[] { 0xC3, 0x28 }, "0xC3")]
    [InlineData(new byte[] { 0xC0, 0xAF }, "0xC0")]
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 }, "0xED")]
    public void Bytes_that_are_not_utf8_are_an_error_at_their_position(byte[] bad, string shown)
    {
        // Line 3 starts with "# é ü " (6 characters, 8 bytes): the bad byte is its 7th character.
        var bytes = Encoding.UTF8.GetBytes("[[app]]\nname = \"api\"\n# é ü ").Concat(bad).Concat(Encoding.UTF8.GetBytes("\nscript = \"x.js\"\n")).ToArray();
        var result = ConfigLoader.LoadUtf8(bytes, "nodekeeper.toml", Dir, Context());
        result.Config.Should().BeNull();
        result.Errors.Select(e => e.ToString()).Should().Equal(
            $"nodekeeper.toml:3:7: the file is not UTF-8 (byte {shown} here): TOML files must be saved as UTF-8");
    }

    [Fact]
    public void Path_longer_than_path_max_is_rejected()
    {
        var deep = string.Concat(Enumerable.Repeat("dir/", 1100));
        Errors($"[[app]]\nname = \"api\"\nscript = \"{deep}s.js\"\n").Should().ContainSingle()
            .Which.Should().StartWith("nodekeeper.toml:3:10: script is 4414 bytes long once resolved: a Linux path is at most 4095 bytes");
        Errors(App($"cwd = \"{deep}\"\n")).Should().ContainSingle()
            .Which.Should().StartWith("nodekeeper.toml:4:7: cwd is ");
        Errors(App($"log = {{ out = \"{deep}o.log\" }}\n")).Should().ContainSingle()
            .Which.Should().StartWith("nodekeeper.toml:4:15: log.out is ");
        LoadApp(App($"cwd = \"{string.Concat(Enumerable.Repeat("dir/", 900))}\"\n")).Cwd.Length.Should().BeLessThan(4096);
    }

    [Fact]
    public void Argument_or_variable_longer_than_execve_accepts_is_rejected()
    {
        var big = new string('v', 131_072);
        Errors(App($"env = {{ BIG = \"{big}\" }}\n")).Should().Equal(
            "nodekeeper.toml:4:15: env.BIG is 131076 bytes long: Linux refuses a variable (NAME=value) over 131071 bytes (E2BIG)");
        Errors(App($"args = [\"ok\", \"{big}\"]\n")).Should().Equal(
            "nodekeeper.toml:4:15: args[1] is 131072 bytes long: Linux refuses an argument over 131071 bytes (E2BIG)");
        LoadApp(App($"env = {{ BIG = \"{big[..131_067]}\" }}\n")).Env["BIG"].Should().HaveLength(131_067);
    }

    [Theory]
    [InlineData("1")]
    [InlineData("127.1")]
    [InlineData("4294967295")]
    [InlineData("0x7f.0.0.1")]
    public void Ipv4_shorthand_host_is_rejected(string host)
    {
        // IPAddress.TryParse reads "1" as 0.0.0.1: binding it fails long after the config was accepted.
        Errors(App($"host = \"{host}\"\n")).Should().ContainSingle().Which.Should().StartWith("nodekeeper.toml:4:8: host must be an IP address");
    }

    [Theory]
    [InlineData("0.0.0.0")]
    [InlineData("10.1.2.3")]
    [InlineData("::1")]
    [InlineData("fe80::1")]
    public void Full_ip_addresses_are_accepted_as_host(string host)
    {
        LoadApp(App($"host = \"{host}\"\n")).Host.Should().Be(host);
    }

    private static LoadContext Context() => new(LogDir, 8, _ => null);
}
