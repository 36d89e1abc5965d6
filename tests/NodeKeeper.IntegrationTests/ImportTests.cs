namespace NodeKeeper.IntegrationTests;

public sealed class ImportTests
{
    private static string Fixture(string file) => Path.Combine(Repo.Root, "tests", "NodeKeeper.IntegrationTests", "Fixtures", "import", file);

    /// <summary>The fixture ecosystem file with the examples folder and a free port filled in, written into the test's config folder.</summary>
    private static string WriteEcosystem(TestHome home, int port)
    {
        var text = File.ReadAllText(Fixture("ecosystem.config.js.template"))
            .Replace("__EXAMPLES__", Repo.Examples.Replace("\\", "\\\\").Replace("'", "\\'"), StringComparison.Ordinal)
            .Replace("__PORT__", port.ToString(), StringComparison.Ordinal);
        var path = Path.Combine(home.Configs, "ecosystem.config.js");
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>A fixture (file, or file.template with __MARK__ filled in) copied into the test's config folder.</summary>
    private static string Copy(TestHome home, string file, string mark)
    {
        var source = File.Exists(Fixture(file)) ? Fixture(file) : Fixture(file + ".template");
        var path = Path.Combine(home.Configs, file);
        File.WriteAllText(path, File.ReadAllText(source).Replace("__MARK__", mark, StringComparison.Ordinal));
        return path;
    }

    /// <summary>nk with Node 18 or 22 (tests/setup.sh installs them) first on PATH, or the machine's node for "20".</summary>
    private static string[] NkOn(string node)
    {
        if (node == "20") return [Repo.Nk];
        var bin = Path.Combine(Repo.Root, "tests", ".node", node, "bin");
        File.Exists(Path.Combine(bin, "node")).Should().BeTrue($"Node {node} comes from the npm registry: run tests/setup.sh");
        return ["env", $"PATH={bin}:{Environment.GetEnvironmentVariable("PATH")}", Repo.Nk];
    }

    /// <summary>Live processes carrying NK_IMPORT_MARK=mark: started by this test's ecosystem file, and by nothing else.</summary>
    private static List<int> Marked(string mark) =>
        Directory.EnumerateDirectories("/proc").Select(d => int.TryParse(Path.GetFileName(d), out var pid) ? pid : 0)
            .Where(pid => pid > 1 && Procs.IsAlive(pid) && Procs.Environ(pid).GetValueOrDefault("NK_IMPORT_MARK") == mark).ToList();

    /// <summary>Kills what the test's ecosystem file may have left, each pid checked for the mark just before.</summary>
    private static void EndMarked(string mark)
    {
        foreach (var pid in Marked(mark))
        {
            if (Procs.Environ(pid).GetValueOrDefault("NK_IMPORT_MARK") != mark) continue;
            try { System.Diagnostics.Process.GetProcessById(pid).Kill(); }
            catch (Exception ex) when (ex is ArgumentException or InvalidOperationException) { }
        }
    }

    [Fact]
    public async Task An_imported_ecosystem_file_starts_the_same_apps_with_the_same_instances()
    {
        await using var home = new TestHome();
        var port = FreePort.Next();
        var ecosystem = WriteEcosystem(home, port);

        var imported = await home.OkAsync("import", ecosystem, "--env", "production");
        imported.Out.Should().Contain($"port = {port}").And.Contain("port_mode = \"shared\"").And.Contain("NODE_ENV = \"production\"");
        var notes = imported.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        notes.Should().Contain("nk: import: app \"web\": vizion is not mapped: NodeKeeper keeps no version-control metadata");
        imported.Out.Should().Contain("cron_restart = \"0 3 * * *\"");
        notes.Should().AllSatisfy(n => n.Should().StartWith("nk: import: "));
        (await home.StatusAsync()).Should().BeEmpty("import only prints; it starts nothing");

        // Saved somewhere else than the ecosystem file: the paths in it are absolute.
        var elsewhere = Path.Combine(home.Configs, "saved");
        Directory.CreateDirectory(elsewhere);
        var config = Path.Combine(elsewhere, "nodekeeper.toml");
        await File.WriteAllTextAsync(config, imported.Out);
        await home.OkAsync("start", config);

        var rows = await Eventually.Until(home.StatusAsync,
            s => s.Count(i => i.Name == "web" && i.Status == "online") == 2 && s.Count(i => i.Name == "worker" && i.Status == "online") == 1,
            TimeSpan.FromSeconds(30), "web (2) and worker (1) online");
        rows.Select(r => r.Name).Distinct().Should().BeEquivalentTo(["web", "worker"]);
        rows.Where(r => r.Name == "web").Should().OnlyContain(r => r.Port == port);

        var body = await Eventually.Until(() => FreshHttp.Get(port), b => b is not null, TimeSpan.FromSeconds(15), $"an answer on port {port}");
        body.Should().StartWith("hello from pid");

        // out_file "./logs/worker.out.log" is relative to the ecosystem file's folder, as PM2 resolves it.
        var workerLog = Path.Combine(home.Configs, "logs", "worker.out.log");
        await Eventually.Until(() => File.Exists(workerLog) && File.ReadAllText(workerLog).Contains("job"), TimeSpan.FromSeconds(15), $"worker jobs in {workerLog}");
    }

    [Fact]
    public async Task An_ecosystem_file_that_throws_exits_1_with_one_line()
    {
        await using var home = new TestHome();

        var r = await home.RunAsync("import", Fixture("throws.config.js"));

        r.Code.Should().Be(1, r.ToString());
        r.Out.Should().BeEmpty();
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Should().ContainSingle(r.ToString());
        lines[0].Should().StartWith("nk: import: ").And.Contain("Error: DATABASE_URL is not set").And.Contain("throws.config.js:4");
    }

    /// <summary>
    /// Under Node's permission model (Node 20's --experimental-permission, Node 22's --permission) the file can
    /// neither start a process nor write a file: the import stops with one line saying what it tried, and nothing of
    /// it is left running nor written.
    /// </summary>
    [Theory]
    [InlineData("20")]
    [InlineData("22")]
    public async Task An_ecosystem_file_can_start_no_process_and_write_no_file(string node)
    {
        await using var home = new TestHome();
        var mark = Guid.NewGuid().ToString("N");
        try
        {
            var spawns = Copy(home, "spawns.config.js", mark);
            var r = await home.RunWithAsync(NkOn(node), "import", spawns);

            r.Code.Should().Be(1, r.ToString());
            r.Out.Should().BeEmpty();
            r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().ContainSingle(r.ToString()).Which.Should()
                .StartWith($"nk: import: {spawns}: node could not evaluate it: it tried to start a process, which nk import refuses")
                .And.EndWith("(at spawns.config.js:6:1)");
            Marked(mark).Should().BeEmpty("the process the file started must not exist");

            var writes = Copy(home, "writes.config.js", mark);
            r = await home.RunWithAsync(NkOn(node), "import", writes);

            r.Code.Should().Be(1, r.ToString());
            var written = Path.Combine(home.Configs, "written-by-import.txt");
            r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().ContainSingle(r.ToString()).Which.Should()
                .Contain($"it tried to write {written}, which nk import refuses").And.EndWith("(at writes.config.js:3:15)");
            File.Exists(written).Should().BeFalse();
        }
        finally { EndMarked(mark); }
    }

    /// <summary>Node 18 has no permission model: the file does start its process, and nk import ends it before it answers.</summary>
    [Fact]
    public async Task On_node_18_no_process_the_file_started_outlives_the_import()
    {
        await using var home = new TestHome();
        var mark = Guid.NewGuid().ToString("N");
        try
        {
            var r = await home.RunWithAsync(NkOn("18"), "import", Copy(home, "spawns.config.js", mark));

            r.Code.Should().Be(0, r.ToString());
            r.Out.Should().Contain("name = \"web\"");
            r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().ContainSingle(r.ToString())
                .Which.Should().StartWith("nk: import: this node has no permission model (Node 20 and later have one)");
            Marked(mark).Should().BeEmpty("nk import ends what the file started before it exits (checked at once, not polled)");
        }
        finally { EndMarked(mark); }
    }

    /// <summary>The file sees PATH, HOME, the locale and NODE_ENV, and none of the rest of the caller's environment.</summary>
    [Fact]
    public async Task The_callers_environment_reaches_the_file_only_through_a_few_plain_variables()
    {
        await using var home = new TestHome();
        var secret = "s3cr3t-" + Guid.NewGuid().ToString("N");

        var r = await home.RunWithAsync(["env", $"NK_IMPORT_TEST_SECRET={secret}", "NODE_ENV=staging", Repo.Nk], "import", Fixture("reads-env.config.js"));

        r.Code.Should().Be(0, r.ToString());
        r.ToString().Should().NotContain(secret);
        r.Out.Should().Contain("TOKEN = \"unset\"\n").And.Contain("MODE = \"staging\"  # from $NODE_ENV when imported\n");
        r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().ContainSingle(r.ToString()).Which.Should()
            .StartWith("nk: import: the file read NK_IMPORT_TEST_SECRET from the environment, which nk import does not pass to it");
    }

    /// <summary>Named imports of node:os in an ES module are watched too: the texts are marked, a memory figure is told.</summary>
    [Fact]
    public async Task Values_the_file_asked_the_machine_for_are_marked_or_told()
    {
        await using var home = new TestHome();
        var home_ = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

        var r = await home.RunAsync("import", Fixture("reads-machine.config.mjs"));

        r.Code.Should().Be(0, r.ToString());
        r.Out.Should().Contain($"INSTANCE_HOST = \"{System.Net.Dns.GetHostName()}\"  # from os.hostname() when imported\n")
            .And.MatchRegex($@"\n[^\n]*{System.Text.RegularExpressions.Regex.Escape(home_ + "/logs/web.out.log")}[^\n]*  # from os.homedir\(\) when imported\n");
        r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().ContainSingle(r.ToString()).Which.Should()
            .Be("nk: import: the file asked this machine for os.totalmem(): what it computed from them is this machine's, frozen in the TOML unmarked; check those values before using the TOML elsewhere");
    }

    [Fact]
    public async Task Check_says_what_would_not_start_here_and_starts_nothing()
    {
        await using var home = new TestHome();
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        var bad = Path.Combine(home.Configs, "bad.config.js");
        File.WriteAllText(bad, $$"""
            module.exports = { apps: [
              { name: 'api', script: 'missing.js', instances: 2, env: { PORT: {{port}} } },
              { name: 'py', script: '{{Repo.Example("python-worker.py")}}', interpreter: 'python9' },
              { name: 'ok', script: '{{Repo.Example("worker.js")}}' },
            ] };
            """);

        var r = await home.RunAsync("import", bad, "--check");

        r.Code.Should().Be(1, r.ToString());
        r.Out.Should().Contain("name = \"api\"", "the TOML is printed all the same");
        r.Err.Should().Contain($"nk: import --check: app \"api\": script {home.Configs}/missing.js does not exist: deploy it there, or fix script (or cwd)")
            .And.Contain($"nk: import --check: app \"api\": port {port} is taken by pid {Environment.ProcessId}")
            .And.Contain("nk: import --check: app \"py\": interpreter \"python9\" is not on PATH here")
            .And.NotContain("app \"ok\"");
        (await home.StatusAsync()).Should().BeEmpty("--check starts nothing");

        var good = Path.Combine(home.Configs, "good.config.js");
        File.WriteAllText(good, $$"""module.exports = { apps: [{ name: 'ok', script: '{{Repo.Example("worker.js")}}' }] };""");
        var fine = await home.RunAsync("import", good, "--check");
        fine.Code.Should().Be(0, fine.ToString());
        fine.Err.Should().Contain("nk: import --check: all 1 app(s) would start here");
    }

    [Fact]
    public async Task A_missing_ecosystem_file_is_a_usage_error()
    {
        await using var home = new TestHome();

        var r = await home.RunAsync("import", Path.Combine(home.Configs, "ecosystem.config.js"));

        r.Code.Should().Be(2, r.ToString());
        r.Out.Should().BeEmpty();
        r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().ContainSingle()
            .Which.Should().StartWith("nk: import: ").And.Contain("no such file");
    }
}
