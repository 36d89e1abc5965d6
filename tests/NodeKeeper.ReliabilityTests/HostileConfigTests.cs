using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using NodeKeeper.Core.Config;
using Xunit.Abstractions;

namespace NodeKeeper.ReliabilityTests;

/// <summary>
/// Hostile configuration (issue 7): malformed and absurd nodekeeper.toml files either load sanely or are refused
/// with only "file:line:col: message" lines, exit 2 and nothing started; never a stack trace, never a hang.
/// The corpus is configs/*.toml: the first line of each says what it is and what is expected
/// ("expect: ok", or "expect: error LINE:COL text" where LINE or COL may be "*"). Kept as one file (over 400 lines):
/// the corpus and the fuzzer hold the same parser to the same checks.
/// </summary>
public sealed partial class HostileConfigTests(ITestOutputHelper output)
{
    private static readonly string CorpusDir = Path.Combine(Repo.Root, "tests", "NodeKeeper.ReliabilityTests", "configs");
    private const string ConfigDir = "/srv/shop";
    /// <summary>A load takes milliseconds: 5 s means a hang, even on a busy 2-core machine.</summary>
    private static readonly TimeSpan PerLoad = TimeSpan.FromSeconds(5);
    /// <summary>Megabyte-sized configs, on a 2-core machine shared with the other test classes.</summary>
    private static readonly TimeSpan GiantLoad = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan MaxDuration = TimeSpan.FromDays(24);

    /// <summary>What loading needs: two cores (as this machine), and a small .env for any env_file.</summary>
    private static readonly LoadContext Ctx = new("/var/lib/nodekeeper/logs", 2,
        path => path.EndsWith(".env", StringComparison.Ordinal) ? "A=1\nexport B='two'\n" : null);

    public static IEnumerable<object[]> CorpusFiles() =>
        Directory.GetFiles(CorpusDir, "*.toml").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).Select(f => new object[] { f! });

    [Fact]
    public void Corpus_has_at_least_30_configs_each_saying_what_it_expects()
    {
        var files = CorpusFiles().Select(f => (string)f[0]).ToList();
        files.Should().HaveCountGreaterThanOrEqualTo(30);
        foreach (var file in files) Expectation.Of(File.ReadAllBytes(Path.Combine(CorpusDir, file))).Should().NotBeNull(file);
        output.WriteLine($"{files.Count} corpus configs");
    }

    /// <summary>In process, from the bytes (strict UTF-8, as the CLI should read) and from File.ReadAllText (as it reads today).</summary>
    [Theory]
    [MemberData(nameof(CorpusFiles))]
    public void Corpus_config_loads_sanely_or_is_refused_with_well_formed_errors(string file)
    {
        var path = Path.Combine(CorpusDir, file);
        var bytes = File.ReadAllBytes(path);
        var expect = Expectation.Of(bytes) ?? throw new InvalidOperationException($"{file} has no \"expect:\" on its first line");
        var display = "configs/" + file;

        var strict = LoadWithin(() => ConfigLoader.LoadUtf8(bytes, display, ConfigDir, Ctx), file);
        AssertWellFormed(strict, display, bytes, file);
        expect.Check(strict, file);

        var text = File.ReadAllText(path);
        var lenient = LoadWithin(() => ConfigLoader.Load(text, display, ConfigDir, Ctx), file + " (as text)");
        AssertWellFormed(lenient, display, bytes, file + " (as text)");
        if (IsUtf8(bytes))
        {
            lenient.Ok.Should().Be(strict.Ok, file);
            lenient.Errors.Select(e => e.ToString()).Should().Equal(strict.Errors.Select(e => e.ToString()), file);
        }
        output.WriteLine(strict.Ok ? $"{file}: loads" : $"{file}: {strict.Errors[0]}");
    }

    [Fact]
    public void Ten_thousand_apps_load_in_time()
    {
        var sb = new StringBuilder("# 10,000 apps\n");
        for (int i = 0; i < 10_000; i++) sb.Append($"[[app]]\nname = \"app-{i}\"\nscript = \"apps/{i}.js\"\nport = {10_000 + i}\n\n");
        var sw = Stopwatch.StartNew();
        var result = LoadWithin(() => ConfigLoader.Load(sb.ToString(), "big.toml", ConfigDir, Ctx), "10,000 apps", GiantLoad);
        sw.Stop();

        result.Errors.Should().BeEmpty();
        result.Config!.Apps.Should().HaveCount(10_000);
        result.Config.Apps[9_999].Name.Should().Be("app-9999");
        AssertSane(result.Config, "10,000 apps");
        output.WriteLine($"10,000 apps ({sb.Length / 1024} KiB) loaded in {sw.ElapsedMilliseconds} ms");
    }

    [Fact]
    public void Ten_thousand_apps_with_one_name_give_one_error_each_in_time()
    {
        var sb = new StringBuilder();
        for (int i = 0; i < 10_000; i++) sb.Append("[[app]]\nname = \"api\"\nscript = \"server.js\"\n");
        var sw = Stopwatch.StartNew();
        var result = LoadWithin(() => ConfigLoader.Load(sb.ToString(), "dup.toml", ConfigDir, Ctx), "10,000 duplicates", GiantLoad);
        sw.Stop();

        AssertWellFormed(result, "dup.toml", Encoding.UTF8.GetBytes(sb.ToString()), "10,000 duplicates");
        result.Errors.Should().HaveCount(9_999);
        result.Errors[^1].ToString().Should().Be("dup.toml:29999:8: duplicate app name \"api\" (first used at 2:8)");
        output.WriteLine($"10,000 apps named \"api\": {result.Errors.Count} errors in {sw.ElapsedMilliseconds} ms");
    }

    /// <summary>Configs too big to commit, built here: each loads or is refused within the deadline, with short error lines.</summary>
    [Theory]
    [InlineData("1 MB comment", "ok")]
    [InlineData("1 MB env value", "error 5:15 env.BIG is")]
    [InlineData("1 MB script path", "error 4:10 script is")]
    [InlineData("1 MB unknown key", "error 5:1 unknown key")]
    [InlineData("1 MB integer", "error 5:8 not a valid integer")]
    [InlineData("1 MB of [", "error 5:71 nested too deeply here")]
    [InlineData("1 MB line without =", "error 5:* expected \"=\" after the key")]
    [InlineData("20,000 unknown keys", "error 5:1 unknown key \"k0\" in [[app]]")]
    [InlineData("20,000 env keys", "ok")] // at 100,000 (Core.Tests) Tomlyn's validation called K98182 and K8289 the same key
    [InlineData("10,000 args", "ok")]
    [InlineData("20,000 args", "error 5:8 this array has more than 10000 items")]
    [InlineData("20,000 env values inline", "error 5:7 this inline table has more than 10000 keys")]
    [InlineData("50,000 nested tables", "error 5:385 nested too deeply here")]
    public void Giant_config_loads_or_is_refused_in_time(string what, string expected)
    {
        const int MB = 1 << 20;
        const string App = "# generated\n[[app]]\nname = \"api\"\nscript = \"server.js\"\n";
        var text = what switch
        {
            "1 MB comment" => App + "# " + new string('x', MB) + "\n",
            "1 MB env value" => App + "env = { BIG = \"" + new string('v', MB) + "\" }\n",
            "1 MB script path" => "# generated\n[[app]]\nname = \"api\"\nscript = \"" + string.Concat(Enumerable.Repeat("dir/", MB / 4)) + "s.js\"\n",
            "1 MB unknown key" => App + new string('k', MB) + " = 1\n",
            "1 MB integer" => App + "port = " + new string('9', MB) + "\n",
            "1 MB of [" => App + "args = " + new string('[', MB) + "\n",
            "1 MB line without =" => App + new string('a', MB) + "\n",
            "20,000 unknown keys" => App + string.Concat(Enumerable.Range(0, 20_000).Select(i => $"k{i} = {i}\n")),
            "20,000 env keys" => App + "[app.env]\n" + string.Concat(Enumerable.Range(0, 20_000).Select(i => $"K{i} = \"{i}\"\n")),
            "10,000 args" => App + "args = [" + string.Join(", ", Enumerable.Range(0, 10_000).Select(i => $"\"a{i}\"")) + "]\n",
            "20,000 args" => App + "args = [" + string.Join(", ", Enumerable.Range(0, 20_000).Select(i => $"\"a{i}\"")) + "]\n",
            "20,000 env values inline" => App + "env = { " + string.Join(", ", Enumerable.Range(0, 20_000).Select(i => $"K{i} = {i}")) + " }\n",
            "50,000 nested tables" => App + "env = " + string.Concat(Enumerable.Repeat("{ a = ", 50_000)) + "1" + string.Concat(Enumerable.Repeat(" }", 50_000)) + "\n",
            _ => throw new ArgumentOutOfRangeException(nameof(what)),
        };
        var bytes = Encoding.UTF8.GetBytes(text);
        var sw = Stopwatch.StartNew();
        var result = LoadWithin(() => ConfigLoader.LoadUtf8(bytes, "giant.toml", ConfigDir, Ctx), what, GiantLoad);
        sw.Stop();

        AssertWellFormed(result, "giant.toml", bytes, what);
        Expectation.Parse(expected)!.Check(result, what);
        output.WriteLine($"{what}: {(result.Ok ? "loads" : $"{result.Errors.Count} error(s), first {Shorten(result.Errors[0].ToString())}")} in {sw.ElapsedMilliseconds} ms");
    }

    /// <summary>
    /// Property: thousands of seeded random mutations of valid configs (bytes deleted, inserted, duplicated, flipped;
    /// lines swapped; random Unicode; absurd numbers and names; truncation) each load sanely or give only
    /// well-formed errors, within 5 s each.
    /// </summary>
    [Fact]
    public void Mutated_valid_configs_load_sanely_or_give_well_formed_errors()
    {
        const int Seed = 20261125;
        const int Mutants = 1000;
        var seeds = new[]
        {
            SpecExample,
            File.ReadAllText(Path.Combine(Repo.Root, "nodekeeper.toml.example")),
            "[[app]]\nname = \"api\"\nscript = \"server.js\"\nport = 3000\ninstances = 2\nport_mode = \"increment\"\n\n[[app]]\nname = \"w\"\nscript = \"w.js\"\n",
        }.Select(s => Encoding.UTF8.GetBytes(s)).ToArray();
        foreach (var s in seeds) ConfigLoader.LoadUtf8(s, "seed.toml", ConfigDir, Ctx).Errors.Should().BeEmpty("every seed is valid");

        var random = new Random(Seed);
        int loaded = 0, refused = 0, invalidUtf8 = 0;
        var firstMessages = new HashSet<string>(StringComparer.Ordinal);
        var sw = Stopwatch.StartNew();
        for (int n = 0; n < Mutants; n++)
        {
            var bytes = Mutate(seeds[random.Next(seeds.Length)], random);
            var what = $"mutant {n} (seed {Seed}): {Shorten(Encoding.UTF8.GetString(bytes), 2000)}";

            var strict = LoadWithin(() => ConfigLoader.LoadUtf8(bytes, "fuzz.toml", ConfigDir, Ctx), what);
            AssertWellFormed(strict, "fuzz.toml", bytes, what);
            var text = new StreamReader(new MemoryStream(bytes), Encoding.UTF8, detectEncodingFromByteOrderMarks: true).ReadToEnd();
            var lenient = LoadWithin(() => ConfigLoader.Load(text, "fuzz.toml", ConfigDir, Ctx), what + " (as text)");
            AssertWellFormed(lenient, "fuzz.toml", bytes, what + " (as text)");

            if (strict.Ok) loaded++;
            else
            {
                refused++;
                if (!IsUtf8(bytes)) invalidUtf8++;
                firstMessages.Add(Regex.Replace(strict.Errors[0].Message, "\"[^\"]*\"|`[^`]*`|\\d+", "_"));
            }
        }
        sw.Stop();

        output.WriteLine($"{Mutants} mutants of {seeds.Length} valid configs (seed {Seed}), each loaded twice (bytes, text): " +
                         $"{loaded} loaded, {refused} refused ({invalidUtf8} not UTF-8), {firstMessages.Count} kinds of first error, {sw.ElapsedMilliseconds} ms");
        loaded.Should().BeGreaterThan(Mutants / 20, "some mutations keep the config valid");
        refused.Should().BeGreaterThan(Mutants / 4, "most mutations break it");
    }

    /// <summary>End to end: nk start on a handful of corpus files exits 2, prints only file:line:col lines, starts nothing.</summary>
    [Fact]
    public async Task Nk_start_refuses_hostile_configs_with_exit_2_and_starts_nothing()
    {
        string[] files =
        [
            "syntax-unterminated-string.toml", "syntax-key-redefined.toml", "huge-kill-timeout-100-days.toml", "instances-5000.toml",
            "increment-ports-past-65535.toml", "name-dotdot.toml", "nul-byte-in-string.toml", "bom-crlf-error-position.toml",
            "invalid-utf8-in-name.toml", "escape-sequence-in-value.toml",
        ];
        await using var home = new TestHome();
        foreach (var file in files)
        {
            File.Copy(Path.Combine(CorpusDir, file), Path.Combine(home.Configs, file));
            var sw = Stopwatch.StartNew();
            var r = await home.RunAsync("start", file).WaitAsync(TimeSpan.FromSeconds(30));
            sw.Stop();

            r.Code.Should().Be(2, $"{file}: {r}");
            r.Out.Should().BeEmpty(file);
            r.Err.Should().NotContain("   at ", file).And.NotContain("Unhandled exception", file).And.NotContain("Exception", file);
            var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            lines.Should().NotBeEmpty(file);
            lines.Should().AllSatisfy(l => l.Should().MatchRegex($@"^{Regex.Escape(file)}:[1-9]\d*:[1-9]\d*: \S.*\z"), file);
            // nk reads the bytes and refuses what is not UTF-8, as LoadUtf8 does.
            var inProcess = ConfigLoader.LoadUtf8(File.ReadAllBytes(Path.Combine(CorpusDir, file)), file, home.Configs, Ctx);
            lines.Should().Equal(inProcess.Errors.Select(e => e.ToString()), file);

            home.DaemonPid().Should().BeNull($"{file}: a bad config starts nothing, not even the daemon");
            File.Exists(Path.Combine(home.Home, "nk.sock")).Should().BeFalse(file);
            Procs.OwnedBy(home.Home).Should().BeEmpty(file);
            output.WriteLine($"nk start {file}: exit {r.Code} in {sw.ElapsedMilliseconds} ms: {Shorten(lines[0])}");
        }
    }

    /// <summary>
    /// A config, or its env_file, that is a FIFO nobody writes to (as /dev/stdin can be): nk must answer (refuse it,
    /// or read it as empty) instead of blocking in open() for ever.
    /// </summary>
    [Theory]
    [InlineData("config")]
    [InlineData("env_file")]
    public async Task Nk_start_answers_when_the_config_or_its_env_file_is_a_fifo(string which)
    {
        await using var home = new TestHome();
        var fifo = Path.Combine(home.Configs, which == "config" ? "fifo.toml" : "fifo.env");
        using (var mkfifo = Process.Start("mkfifo", [fifo]))
        {
            await mkfifo.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            mkfifo.ExitCode.Should().Be(0);
        }
        var config = which == "config" ? "fifo.toml"
            : Path.GetFileName(home.WriteConfig(TestHome.App("w", "worker.js", "env_file = \"fifo.env\"")));

        var run = home.RunAsync("start", config);
        var finished = await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(10))) == run;

        finished.Should().BeTrue($"nk start {config} ({which} is a FIFO) should answer, not block in open() for ever");
        var r = await run;
        r.Err.Should().NotContain("   at ").And.NotContain("Unhandled exception");
        if (r.Code != 0)
        {
            r.Code.Should().Be(2, r.ToString());
            r.Err.Should().Contain("fifo", "the error names the file it could not use");
        }
    }

    // ---- helpers

    /// <summary>Runs a load on the thread pool and fails the test when it throws or does not answer within the deadline.</summary>
    private static ConfigResult LoadWithin(Func<ConfigResult> load, string what, TimeSpan? deadline = null)
    {
        var limit = deadline ?? PerLoad;
        var task = Task.Run(load);
        try
        {
            if (!task.Wait(limit)) Assert.Fail($"no answer within {limit.TotalSeconds} s (a hang?): {what}");
        }
        catch (AggregateException e)
        {
            Assert.Fail($"threw {e.InnerException}: {what}");
        }
        return task.Result;
    }

    /// <summary>Either a config and no errors, or no config and only one-line "path:line:col: message" errors inside the file.</summary>
    private static void AssertWellFormed(ConfigResult result, string display, byte[] bytes, string what)
    {
        if (result.Config is not null)
        {
            result.Errors.Should().BeEmpty(what);
            AssertSane(result.Config, what);
            return;
        }
        result.Errors.Should().NotBeEmpty(what);
        int lines = 1 + bytes.Count(b => b == (byte)'\n');
        // Plain checks, one assertion: a config may give 100,000 errors.
        var bad = result.Errors.Where(e =>
            !ErrorLine().IsMatch(e.ToString())
            || (e.File == display ? e.Line < 1 || e.Line > lines + 1 || e.Column < 1 : !e.File.EndsWith(".env", StringComparison.Ordinal))
            || e.Message.Contains("   at ", StringComparison.Ordinal) || e.Message.Contains("Exception", StringComparison.Ordinal)
            || e.Message.Length >= 1000).Take(5).Select(e => Shorten(e.ToString())).ToList();
        bad.Should().BeEmpty($"every error must be one short \"{display}:line:col: message\" line inside the file's {lines} lines: {what}");
    }

    [GeneratedRegex(@"^[^:\n]+:[1-9]\d*:[1-9]\d*: [^\x00-\x08\x0A-\x1F\x7F-\x9F]+\z")]
    private static partial Regex ErrorLine();

    private static readonly Regex NameRule = new(@"^[A-Za-z0-9._-]{1,64}\z");

    /// <summary>What any loaded config must satisfy, however odd its text (plain checks: 10,000 apps are checked).</summary>
    private static void AssertSane(NodeKeeperConfig config, string what)
    {
        var problems = new List<string>();
        void Check(bool ok, AppSpec app, string rule)
        {
            if (!ok) problems.Add($"app {Shorten(app.Name, 80)}: {rule}");
        }
        if (config.Apps.Count == 0) problems.Add("no apps");
        if (config.Apps.Select(a => a.Name).Distinct(StringComparer.Ordinal).Count() != config.Apps.Count) problems.Add("names not unique");
        foreach (var a in config.Apps)
        {
            Check(NameRule.IsMatch(a.Name) && a.Name.Trim('.').Length > 0 && a.Name[0] != '-' && a.Name != "all", a, "name");
            foreach (var p in new[] { a.Script, a.Cwd, a.Log.Out, a.Log.Err }.Concat(a.Watch))
                Check(Path.IsPathFullyQualified(p) && !p.Contains('\0') && Encoding.UTF8.GetByteCount(p) <= 4095, a, $"path {Shorten(p, 80)}");
            Check(a.Instances is >= 1 and <= 1024, a, $"instances {a.Instances}");
            Check(a.Port is null or (>= 1 and <= 65535), a, $"port {a.Port}");
            Check(a.PortMode != PortMode.Increment || a.Port is null || a.Port + a.Instances - 1 <= 65535, a, "increment ports past 65535");
            Check(a.ListenTimeout > TimeSpan.Zero && a.ListenTimeout <= MaxDuration, a, $"listen_timeout {a.ListenTimeout}");
            foreach (var d in new[] { a.MinUptime, a.RestartDelay, a.MaxRestartDelay, a.KillTimeout })
                Check(d >= TimeSpan.Zero && d <= MaxDuration, a, $"duration {d}");
            Check(a.RestartDelay <= a.MaxRestartDelay, a, "restart_delay above max_restart_delay");
            Check(a.MaxRestarts is >= 0 and <= 1_000_000, a, $"max_restarts {a.MaxRestarts}");
            Check(a.StopExitCodes.All(c => c is >= 0 and <= 255), a, "stop_exit_codes");
            Check(a.MaxMemory is null or > 0, a, $"max_memory {a.MaxMemory}");
            Check(a.MaxOpenFiles is null or (>= 1 and <= 1_048_576), a, $"max_open_files {a.MaxOpenFiles}");
            Check(a.MaxOldSpaceSizeMb is null or > 0, a, $"max_old_space_size {a.MaxOldSpaceSizeMb}");
            if (a.Health is { } h)
            {
                Check(Uri.TryCreate(h.Url, UriKind.Absolute, out _), a, $"health.url {h.Url}");
                Check(h.Interval > TimeSpan.Zero && h.Interval <= MaxDuration && h.Timeout > TimeSpan.Zero && h.Timeout <= MaxDuration, a, "health durations");
                Check(h.Failures is >= 1 and <= 1000, a, $"health.failures {h.Failures}");
                Check(h.MaxLag is null || (h.MaxLag > TimeSpan.Zero && h.MaxLag <= MaxDuration), a, "health.max_lag");
            }
            Check(a.Log.MaxSize > 0 && a.Log.Keep is >= 0 and <= 1000, a, "log rotation");
            foreach (var (k, v) in a.MergedEnv())
                Check(k.Length > 0 && !k.Contains('=') && !k.Contains('\0') && !v.Contains('\0') && Encoding.UTF8.GetByteCount(k + "=" + v) <= 131071, a, $"env {Shorten(k, 80)}");
            Check(a.Args.Concat(a.NodeArgs).All(x => !x.Contains('\0') && Encoding.UTF8.GetByteCount(x) <= 131071), a, "args");
            Check(Signals.Number(a.KillSignal) is not null, a, $"kill_signal {a.KillSignal}");
            if (problems.Count > 20) break;
        }
        problems.Should().BeEmpty($"a config that loads must be sane: {what}");
    }

    private static bool IsUtf8(byte[] bytes) => System.Text.Unicode.Utf8.IsValid(bytes);

    private static string Shorten(string s, int max = 300) =>
        (s.Length <= max ? s : s[..max] + $"… ({s.Length} chars)").Replace("\n", "\\n").Replace("\r", "\\r").Replace("\0", "\\0");

    // ---- the fuzzer

    private static readonly string[] Keys =
    [
        "name", "script", "cwd", "args", "node_args", "interpreter", "max_old_space_size", "env", "env_file", "instances", "port",
        "port_mode", "ready", "listen_timeout", "restart", "stop_exit_codes", "min_uptime", "max_restarts", "restart_delay",
        "max_restart_delay", "kill_signal", "kill_timeout", "max_memory", "max_open_files", "health", "watch", "ignore_watch",
        "user", "log", "host", "[daemon]", "[defaults]", "[[app]]", "[app]", "app", "health.url", "log.out", "env.A",
    ];

    private static readonly string[] Values =
    [
        "0", "-1", "1", "1024", "1025", "5000", "65535", "65536", "99999999999999999999", "9223372036854775807",
        "9223372036854775808", "-9223372036854775808", "0x7FFFFFFFFFFFFFFF", "1e999", "nan", "-inf", "3.5", "true",
        "\"\"", "\".\"", "\"..\"", "\"all\"", "\"-x\"", "\"a/b\"", "\"max\"", "\"MAX\"", "\"5s\"", "\"-5s\"", "\"0s\"", "\"24d\"",
        "\"25d\"", "\"99999999999h\"", "\"1.5.5s\"", "\"800M\"", "\"99999999T\"", "\"0M\"", "\"increment\"", "\"listen\"",
        "\"SIGKILL\"", "\"http://127.0.0.1:1/\"", "\"\\u0000\"", "\"api\\n\"", "[]", "[1, \"a\"]", "{}", "{ url = \"http://h/\" }",
        "{ A = [1] }", "1979-05-27T07:32:00Z", "1979-02-30", "2024-13-01T25:61:61Z", "07:32:00", "0x", "0b102", "1__0",
        "+nan", "-0.0", "1e-999", "'''x'''", "\"\"\"\n\"\"\"",
    ];

    private const string Noise = "\"'[]{}=.,#\n\r\t\\ 0123456789-_+xsMdhe:";

    private static byte[] Mutate(byte[] seed, Random random)
    {
        var bytes = new List<byte>(seed);
        for (int k = random.Next(1, 5); k > 0; k--)
        {
            switch (random.Next(11))
            {
                case 0 when bytes.Count > 0: // flip a bit
                    int at = random.Next(bytes.Count);
                    bytes[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 1 when bytes.Count > 0: // delete a run
                    int start = random.Next(bytes.Count);
                    bytes.RemoveRange(start, Math.Min(bytes.Count - start, random.Next(1, 12)));
                    break;
                case 2: // insert TOML punctuation
                    bytes.InsertRange(random.Next(bytes.Count + 1),
                        Encoding.UTF8.GetBytes(new string(Enumerable.Range(0, random.Next(1, 6)).Select(_ => Noise[random.Next(Noise.Length)]).ToArray())));
                    break;
                case 3: // insert raw bytes, valid UTF-8 or not
                    bytes.InsertRange(random.Next(bytes.Count + 1), Enumerable.Range(0, random.Next(1, 5)).Select(_ => (byte)random.Next(256)));
                    break;
                case 4: // insert random Unicode (any plane, control characters included)
                    int cp = random.Next(4) switch { 0 => random.Next(0x20), 1 => random.Next(0x80, 0x800), 2 => random.Next(0x800, 0xD800), _ => random.Next(0x10000, 0x110000) };
                    bytes.InsertRange(random.Next(bytes.Count + 1), Encoding.UTF8.GetBytes(char.ConvertFromUtf32(cp)));
                    break;
                case 5: // duplicate a line
                case 6: // swap two lines
                case 7: // delete a line
                    var lines = SplitLines(bytes);
                    if (lines.Count < 2) break;
                    int a = random.Next(lines.Count), b = random.Next(lines.Count);
                    var op = random.Next(3);
                    if (op == 0) lines.Insert(b, lines[a]);
                    else if (op == 1) (lines[a], lines[b]) = (lines[b], lines[a]);
                    else lines.RemoveAt(a);
                    bytes = lines.SelectMany(l => l).ToList();
                    break;
                case 8: // replace a value with an absurd one
                    var text = Encoding.UTF8.GetString(bytes.ToArray());
                    var eqs = Regex.Matches(text, @"= [^\n]*");
                    if (eqs.Count == 0) break;
                    var m = eqs[random.Next(eqs.Count)];
                    text = text[..m.Index] + "= " + Values[random.Next(Values.Length)] + text[(m.Index + m.Length)..];
                    bytes = Encoding.UTF8.GetBytes(text).ToList();
                    break;
                case 9: // insert a key (or header) with an absurd value
                    var line = Keys[random.Next(Keys.Length)];
                    if (!line.StartsWith('[')) line += " = " + Values[random.Next(Values.Length)];
                    var insertAt = random.Next(SplitLines(bytes).Count + 1);
                    var all = SplitLines(bytes);
                    all.Insert(Math.Min(insertAt, all.Count), Encoding.UTF8.GetBytes(line + "\n").ToList());
                    bytes = all.SelectMany(l => l).ToList();
                    break;
                case 10: // truncate
                    bytes = bytes.Take(random.Next(bytes.Count + 1)).ToList();
                    break;
            }
        }
        return bytes.ToArray();
    }

    private static List<List<byte>> SplitLines(List<byte> bytes)
    {
        var lines = new List<List<byte>>();
        var current = new List<byte>();
        foreach (var b in bytes)
        {
            current.Add(b);
            if (b == (byte)'\n') { lines.Add(current); current = []; }
        }
        if (current.Count > 0) lines.Add(current);
        return lines;
    }

    /// <summary>SPEC.md's example config (every key), with the env_file the context provides.</summary>
    private const string SpecExample = """
        [daemon]
        http = "127.0.0.1:9615"

        [defaults]
        kill_timeout = "5s"

        [[app]]
        name = "api"
        script = "server.js"
        cwd = "."
        args = ["--verbose"]
        node_args = ["--enable-source-maps"]
        interpreter = "node"
        max_old_space_size = "512M"
        env = { NODE_ENV = "production" }
        env_file = ".env"
        instances = 2
        port = 3000
        port_mode = "shared"
        ready = "listen"
        listen_timeout = "10s"
        restart = "always"
        stop_exit_codes = [0]
        min_uptime = "2s"
        max_restarts = 10
        restart_delay = "100ms"
        max_restart_delay = "15s"
        kill_signal = "SIGTERM"
        kill_timeout = "5s"
        max_memory = "800M"
        max_open_files = 65536
        health = { url = "http://127.0.0.1:3000/health", interval = "10s", timeout = "2s", failures = 3 }
        watch = ["src"]
        ignore_watch = ["*.log"]
        user = "www-data"
        log = { out = "logs/api.out.log", err = "logs/api.err.log", max_size = "10M", keep = 5, timestamps = true }
        """;

    /// <summary>The "expect:" of a corpus file's first line.</summary>
    private sealed record Expectation(bool Ok, int? Line, int? Column, string Text)
    {
        public static Expectation? Of(byte[] bytes)
        {
            var span = bytes.AsSpan();
            if (span.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) span = span[3..];
            int nl = span.IndexOf((byte)'\n');
            var first = Encoding.UTF8.GetString(nl < 0 ? span : span[..nl]).TrimEnd('\r');
            int at = first.IndexOf("expect: ", StringComparison.Ordinal);
            return first.StartsWith('#') && at >= 0 ? Parse(first[(at + 8)..]) : null;
        }

        public static Expectation? Parse(string s)
        {
            if (s.Trim() == "ok") return new Expectation(true, null, null, "");
            var m = Regex.Match(s, @"^error (\*|\d+):(\*|\d+) ?(.*)\z");
            if (!m.Success) return null;
            return new Expectation(false, m.Groups[1].Value == "*" ? null : int.Parse(m.Groups[1].Value),
                m.Groups[2].Value == "*" ? null : int.Parse(m.Groups[2].Value), m.Groups[3].Value.Trim());
        }

        public void Check(ConfigResult result, string what)
        {
            var all = string.Join("\n", result.Errors.Select(e => Shorten(e.ToString())));
            if (Ok)
            {
                result.Ok.Should().BeTrue($"{what} should load, but:\n{all}");
                return;
            }
            result.Ok.Should().BeFalse($"{what} should be refused");
            result.Errors.Should().Contain(e => (Line == null || e.Line == Line) && (Column == null || e.Column == Column) && e.Message.Contains(Text, StringComparison.Ordinal),
                $"{what} should give an error at {Line?.ToString() ?? "*"}:{Column?.ToString() ?? "*"} containing \"{Text}\", but gave:\n{all}");
        }
    }
}
