using System.Diagnostics;

namespace NodeKeeper.IntegrationTests;

public sealed class BenchSmokeTests
{
    [Fact]
    public async Task Bench_runs_a_tiny_scenario_for_NodeKeeper_alone_and_writes_its_table()
    {
        var outDir = Path.Combine("/tmp", "nk-it", "bench-" + Guid.NewGuid().ToString("N")[..8]);
        var psi = new ProcessStartInfo("node", [Path.Combine(Repo.Root, "bench", "bench.js"), "--smoke", "--only", "nodekeeper",
            "--scenarios", "cli_latency,restart_latency,other_programs,http_counting,bad_deploy", "--out", outDir])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.Environment["NK_BIN"] = Repo.Nk;
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await p.WaitForExitAsync(cts.Token);
        p.ExitCode.Should().Be(0, await stderr);
        var table = File.ReadAllText(Path.Combine(outDir, "smoke.md"));
        table.Should().Contain("| cli_latency |").And.Contain("| daemon_footprint |").And.Contain("| restart_latency |")
            .And.Contain("| other_programs |").And.Contain("| http_counting |").And.Contain("| bad_deploy |");
        Directory.Delete(outDir, true);
        await stdout;
    }
}
