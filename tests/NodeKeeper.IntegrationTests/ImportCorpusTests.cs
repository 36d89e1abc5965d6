namespace NodeKeeper.IntegrationTests;

/// <summary>
/// The import corpus (Fixtures/import/corpus, see its README): each ecosystem file gives exactly the TOML and the notes
/// it must, and every app of it then runs under NodeKeeper: online, its port answering, nothing left after delete.
/// </summary>
public sealed class ImportCorpusTests
{
    private static readonly string Corpus = Path.Combine(Repo.Root, "tests", "NodeKeeper.IntegrationTests", "Fixtures", "import", "corpus");

    public static TheoryData<string> Cases() => [.. Directory.GetDirectories(Corpus).Select(d => Path.GetFileName(d)!).Where(n => char.IsAsciiDigit(n[0])).Order()];

    /// <summary>A folder of links to the programs the corpus may find on PATH, and nothing else: the same output on every machine.</summary>
    private static string KnownPath(TestHome home)
    {
        var bin = Path.Combine(home.Configs, "bin");
        Directory.CreateDirectory(bin);
        foreach (var program in (string[])["node", "npm", "python3", "bash", "setsid"])
        {
            var found = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
                .Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);
            found.Should().NotBeNull($"{program} must be on PATH (tests/setup.sh installs python3)");
            File.CreateSymbolicLink(Path.Combine(bin, program), found!);
        }
        return bin;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Each_ecosystem_file_imports_as_expected_and_every_app_of_it_runs(string name)
    {
        await using var home = new TestHome();
        var dir = Path.Combine(home.Configs, name);
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(Path.Combine(Corpus, "apps"))) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        File.SetUnixFileMode(Path.Combine(dir, "job.sh"), (UnixFileMode)0b111_101_101);
        var port = FreePort.Next(2);
        var ecosystem = Directory.GetFiles(Path.Combine(Corpus, name)).Single(f => !Path.GetFileName(f).StartsWith("expected.", StringComparison.Ordinal));
        var file = Path.Combine(dir, Path.GetFileName(ecosystem));
        File.WriteAllText(file, File.ReadAllText(ecosystem).Replace("__PORT__", port.ToString(), StringComparison.Ordinal));
        string Fill(string expected) => expected.Replace("__DIR__", dir, StringComparison.Ordinal).Replace("__PORT__", port.ToString(), StringComparison.Ordinal);

        // NODE_ENV as a deployment sets it: a file that computes from it gives the same values everywhere.
        var import = await home.RunWithAsync(["env", $"PATH={KnownPath(home)}", "NODE_ENV=production", Repo.Nk], "import", file);

        import.Code.Should().Be(0, import.ToString());
        import.Out.Should().Be(Fill(File.ReadAllText(Path.Combine(Corpus, name, "expected.toml"))));
        import.Err.Should().Be(Fill(File.ReadAllText(Path.Combine(Corpus, name, "expected.notes"))));

        var config = home.WriteConfig(import.Out, $"{name}.toml");
        var start = await home.RunAsync("start", config);
        start.Code.Should().Be(0, start.ToString());
        var rows = await Eventually.Until(home.StatusAsync, s => s.Count > 0 && s.All(i => i.Status == "online"), TimeSpan.FromSeconds(30), "every app online");
        foreach (var p in rows.Select(r => r.Port).OfType<int>().Distinct())
            (await Eventually.Until(() => FreshHttp.Get(p), b => b is not null, TimeSpan.FromSeconds(15), $"an answer on port {p}"))!.Should().StartWith("hello from");
        if (import.Out.Contains($"PORT = \"{port}\"", StringComparison.Ordinal))
            (await Eventually.Until(() => FreshHttp.Get(port), b => b is not null, TimeSpan.FromSeconds(30), $"an answer on port {port} (PORT from env)"))!.Should().StartWith("hello from");

        var daemon = home.DaemonPid();
        (await home.RunAsync("delete", "all")).Code.Should().Be(0);
        await Eventually.Until(() => Task.FromResult(Procs.OwnedBy(home.Home).Where(p => p != daemon).ToList()), left => left.Count == 0,
            TimeSpan.FromSeconds(15), "no process of the apps left after delete");
    }
}
