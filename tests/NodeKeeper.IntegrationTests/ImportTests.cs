using NodeKeeper.IntegrationTests.Support;

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
        notes.Should().Contain(n => n.StartsWith("nk: import: app \"worker\": cron_restart is not mapped: ", StringComparison.Ordinal));
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
