using NodeKeeper.Core.Config;
using static NodeKeeper.Core.Tests.Config.ConfigKit;

namespace NodeKeeper.Core.Tests.Config;

/// <summary>
/// What the config loader says about each kind of mistake: where it is, and what to write instead. Kept as one file
/// (over 400 lines): one message per kind of mistake, read as a list.
/// </summary>
public class ConfigErrorMessageTests
{
    [Fact]
    public void Syntax_error_reports_file_line_and_column()
    {
        Errors(App("port = \n")).Should().Equal(
            "nodekeeper.toml:4:8: a value is missing after \"=\"");
    }

    [Fact]
    public void Each_syntax_error_is_one_line()
    {
        var errors = Errors("[[app]\nname = \"api\"\nscript = \"x\nport = 07\n");

        errors.Should().NotBeEmpty();
        errors.Should().AllSatisfy(e => e.Should().StartWith("nodekeeper.toml:").And.NotContain("\n"));
        errors.Should().Contain(e => e.StartsWith("nodekeeper.toml:1:6: ", StringComparison.Ordinal));
    }

    [Fact]
    public void Redefined_key_is_a_syntax_error_at_the_second_definition()
    {
        Errors(App("port = 1\nport = 2\n")).Should().ContainSingle().Which.Should().StartWith("nodekeeper.toml:5:1: ");
    }

    [Fact]
    public void Integer_beyond_int64_is_an_error_not_an_exception()
    {
        Errors(App("max_restarts = 99999999999999999999\n")).Should().Equal(
            "nodekeeper.toml:4:16: not a valid integer: whole numbers must fit in 64 bits");
    }

    private const string Secret = "AKIAIOSFODNN7EXAMPLE";

    /// <summary>
    /// Tomlyn's parse messages quote the text they stumble on, and that text is often a secret written without quotes.
    /// Each shape is on line 4 of an app: the first error is at the line and column where it goes wrong, and no error
    /// carries any part of the secret (not even the fragment Tomlyn would have read as the next key).
    /// </summary>
    [Theory]
    [InlineData("API_KEY = " + Secret, 11, "not a valid value: write a string in quotes, a number, true or false, a date, an array [ ] or an inline table { }")]
    [InlineData("env = { API_KEY = " + Secret + " }", 19, "not a valid value: write a string in quotes, a number, true or false, a date, an array [ ] or an inline table { }")]
    [InlineData("env = { API_KEY = \"x\" " + Secret + " }", 23, "expected a key, \",\" or \"}\" in the inline table")]
    [InlineData("env = { A = 1, " + Secret + " }", 37, "expected \"=\" after the key (each line is key = value)")]
    [InlineData("API_KEY = \"" + Secret + "\" " + Secret, 34, "expected the end of the line here (one key = value per line)")]
    [InlineData("API_KEY = \"" + Secret, 32, "the string is not closed on its line (a string of several lines needs \"\"\" or ''')")]
    [InlineData("API_KEY = '" + Secret, 32, "the string is not closed on its line (a string of several lines needs \"\"\" or ''')")]
    [InlineData(Secret, 21, "expected \"=\" after the key (each line is key = value)")]
    [InlineData(Secret + " " + Secret, 22, "expected \"=\" after the key (each line is key = value)")]
    [InlineData("args = [\"a\" " + Secret + "]", 13, "expected \",\" or \"]\" after an array item")]
    [InlineData("args = [\"a\", " + Secret + "]", 14, "not a valid value: write a string in quotes, a number, true or false, a date, an array [ ] or an inline table { }")]
    [InlineData("port = 99" + Secret, 10, "expected the end of the line here (one key = value per line)")]
    [InlineData("port = 1." + Secret, 8, "not a valid value: write a string in quotes, a number, true or false, a date, an array [ ] or an inline table { }")]
    [InlineData("user = \"a\\q" + Secret + "\"", 11, "invalid escape in a string: use \\b \\t \\n \\f \\r \\e \\\" \\\\ \\xHH \\uHHHH or \\UHHHHHHHH (or a 'literal string')")]
    [InlineData("user = \"\\U" + Secret + "\"", 12, "invalid escape in a string: use \\b \\t \\n \\f \\r \\e \\\" \\\\ \\xHH \\uHHHH or \\UHHHHHHHH (or a 'literal string')")]
    [InlineData("user = \"" + Secret + "\u0001\"", 8, "a string cannot hold control characters: write them as escapes such as \\t or \\u0007")]
    [InlineData("[" + Secret + " x]", 23, "expected \"]\" to close the [table] header")]
    [InlineData("= " + Secret, 1, "expected a key = value or a [table] header")]
    public void Syntax_error_never_quotes_the_text_it_stumbled_on(string line, int column, string message)
    {
        var errors = Errors(App(line + "\n"));

        errors.Should().NotBeEmpty();
        errors[0].Should().Be($"nodekeeper.toml:4:{column}: {message}");
        errors.Should().AllSatisfy(e => e.Should().NotContain("AKIA").And.NotContain("7E").And.NotContain("EXAMPLE"));
    }

    [Fact]
    public void Backslash_at_the_very_end_of_the_file_is_an_error_not_an_exception()
    {
        Errors(App("user = \"\\")).Should().NotBeEmpty().And.AllSatisfy(e => e.Should().StartWith("nodekeeper.toml:4:"));
    }

    [Fact]
    public void Messages_quoting_odd_keys_stay_on_one_line()
    {
        Errors(App("env = { \"A\\nB\" = [1] }\n")).Should().Equal(
            "nodekeeper.toml:4:18: env.\"A\\nB\" must be a string, number or boolean, got an array");
    }

    [Fact]
    public void An_unclosed_string_is_one_error_at_its_line()
    {
        Errors("[[app]]\nname = \"a\"\nscript = \"x.js\nargs = []\nport = 3000\n").Should().Equal(
            "nodekeeper.toml:3:15: the string is not closed on its line (a string of several lines needs \"\"\" or ''')");
    }

    [Fact]
    public void Nesting_too_deep_is_an_error_at_the_bracket_that_goes_too_deep()
    {
        Errors(App("args = " + new string('[', 200) + new string(']', 200) + "\n")).Should().Equal(
            "nodekeeper.toml:4:71: arrays and inline tables are nested too deeply here (at most 63 levels)");
        Errors(App("env = " + string.Concat(Enumerable.Repeat("{ a = ", 64)) + "1" + string.Concat(Enumerable.Repeat(" }", 64)) + "\n")).Should().Equal(
            "nodekeeper.toml:4:385: arrays and inline tables are nested too deeply here (at most 63 levels)");
        // 63 levels are read (and refused by the key's own rule, at the value).
        Errors(App("args = " + new string('[', 63) + new string(']', 63) + "\n")).Should().Equal(
            "nodekeeper.toml:4:9: args[0] must be a string, got an array");
    }

    [Fact]
    public void Type_error_names_the_key_and_shows_the_value()
    {
        Errors(App("max_restarts = \"ten\"\n")).Should().Equal(
            "nodekeeper.toml:4:16: max_restarts must be a whole number, got \"ten\"");
    }

    [Theory]
    [InlineData("instances = true", "4:13: instances must be a whole number or \"max\", got true")]
    [InlineData("instances = \"many\"", "4:13: instances must be a whole number or \"max\", got \"many\"")]
    [InlineData("port = 3000.0", "4:8: port must be a whole number, got 3000.0")]
    [InlineData("args = \"--verbose\"", "4:8: args must be an array of strings, got \"--verbose\"")]
    [InlineData("args = [\"a\", 1]", "4:14: args[1] must be a string, got 1")]
    [InlineData("user = 1000", "4:8: user must be a string, got 1000")]
    [InlineData("script = \"\"", "3:10: script must not be empty")]
    [InlineData("watch = \"src\"", "4:9: watch must be true, false or an array of paths, got \"src\"")]
    [InlineData("health = \"http://x\"", "4:10: health must be a table such as { url = \"http://127.0.0.1:3000/health\" }, got \"http://x\"")]
    [InlineData("log = { timestamps = \"yes\" }", "4:22: log.timestamps must be true or false, got \"yes\"")]
    [InlineData("env = { A = [1] }", "4:13: env.A must be a string, number or boolean, got an array")]
    [InlineData("restart = \"sometimes\"", "4:11: restart must be \"always\", \"on-failure\" or \"never\", got \"sometimes\"")]
    [InlineData("port_mode = \"round-robin\"", "4:13: port_mode must be \"shared\" or \"increment\", got \"round-robin\"")]
    [InlineData("kill_signal = \"SIGFOO\"", "4:15: kill_signal must be a signal name such as \"SIGTERM\" or \"SIGINT\", got \"SIGFOO\"")]
    public void Wrong_type_or_value_is_reported_at_the_value(string line, string expected)
    {
        var body = line.StartsWith("script", StringComparison.Ordinal)
            ? "[[app]]\nname = \"api\"\n" + line + "\n"
            : App(line + "\n");
        Errors(body).Should().Equal("nodekeeper.toml:" + expected);
    }

    [Theory]
    [InlineData("port = 70000", "4:8: port must be between 1 and 65535, got 70000")]
    [InlineData("instances = 0", "4:13: instances must be between 1 and 1024, got 0")]
    [InlineData("max_restarts = -1", "4:16: max_restarts must be between 0 and 1000000, got -1")]
    [InlineData("stop_exit_codes = [0, 256]", "4:23: stop_exit_codes[1] must be between 0 and 255, got 256")]
    [InlineData("max_open_files = 2_000_000", "4:18: max_open_files must be between 1 and 1048576, got 2_000_000")]
    [InlineData("health = { url = \"http://h/\", failures = 0 }", "4:42: health.failures must be between 1 and 1000, got 0")]
    [InlineData("log = { keep = 1001 }", "4:16: log.keep must be between 0 and 1000, got 1001")]
    [InlineData("listen_timeout = \"0s\"", "4:18: listen_timeout must be greater than 0, got \"0s\"")]
    [InlineData("max_old_space_size = \"512K\"", "4:22: max_old_space_size must be at least \"1M\", got \"512K\"")]
    [InlineData("max_memory = \"0M\"", "4:14: max_memory must be greater than 0, got \"0M\"")]
    public void Out_of_range_value_shows_the_allowed_range(string line, string expected)
    {
        Errors(App(line + "\n")).Should().Equal("nodekeeper.toml:" + expected);
    }

    [Theory]
    [InlineData("kill_timeout = 5", "4:16: kill_timeout must be a duration with a unit such as \"5s\", got 5")]
    [InlineData("kill_timeout = 2.5", "4:16: kill_timeout must be a duration with a unit such as \"5s\", got 2.5")]
    [InlineData("kill_timeout = \"5\"", "4:16: kill_timeout must be a duration with a unit such as \"5s\", got \"5\"")]
    [InlineData("min_uptime = \"5 sec\"", "4:14: min_uptime must be a duration such as \"250ms\", \"5s\", \"2m\" or \"1h\", got \"5 sec\"")]
    [InlineData("restart_delay = \"-1s\"", "4:17: restart_delay must not be negative, got \"-1s\"")]
    [InlineData("health = { url = \"http://h/\", interval = 10 }", "4:42: health.interval must be a duration with a unit such as \"5s\", got 10")]
    [InlineData("health = { url = \"http://h/\", max_lag = 500 }", "4:41: health.max_lag must be a duration with a unit such as \"5s\", got 500")]
    [InlineData("reload = { canary = 30 }", "4:21: reload.canary must be a duration with a unit such as \"5s\", got 30")]
    public void Duration_without_a_unit_or_with_a_bad_one_says_what_to_write(string line, string expected)
    {
        Errors(App(line + "\n")).Should().Equal("nodekeeper.toml:" + expected);
    }

    [Theory]
    [InlineData("max_memory = \"800\"", "4:14: max_memory must be a size with a unit such as \"800M\" (K, M, G or T), got \"800\"")]
    [InlineData("max_memory = 800", "4:14: max_memory must be a size with a unit such as \"800M\", got 800")]
    [InlineData("max_memory = \"800X\"", "4:14: max_memory must be a size such as \"512K\", \"800M\" or \"2G\", got \"800X\"")]
    [InlineData("log = { max_size = \"10\" }", "4:20: log.max_size must be a size with a unit such as \"800M\" (K, M, G or T), got \"10\"")]
    public void Size_without_a_unit_or_with_a_bad_one_says_what_to_write(string line, string expected)
    {
        Errors(App(line + "\n")).Should().Equal("nodekeeper.toml:" + expected);
    }

    [Fact]
    public void Unknown_key_suggests_the_nearest_valid_key()
    {
        Errors(App("max_restart = 3\n")).Should().Equal(
            "nodekeeper.toml:4:1: unknown key \"max_restart\" in [[app]] (did you mean \"max_restarts\"?)");
    }

    [Fact]
    public void Unknown_key_far_from_every_key_gets_no_suggestion()
    {
        Errors(App("colour = \"blue\"\n")).Should().Equal("nodekeeper.toml:4:1: unknown key \"colour\" in [[app]]");
    }

    [Theory]
    [InlineData("apps = 1\n", "1:1: unknown key \"apps\" at the top level (did you mean \"app\"?)")]
    [InlineData("[daemon]\nhtt = \"127.0.0.1:9615\"\n", "2:1: unknown key \"htt\" in [daemon] (did you mean \"http\"?)")]
    [InlineData("[defaults]\nkill_timout = \"5s\"\n", "2:1: unknown key \"kill_timout\" in [defaults] (did you mean \"kill_timeout\"?)")]
    [InlineData("[defaults]\nname = \"x\"\n", "2:1: unknown key \"name\" in [defaults]: each [[app]] sets its own name")]
    public void Unknown_key_is_reported_in_every_top_level_table(string toml, string expected)
    {
        Errors(toml + App()).Should().Equal("nodekeeper.toml:" + expected);
    }

    [Theory]
    [InlineData("health = { url = \"http://h/\", intervall = \"5s\" }", "4:31: unknown key \"intervall\" in health (did you mean \"interval\"?)")]
    [InlineData("log = { outt = \"x.log\" }", "4:9: unknown key \"outt\" in log (did you mean \"out\"?)")]
    public void Unknown_key_is_reported_in_health_and_log(string line, string expected)
    {
        Errors(App(line + "\n")).Should().Equal("nodekeeper.toml:" + expected);
    }

    [Fact]
    public void Duplicate_name_points_at_the_second_and_says_where_the_first_is()
    {
        Errors(App() + "\n[[app]]\nname = \"api\"\nscript = \"other.js\"\n").Should().Equal(
            "nodekeeper.toml:6:8: duplicate app name \"api\" (first used at 2:8)");
    }

    [Theory]
    [InlineData("my app")]
    [InlineData("")]
    [InlineData("api/v2")]
    [InlineData("a123456789a123456789a123456789a123456789a123456789a123456789abcde")]
    public void Bad_name_is_rejected(string name)
    {
        Errors($"[[app]]\nname = \"{name}\"\nscript = \"x.js\"\n").Should().Equal(
            $"nodekeeper.toml:2:8: name must be 1 to 64 letters, digits, \".\", \"_\" or \"-\", got \"{name}\"");
    }

    [Fact]
    public void Missing_name_and_script_are_reported_at_the_app_header()
    {
        Errors("[[app]]\nport = 3000\n").Should().Equal(
            "nodekeeper.toml:1:1: [[app]] is missing required key \"name\"",
            "nodekeeper.toml:1:1: [[app]] is missing required key \"script\"");
    }

    [Fact]
    public void Ready_listen_without_a_port_is_an_error()
    {
        Errors(App("ready = \"listen\"\n")).Should().Equal(
            "nodekeeper.toml:4:9: ready = \"listen\" needs a port: set port, or use ready = \"message\" or \"spawn\"");
    }

    [Fact]
    public void Ready_listen_from_defaults_names_the_app_without_a_port()
    {
        Errors("[defaults]\nready = \"listen\"\n\n" + App("port = 3000\n") + "\n[[app]]\nname = \"cron\"\nscript = \"cron.js\"\n").Should().Equal(
            "nodekeeper.toml:2:9: ready = \"listen\" needs a port (app \"cron\" sets none): set port, or use ready = \"message\" or \"spawn\"");
    }

    [Fact]
    public void Ready_health_needs_a_health_url_on_each_instances_own_port()
    {
        Errors(App("ready = \"health\"\nport = 3000\nport_mode = \"increment\"\n")).Should().Equal(
            "nodekeeper.toml:4:9: ready = \"health\" needs health.url: add health = { url = \"http://127.0.0.1:PORT/health\" } on the app's port");
        Errors(App("ready = \"health\"\nhealth = { url = \"http://127.0.0.1:3000/health\" }\n")).Should().Equal(
            "nodekeeper.toml:4:9: ready = \"health\" needs a port: each instance's health.url is probed on its own port");
        Errors(App("ready = \"health\"\nport = 3000\nhealth = { url = \"http://127.0.0.1:3000/health\" }\n")).Should().Equal(
            "nodekeeper.toml:4:9: ready = \"health\" probes each instance on its own port, and app \"api\" shares its port (port_mode = \"shared\", node's default): set port_mode = \"increment\", or use ready = \"listen\" or \"message\"");
        Errors(App("ready = \"health\"\nport = 3000\ninterpreter = \"python3\"\nhealth = { url = \"http://127.0.0.1:9100/health\" }\n")).Should().Equal(
            "nodekeeper.toml:4:9: ready = \"health\" probes health.url on each instance's own port, and health.url (http://127.0.0.1:9100/health) is not on app \"api\"'s port 3000: put it on port 3000");
    }

    [Fact]
    public void Ready_health_from_defaults_names_the_app_it_cannot_probe()
    {
        Errors("[defaults]\nready = \"health\"\ninterpreter = \"python3\"\n\n" + App("port = 3000\nhealth = { url = \"http://127.0.0.1:3000/\" }\n")
                + "\n[[app]]\nname = \"jobs\"\nscript = \"jobs.py\"\n").Should().Equal(
            "nodekeeper.toml:2:9: ready = \"health\" needs health.url (app \"jobs\" sets none): add health = { url = \"http://127.0.0.1:PORT/health\" } on the app's port");
    }

    [Fact]
    public void Max_restart_delay_below_restart_delay_is_an_error()
    {
        Errors(App("restart_delay = \"2s\"\nmax_restart_delay = \"1s\"\n")).Should().Equal(
            "nodekeeper.toml:5:21: max_restart_delay must be at least restart_delay (\"2s\"), got \"1s\"");
    }

    [Fact]
    public void Restart_delay_above_the_default_max_restart_delay_is_an_error()
    {
        Errors(App("restart_delay = \"20s\"\n")).Should().Equal(
            "nodekeeper.toml:4:17: restart_delay must not exceed max_restart_delay (\"15s\" by default), got \"20s\"");
    }

    [Fact]
    public void Clean_env_false_beside_user_is_an_error_and_clean_env_must_be_a_boolean()
    {
        Errors(App("user = \"nobody\"\nclean_env = false\n")).Should().Equal(
            "nodekeeper.toml:5:13: clean_env = false cannot be given to app \"api\", which sets user: a user app always starts from a clean environment (remove clean_env)");
        Errors(App("clean_env = \"yes\"\n")).Should().ContainSingle().Which.Should().StartWith("nodekeeper.toml:4:13: clean_env must be true or false");
    }

    [Fact]
    public void Missing_env_file_is_reported_at_the_env_file_value()
    {
        Errors(App("env_file = \".env\"\n")).Should().Equal(
            "nodekeeper.toml:4:12: env_file \".env\" cannot be read: /srv/shop/.env does not exist or is not readable");
    }

    [Fact]
    public void Bad_dotenv_line_is_reported_in_the_env_file()
    {
        var files = new Dictionary<string, string> { ["/srv/shop/conf/.env"] = "A=1\n\nthis is not an assignment\nB=\"open\n" };

        Errors(App("env_file = \"conf/.env\"\n"), files).Should().Equal(
            "conf/.env:3:1: expected KEY=VALUE, got a line without \"=\" (its text is not shown: an env file may hold secrets)",
            "conf/.env:4:1: the value of B has no closing \"");
    }

    [Fact]
    public void No_apps_is_an_error_at_the_start_of_the_file()
    {
        Errors("[daemon]\nhttp = \"127.0.0.1:9615\"\n").Should().Equal(
            "nodekeeper.toml:1:1: no apps: add at least one [[app]] with a name and a script");
        Errors("").Should().Equal(
            "nodekeeper.toml:1:1: no apps: add at least one [[app]] with a name and a script");
    }

    [Fact]
    public void Single_app_table_instead_of_an_array_of_tables_is_an_error()
    {
        Errors("[app]\nname = \"api\"\nscript = \"server.js\"\n").Should().Equal(
            "nodekeeper.toml:1:2: app must be an array of tables: write [[app]], not [app]");
    }

    [Theory]
    [InlineData("\"9615\"", "http must be \"host:port\", such as \"127.0.0.1:9615\", got \"9615\"")]
    [InlineData("\"localhost:http\"", "http must be \"host:port\", such as \"127.0.0.1:9615\", got \"localhost:http\"")]
    [InlineData("\"127.0.0.1:0\"", "http port must be between 1 and 65535, got \"127.0.0.1:0\"")]
    [InlineData("\"127.0.0.1:99999\"", "http port must be between 1 and 65535, got \"127.0.0.1:99999\"")]
    [InlineData("9615", "http must be a string, got 9615")]
    public void Daemon_http_must_be_host_and_port(string value, string expected)
    {
        Errors($"[daemon]\nhttp = {value}\n" + App()).Should().Equal("nodekeeper.toml:2:8: " + expected);
    }

    [Theory]
    [InlineData("\"[::1]:9615\"")]
    [InlineData("\"0.0.0.0:80\"")]
    [InlineData("\"metrics.internal:9615\"")]
    public void Daemon_http_accepts_hostnames_and_ip_addresses(string value)
    {
        Load($"[daemon]\nhttp = {value}\n" + App()).Config!.Daemon.Http.Should().Be(value.Trim('"'));
    }

    [Theory]
    [InlineData("\"/health\"")]
    [InlineData("\"ftp://127.0.0.1/health\"")]
    public void Health_url_must_be_an_absolute_http_url(string url)
    {
        Errors(App($"health = {{ url = {url} }}\n")).Should().Equal(
            $"nodekeeper.toml:4:18: health.url must be an absolute http or https URL such as \"http://127.0.0.1:3000/health\", got {url}");
    }

    [Fact]
    public void Health_without_url_is_an_error()
    {
        Errors(App("health = { interval = \"5s\" }\n")).Should().Equal(
            "nodekeeper.toml:4:10: health is missing required key \"url\"");
    }

    [Fact]
    public void Invalid_defaults_are_reported_once_at_the_defaults_table()
    {
        Errors("[defaults]\nkill_timeout = 5\n\n" + App() + "\n[[app]]\nname = \"b\"\nscript = \"b.js\"\n").Should().Equal(
            "nodekeeper.toml:2:16: kill_timeout must be a duration with a unit such as \"5s\", got 5");
    }

    [Fact]
    public void All_errors_are_reported_sorted_by_position()
    {
        Errors("""
            [[app]]
            name = "b"
            script = "b.js"
            port = "3000"

            [defaults]
            restart = "sometimes"

            [[app]]
            name = "a b"
            script = "a.js"
            instances = -1
            """).Should().Equal(
            "nodekeeper.toml:4:8: port must be a whole number, got \"3000\"",
            "nodekeeper.toml:7:11: restart must be \"always\", \"on-failure\" or \"never\", got \"sometimes\"",
            "nodekeeper.toml:10:8: name must be 1 to 64 letters, digits, \".\", \"_\" or \"-\", got \"a b\"",
            "nodekeeper.toml:12:13: instances must be between 1 and 1024, got -1");
    }

    [Fact]
    public void Env_key_with_an_equals_sign_is_rejected()
    {
        Errors(App("env = { \"A=B\" = \"1\" }\n")).Should().Equal(
            "nodekeeper.toml:4:9: env key \"A=B\" is not a valid variable name (it must be non-empty, without \"=\")");
    }

    [Fact]
    public void Nul_character_in_a_path_is_an_error_not_an_exception()
    {
        Errors(App("cwd = \"a\\u0000b\"\n")).Should().Equal("nodekeeper.toml:4:7: cwd must not contain a NUL character");
    }

    [Fact]
    public void Mangled_versions_of_the_spec_example_never_throw()
    {
        var files = new Dictionary<string, string> { ["/srv/shop/.env"] = SpecEnvFile };
        var random = new Random(1234);
        var text = SpecExample;
        const string Noise = "\"'[]{}=.,#\n 0-_xsM\\";
        for (int round = 0; round < 2000; round++)
        {
            var chars = text.ToCharArray();
            for (int edits = random.Next(1, 4); edits > 0; edits--)
                chars[random.Next(chars.Length)] = Noise[random.Next(Noise.Length)];
            var mangled = new string(chars);
            if (random.Next(4) == 0) mangled = mangled[..random.Next(mangled.Length)];

            var load = () => Load(mangled, files);

            var result = load.Should().NotThrow().Subject;
            (result.Config is null).Should().Be(result.Errors.Count > 0);
        }
    }
}

public class HostKeyTests
{
    [Fact]
    public void Host_is_an_ip_address_or_localhost()
    {
        ConfigKit.Errors(ConfigKit.App("host = \"example.com\"\n")).Should().ContainSingle()
            .Which.Should().StartWith("nodekeeper.toml:4:8: host must be an IP address");
        ConfigKit.LoadApp(ConfigKit.App("host = \"127.0.0.1\"\n")).Host.Should().Be("127.0.0.1");
        ConfigKit.LoadApp(ConfigKit.App("host = \"::\"\n")).Host.Should().Be("::");
        ConfigKit.LoadApp(ConfigKit.App("host = \"localhost\"\n")).Host.Should().Be("localhost");
        ConfigKit.LoadApp(ConfigKit.App()).Host.Should().BeNull();
    }
}
